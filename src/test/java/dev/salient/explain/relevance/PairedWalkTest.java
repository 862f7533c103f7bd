package dev.salient.explain.relevance;

import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.Attribution;
import dev.salient.explain.Baseline;
import dev.salient.explain.Target;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.model.Model;
import dev.salient.model.OnnxBuilder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * DeepLIFT's backward walks the input half of its paired rows only (the references' half of
 * every gradient equals the inputs' until an own-gradient fallback tells them apart): the
 * attributions are those of the walk over all rows, bit for bit, on architectures with
 * residual Adds, Clip, concatenation and max pooling; and where the halves do diverge
 * (a Relu input and its reference on either side of 0 within Captum's 1e-10, before a max
 * pooling that mixes the halves), the walk starts over on all rows and gives its result.
 */
class PairedWalkTest {
    static final Backend CPU = Engine.cpu();
    static final Path ARCH = Path.of("src/test/resources/fixtures/arch");

    private static <T> T wholeRows(Supplier<T> run) {
        RescaleRules.halves = false;
        try {
            return run.get();
        } finally {
            RescaleRules.halves = true;
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"resnet_bottleneck_folded", "mobilenetv2_folded", "densenet_bn", "vgg_bn", "squeezenet_bn"})
    void inputHalfWalkGivesTheWholeWalksBits(String arch) {
        try (Model m = Model.load(ARCH.resolve(arch + "/model.onnx"))) {
            NdArray x = Npy.read(ARCH.resolve(arch + "/input.npy"));
            Random r = new Random(9);
            float[] base = new float[x.data().length];
            for (int i = 0; i < base.length; i++) base[i] = (float) r.nextGaussian();
            for (Baseline b : new Baseline[] {Baseline.zeros(), Baseline.of(base, x.shape())}) {
                DeepLift dl = new DeepLift(m, b);
                DeepLiftShap shap = new DeepLiftShap(m, dev.salient.explain.Baselines.parse("uniform:3:0", 4));
                try (Tensor xt = x.upload(CPU)) {
                    Attribution half = dl.explain(CPU, xt, Target.top1());
                    Attribution whole = wholeRows(() -> dl.explain(CPU, xt, Target.top1()));
                    assertArrayEquals(whole.values(), half.values(), arch);
                    assertArrayEquals(whole.deltas(), half.deltas(), arch);
                    Attribution halfShap = shap.explain(CPU, xt, Target.topK(2));
                    Attribution wholeShap = wholeRows(() -> shap.explain(CPU, xt, Target.topK(2)));
                    assertArrayEquals(wholeShap.values(), halfShap.values(), arch + " deepliftshap");
                }
            }
        }
    }

