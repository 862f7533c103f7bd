package dev.salient.explain;

import dev.salient.engine.SalientException;
import dev.salient.explain.cam.CfCam;
import dev.salient.explain.cam.ClassActivationMap;
import dev.salient.explain.cam.EigenCam;
import dev.salient.explain.cam.EigenGradCam;
import dev.salient.explain.cam.FullGrad;
import dev.salient.explain.cam.GradCam;
import dev.salient.explain.cam.GradCamElementWise;
import dev.salient.explain.cam.SpatialAttention;
import dev.salient.explain.gradient.Deconvnet;
import dev.salient.explain.layer.LayerActivation;
import dev.salient.explain.layer.LayerConductance;
import dev.salient.explain.layer.LayerGradientXActivation;
import dev.salient.explain.cam.GradCamPlusPlus;
import dev.salient.explain.cam.GuidedGradCam;
import dev.salient.explain.cam.HiResCam;
import dev.salient.explain.cam.LayerCam;
import dev.salient.explain.cam.ScoreCam;
import dev.salient.explain.cam.XGradCam;
import dev.salient.explain.gradient.GradientShap;
import dev.salient.explain.gradient.GuidedBackprop;
import dev.salient.explain.gradient.InputXGradient;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.explain.gradient.NoiseTunnel;
import dev.salient.explain.gradient.Saliency;
import dev.salient.explain.perturbation.FeatureAblation;
import dev.salient.explain.perturbation.KernelShap;
import dev.salient.explain.perturbation.Lime;
import dev.salient.explain.perturbation.Shapley;
import dev.salient.explain.perturbation.Occlusion;
import dev.salient.explain.perturbation.Rise;
import dev.salient.explain.relevance.DeepLift;
import dev.salient.explain.relevance.DeepLiftShap;
import dev.salient.explain.relevance.Lrp;
import java.util.List;

/**
 * Every method, one line each, in the order the CLI help and the README list
 * them. The CLI, the report, the writers and the tests read these specs; a new
 * method is its own file plus one line here.
 */
public final class Methods {
    private Methods() {}

    public static final List<MethodSpec> ALL = List.of(
            Saliency.SPEC,
            InputXGradient.SPEC,
            IntegratedGradients.SPEC,
            NoiseTunnel.SMOOTHGRAD,
            NoiseTunnel.VARGRAD,
            GuidedBackprop.SPEC,
            GuidedGradCam.SPEC,
            GradCam.SPEC,
            GradCamPlusPlus.SPEC,
            XGradCam.SPEC,
            LayerCam.SPEC,
            HiResCam.SPEC,
            Deconvnet.SPEC,
            ClassActivationMap.SPEC,
            GradCamElementWise.SPEC,
            EigenCam.SPEC,
            EigenGradCam.SPEC,
            FullGrad.SPEC,
            CfCam.SPEC,
            SpatialAttention.SPEC,
            LayerActivation.SPEC,
            LayerGradientXActivation.SPEC,
            LayerConductance.SPEC,
            Lrp.SPEC,
            DeepLift.SPEC,
            DeepLiftShap.SPEC,
            GradientShap.SPEC,
            ScoreCam.SPEC,
            Occlusion.SPEC,
            FeatureAblation.SPEC,
            Lime.SPEC,
            KernelShap.SPEC,
            Shapley.SPEC,
            Rise.SPEC);

    /** The method's names, in {@link #ALL}'s order. */
    public static List<String> names() {
        return ALL.stream().map(MethodSpec::name).toList();
    }

    /** The spec of a method by name; an unknown name is one clear line listing the known ones. */
    public static MethodSpec get(String name) {
        for (MethodSpec s : ALL) if (s.name().equals(name)) return s;
        throw new SalientException("unknown method '" + name + "' (use one of: " + String.join(", ", names()) + ")");
    }

    /**
     * The README's method table, from the specs: name, family, output and
     * definition, one row per method (README.md holds it between the markers
     * {@code <!-- methods:begin -->} and {@code <!-- methods:end -->}; a test checks it).
     */
    public static String markdownTable() {
        StringBuilder b = new StringBuilder("| name | family | output | options | definition |\n|---|---|---|---|---|\n");
        for (MethodSpec s : ALL) {
            String opts = s.options().stream().map(o -> "`" + o.cli() + "`").reduce((x, y) -> x + " " + y).orElse("");
            b.append("| `").append(s.name()).append("` | ").append(s.family().id()).append(" | ")
                    .append(s.layout().describe()).append(" | ").append(opts).append(" | ").append(s.definition())
                    .append(" |\n");
        }
        return b.toString();
    }
}
