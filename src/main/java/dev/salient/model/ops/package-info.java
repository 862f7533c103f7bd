/**
 * One class per ONNX op type or family ({@code ConvOp},
 * {@code PoolOp}, {@code BinaryOps}, ...), each holding its shape
 * inference, its forward on a {@link dev.salient.engine.Backend}, its data-only VJP and, for shape-like data,
 * its host folding. {@link dev.salient.model.ops.OpRegistry} maps op types to classes and is the single list of
 * what salient supports.
 */
package dev.salient.model.ops;
