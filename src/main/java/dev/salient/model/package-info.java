/**
 * The model: an ONNX graph loaded into salient's IR, rewritten at load, and run
 * by a planned executor.
 *
 * <ul>
 * <li>{@link dev.salient.model.Model} is the entry point: {@code load}, {@code inputs/outputs},
 * {@code forward} (one input, first output) and {@code run} (any inputs, any fetched tensors).
 * <li>{@link dev.salient.model.Graph} is the rewritten IR: nodes in topological order, constants,
 * and aliases for the pass-through tensors that were removed.
 * <li>Load-time rewriting ({@code GraphRewriter}): constants and shape arithmetic folded, Identity,
 * inference Dropout and zero Pad removed, zero spatial Pad merged into Conv/AveragePool, BatchNorm folded into
 * the preceding Conv (or kept as a per-channel affine), dead nodes dropped.
 * <li>{@link dev.salient.model.Plan}: per input shape and fetched set, the backend steps with their
 * ops and shapes, the host-folded shape subgraph values, and a liveness buffer plan (best fit, elementwise
 * ops in place). Plans are cached by the model and keep their buffer sets between calls.
 * </ul>
 */
package dev.salient.model;
