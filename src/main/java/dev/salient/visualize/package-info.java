/**
 * Feature visualisation: images that maximise a channel, a neuron, a layer or a class logit
 * (regularised activation maximisation with Lucid/Lucent's semantics), optimised many
 * objectives at a time as one batch, and the dataset exemplars shown beside them.
 *
 * <p>The pipeline of one step, each stage with its backward on the engine:
 * {@link ImageParam} (Fourier spectrum or pixels) → {@link ValidRgb} (colour decorrelation,
 * sigmoid) → {@link Transforms} (pad, jitter, scale, rotate, jitter) → the model's
 * normalisation → the model up to the layer ({@code Tape}) → an {@link Objective}'s seed →
 * the data-only backward → {@link Adam}.
 */
package dev.salient.visualize;
