/**
 * Perturbation methods (occlusion, feature ablation, LIME, Kernel SHAP, Shapley
 * sampling, RISE): each expands an image into perturbed copies through the
 * {@link dev.salient.explain.core.Driver} and reduces their scores; one file per
 * method, as Captum's {@code attr/_core}.
 */
package dev.salient.explain.perturbation;