    /**
     * References the same for every image (a constant baseline, DeepLiftShap's distribution) run
     * their forward once per chunk, and the tape keeps them once ({@code Tape.recordShared}): the
     * attributions and summation gaps are those of the forward over every row, bit for bit, and
     * the forward passes counted drop to the distinct rows.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"resnet_bottleneck_folded", "mobilenetv2_folded", "densenet_bn", "vgg_bn", "squeezenet_bn"})
    void sharedReferencesRunOnceWithTheSameBits(String arch) {
        try (Model m = Model.load(ARCH.resolve(arch + "/model.onnx"))) {
            NdArray x0 = Npy.read(ARCH.resolve(arch + "/input.npy"));
            long[] shape = x0.shape();
            shape[0] = 3;
            float[] xs = new float[Math.toIntExact(dev.salient.engine.Shapes.numel(shape))];
            for (int i = 0; i < xs.length; i++) xs[i] = x0.data()[i % x0.data().length] * (1 + i % 7 * 0.1f);
            DeepLift dl = new DeepLift(m, Baseline.constant(0.25f));
            DeepLiftShap shap = new DeepLiftShap(m, dev.salient.explain.Baselines.parse("uniform:2:0", 4));
            try (Tensor xt = CPU.upload(xs, shape)) {
                dev.salient.explain.core.Cost.reset();
                Attribution once = dl.explain(CPU, xt, Target.top1());
                long shared = dev.salient.explain.core.Cost.counts().forwards();
                Attribution shapOnce = shap.explain(CPU, xt, Target.topK(2));
                Attribution wholeOnce = wholeRows(() -> dl.explain(CPU, xt, Target.top1()));
                ReferencePairs.shareRows = false;
                try {
                    dev.salient.explain.core.Cost.reset();
                    Attribution every = dl.explain(CPU, xt, Target.top1());
                    long all = dev.salient.explain.core.Cost.counts().forwards();
                    assertArrayEquals(every.values(), once.values(), arch);
                    assertArrayEquals(every.deltas(), once.deltas(), arch);
                    assertArrayEquals(every.values(), wholeOnce.values(), arch + ": compact tape, all-rows walk");
                    assertTrue(shared < all, "forward rows " + shared + " against " + all);
                    assertArrayEquals(shap.explain(CPU, xt, Target.topK(2)).values(), shapOnce.values(), arch + " deepliftshap");
                } finally {
                    ReferencePairs.shareRows = true;
                }
            }
        }
    }

    /**
     * x (1,1,2,2) -> MaxPool 2x2 -> Relu -> Flatten -> Gemm. The pooled input -5e-11 and its
     * reference 2e-11 straddle 0 within 1e-10, so the Relu takes each row's own gradient: 0 for
     * the input, 1 for the reference. The max-pool rule then adds the reference row's share at
     * the reference's maximum, which lies where the input is -1: a first-half walk that assumed
     * equal halves would give 0 there.
     */
    @Test
    void divergingHalvesFallBackToTheWholeWalk() throws Exception {
        OnnxBuilder g = new OnnxBuilder().input("x", -1, 1, 2, 2).output("y", -1, 2)
                .init("W", new float[] {1f, 0.5f}, 2, 1).init("B", new float[] {0f, 0f}, 2)
                .node("MaxPool", "pool", in("x"), in("p"), attrs("kernel_shape", 2, 2), attrs("strides", 2, 2))
                .node("Relu", "relu", in("p"), in("r"))
                .node("Flatten", "flat", in("r"), in("f"))
                .node("Gemm", "fc", in("f", "W", "B"), in("y"), OnnxBuilder.attr("transB", 1L));
        Path dir = java.nio.file.Files.createTempDirectory("paired");
        try (Model m = Model.load(g.write(dir, "m.onnx")); Tensor xt = CPU.upload(new float[] {-5e-11f, -1f, -1f, -1f}, 1, 1, 2, 2)) {
            DeepLift dl = new DeepLift(m, Baseline.of(new float[] {-3f, 2e-11f, -3f, -3f}, new long[] {1, 1, 2, 2}));
            Target t = Target.perImage(new int[] {0});
            Attribution half = dl.explain(CPU, xt, t);
            Attribution whole = wholeRows(() -> dl.explain(CPU, xt, t));
            System.out.println("diverging halves: " + Arrays.toString(half.values()));
            assertArrayEquals(whole.values(), half.values());
            assertNotEquals(0f, half.values()[1], "the reference row's share reaches the input's element 1");
        }
        // the same with two images against one shared (1,C,H,W) baseline: a compact tape that diverges
        try (Model m = Model.load(dir.resolve("m.onnx"));
                Tensor xt = CPU.upload(new float[] {-5e-11f, -1f, -1f, -1f, -5e-11f, -1f, -1f, -2f}, 2, 1, 2, 2)) {
            DeepLift dl = new DeepLift(m, Baseline.of(new float[] {-3f, 2e-11f, -3f, -3f}, 1, 1, 2, 2));
            Target t = Target.perImage(new int[] {0, 0});
            Attribution half = dl.explain(CPU, xt, t);
            ReferencePairs.shareRows = false;
            Attribution every;
            try {
                every = wholeRows(() -> dl.explain(CPU, xt, t));
            } finally {
                ReferencePairs.shareRows = true;
            }
            assertArrayEquals(every.values(), half.values());
            assertNotEquals(0f, half.values()[1]);
            assertNotEquals(0f, half.values()[5]);
        }
    }
}
