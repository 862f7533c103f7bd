/**
 * The metrics that judge attribution maps, one family per package as Quantus splits them:
 * {@code faithfulness} (deletion/insertion, MoRF/LeRF, ROAD, Average Drop / Increase in
 * Confidence / Win), {@code localisation} (pointing game, energy pointing game),
 * {@code robustness} (infidelity, sensitivity-max), {@code complexity} (sparseness, complexity)
 * and {@code randomisation} (cascading model-parameter randomisation). {@link dev.salient.metrics.Scorer}
 * evaluates the perturbed inputs of every metric in batches under the memory budget on the
 * backend; {@link dev.salient.metrics.Metrics} lists the metrics by name.
 */
package dev.salient.metrics;
