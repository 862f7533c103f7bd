/**
 * Relevance methods (LRP, DeepLIFT, DeepLIFT-SHAP): modified backward rules
 * chosen per node ({@link dev.salient.explain.core.BackwardRules#ruleFor}), kept
 * apart as rules, composites and canonical form; one file per method.
 */
package dev.salient.explain.relevance;
