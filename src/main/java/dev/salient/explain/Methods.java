package dev.salient.explain;

import dev.salient.engine.Backend;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.model.Model;
import java.util.List;

/**
 * Every method by its lower-case name, as the CLI and the report use them, with
 * the options that apply to each.
 *
 * <table>
 *   <tr><th>name</th><th>output</th><th>options</th></tr>
 *   <tr><td>saliency, inputxgradient, guidedbackprop</td><td>(N,C,H,W)</td><td></td></tr>
 *   <tr><td>ig</td><td>(N,C,H,W)</td><td>steps, integration rule, baseline</td></tr>
 *   <tr><td>smoothgrad, vargrad</td><td>(N,C,H,W)</td><td>samples, noise std, seed</td></tr>
 *   <tr><td>guidedgradcam</td><td>(N,C,H,W)</td><td>layer</td></tr>
 *   <tr><td>gradcam, gradcam++, xgradcam, layercam, hirescam, gradcamelementwise, eigengradcam</td>
 *       <td>(N,H,W) in [0,1]</td><td>layer, counterfactual</td></tr>
 *   <tr><td>cam, eigencam</td><td>(N,H,W) in [0,1]</td><td>layer</td></tr>
 *   <tr><td>attention</td><td>(N,H,W) in [0,1]</td><td>layer, power</td></tr>
 *   <tr><td>fullgrad</td><td>(N,H,W) in [0,1]</td><td></td></tr>
 *   <tr><td>cfcam</td><td>(N,H,W) in [0,1], divided by the max</td><td>layer, counterfactual, the five CF-CAM numbers, noise</td></tr>
 *   <tr><td>deconvnet</td><td>(N,C,H,W)</td><td></td></tr>
 *   <tr><td>activation</td><td>(N, layer shape)</td><td>layer</td></tr>
 * </table>
 */
public final class Methods {
    private Methods() {}

    public static final List<String> NAMES = List.of("saliency", "inputxgradient", "ig", "smoothgrad", "vargrad",
            "guidedbackprop", "guidedgradcam", "gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "deconvnet", "cam",
            "gradcamelementwise", "eigencam", "eigengradcam", "fullgrad", "cfcam", "attention", "activation");

    /** The CAM methods whose weights come from gradients: they take --counterfactual. */
    public static final List<String> GRADIENT_CAMS = List.of("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam",
            "gradcamelementwise", "eigengradcam", "cfcam");

    /** All options of all methods; each method reads the ones it uses. */
    public record Options(String layer, int steps, IntegrationRule rule, Baseline baseline, int samples, Float noiseStd,
            long seed, long memoryBudget, boolean counterfactual, int power, CfCam.Options cf) {
        public Options(String layer, int steps, IntegrationRule rule, Baseline baseline, int samples, Float noiseStd, long seed,
                long memoryBudget) {
            this(layer, steps, rule, baseline, samples, noiseStd, seed, memoryBudget, false, SpatialAttention.DEFAULT_POWER,
                    CfCam.Options.defaults());
        }

        public static Options defaults() {
            return new Options("auto", 50, IntegrationRule.GAUSS_LEGENDRE, Baseline.zeros(), 25, null, 0L,
                    Explainer.DEFAULT_MEMORY_BUDGET);
        }

        public Options withCounterfactual(boolean on) {
            return new Options(layer, steps, rule, baseline, samples, noiseStd, seed, memoryBudget, on, power, cf);
        }

        public Options withPower(int p) {
            return new Options(layer, steps, rule, baseline, samples, noiseStd, seed, memoryBudget, counterfactual, p, cf);
        }

        public Options withCf(CfCam.Options o) {
            return new Options(layer, steps, rule, baseline, samples, noiseStd, seed, memoryBudget, counterfactual, power, o);
        }
    }

    public static boolean isCam(String name) {
        return switch (name) {
            case "gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "cam", "gradcamelementwise", "eigencam",
                    "eigengradcam", "fullgrad", "cfcam", "attention" -> true;
            default -> false;
        };
    }

    /** Throws a one-line error for an unknown name or options the method cannot use. */
    public static void validate(String name, Options o) {
        if (!NAMES.contains(name))
            throw new SalientException("unknown method '" + name + "' (use one of: " + String.join(", ", NAMES) + ")");
        if (name.equals("ig")) {
            o.rule().alphas(o.steps());
        }
        if ((name.equals("smoothgrad") || name.equals("vargrad")) && o.samples() < 1)
            throw new SalientException(name + " needs --samples >= 1, got " + o.samples());
        if (o.counterfactual() && !GRADIENT_CAMS.contains(name))
            throw new SalientException("--counterfactual negates the gradients of a gradient-weighted CAM (" + String.join(", ",
                    GRADIENT_CAMS) + "); " + name + " is not one");
        if (name.equals("attention") && o.power() < 1)
            throw new SalientException("attention needs --power >= 1 (an integer), got " + o.power());
        if (name.equals("vargrad") && o.samples() < 2)
            throw new SalientException("vargrad needs --samples >= 2 for a variance, got " + o.samples());
    }

    public static Explainer create(String name, Model model, Options o) {
        validate(name, o);
        Explainer e = switch (name) {
            case "saliency" -> new Saliency(model);
            case "inputxgradient" -> new InputXGradient(model);
            case "ig" -> new IntegratedGradients(model);
            case "smoothgrad" -> NoiseTunnel.smoothGrad(model);
            case "vargrad" -> NoiseTunnel.varGrad(model);
            case "guidedbackprop" -> new GuidedBackprop(model);
            case "guidedgradcam" -> new GuidedGradCam(model, o.layer());
            case "gradcam" -> new GradCam(model, o.layer());
            case "gradcam++" -> new GradCamPlusPlus(model, o.layer());
            case "xgradcam" -> new XGradCam(model, o.layer());
            case "layercam" -> new LayerCam(model, o.layer());
            case "hirescam" -> new HiResCam(model, o.layer());
            case "deconvnet" -> new Deconvnet(model);
            case "cam" -> new ClassActivationMap(model, o.layer());
            case "gradcamelementwise" -> new GradCamElementWise(model, o.layer());
            case "eigencam" -> new EigenCam(model, o.layer());
            case "eigengradcam" -> new EigenGradCam(model, o.layer());
            case "fullgrad" -> new FullGrad(model);
            case "cfcam" -> new CfCam(model, o.layer(), o.cf());
            case "attention" -> new SpatialAttention(model, o.layer(), o.power());
            case "activation" -> new LayerActivation(model, o.layer());
            default -> throw new IllegalStateException(name);
        };
        if (e instanceof BaseCam cam && o.counterfactual()) cam.counterfactual(true);
        return e.memoryBudget(o.memoryBudget());
    }

    /** Runs a method with its options. */
    public static Attribution explain(Explainer e, Backend b, Tensor batch, Target target, Options o) {
        if (e instanceof IntegratedGradients ig)
            return ig.explain(b, batch, target, new IntegratedGradients.Options(o.steps(), o.rule(), o.baseline()));
        if (e instanceof NoiseTunnel nt) {
            NoiseTunnel.Options no = NoiseTunnel.Options.samples(o.samples()).withSeed(o.seed());
            if (o.noiseStd() != null) no = no.withStdev(o.noiseStd());
            return nt.explain(b, batch, target, no);
        }
        return e.explain(b, batch, target);
    }
}
