package dev.salient.engine.cuda;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.salient.engine.Activation;
import dev.salient.engine.Backend;
import dev.salient.engine.BinaryOp;
import dev.salient.engine.CamCombine;
import dev.salient.engine.CamWeighting;
import dev.salient.engine.Conv2dGeometry;
import dev.salient.engine.Engine;
import dev.salient.engine.Pool2dGeometry;
import dev.salient.engine.Reduction;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every CUDA op against its CPU twin on random FP32 inputs:
 * |got - ref| <= 1e-5 + 1e-4 |ref|. Skips (with the reason) where no CUDA device answers.
 */
class CudaParityTest {
    static final double ATOL = 1e-5, RTOL = 1e-4;
    static CudaBackend gpu;
    static Backend cpu;
    final Random rnd = new Random(42);
    final List<Tensor> owned = new ArrayList<>();

    @BeforeAll
    static void open() {
        if (CudaBackend.isAvailable()) {
            gpu = CudaBackend.create();
            cpu = Engine.cpu();
        }
    }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
    }

    @BeforeEach
    void needsGpu() {
        assumeTrue(CudaBackend.isAvailable(), "no CUDA device: " + CudaBackend.unavailableReason());
    }

    @org.junit.jupiter.api.AfterEach
    void freeTensors() {
        owned.forEach(Tensor::close);
        owned.clear();
    }

    // ---- helpers

    float[] random(long n) {
        float[] a = new float[(int) n];
        for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }

    /** Small integers: many exact ties (max-pool's first-max rule). */
    float[] ties(long n) {
        float[] a = new float[(int) n];
        for (int i = 0; i < a.length; i++) a[i] = rnd.nextInt(3);
        return a;
    }

    /** The same data on both backends: [cpu, gpu]. */
    Tensor[] pair(float[] data, long... shape) {
        Tensor c = cpu.upload(data, shape), g = gpu.upload(data, shape);
        owned.add(c);
        owned.add(g);
        return new Tensor[] {c, g};
    }

    Tensor[] pairRandom(long... shape) {
        return pair(random(Shapes.numel(shape)), shape);
    }

    /**
     * Weights with He scaling N(0, 2/fanIn), as trained CNNs have: outputs stay O(1), so the
     * FP32 rounding of a long dot product (~eps*sqrt(fanIn)) sits well inside the tolerance
     * even where the reference is near zero.
     */
    Tensor[] pairWeights(long fanIn, long... shape) {
        float[] a = random(Shapes.numel(shape));
        float s = (float) Math.sqrt(2.0 / fanIn);
        for (int i = 0; i < a.length; i++) a[i] *= s;
        return pair(a, shape);
    }

    static long fanIn(Conv2dGeometry g) {
        return (long) g.c() / g.groups() * g.r() * g.s();
    }

    /** Output buffers on both, filled with NaN on the device so unwritten elements show. */
    Tensor[] out(long... shape) {
        Tensor c = cpu.allocate(shape), g = gpu.allocate(shape);
        gpu.fill(g, Float.NaN);
        owned.add(c);
        owned.add(g);
        return new Tensor[] {c, g};
    }

    static void assertClose(String what, Tensor[] p) {
        assertClose(what, p[0].toArray(), p[1].toArray());
    }

    static void assertClose(String what, float[] ref, float[] got) {
        assertEquals(ref.length, got.length, what + ": length");
        StringBuilder sb = new StringBuilder();
        int bad = 0;
        for (int i = 0; i < ref.length; i++) {
            double r = ref[i], g = got[i];
            boolean ok = (Double.isNaN(r) && Double.isNaN(g)) || Math.abs(g - r) <= ATOL + RTOL * Math.abs(r);
            if (!ok && bad++ < 5) sb.append(String.format("%n  [%d] ref=%.8g got=%.8g", i, r, g));
        }
        if (bad > 0) fail(what + ": " + bad + " of " + ref.length + " mismatches" + sb);
    }

    // ---- convolution

    static Stream<Arguments> convs() {
        return Stream.of(
                // n c h w k r s sh sw pt pl pb pr dh dw groups
                Arguments.of(new Conv2dGeometry(2, 3, 11, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(2, 16, 14, 14, 32, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(1, 8, 17, 15, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(2, 6, 12, 12, 10, 3, 5, 2, 1, 0, 2, 1, 1, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(1, 4, 16, 16, 6, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1)),
                Arguments.of(new Conv2dGeometry(2, 8, 9, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2)),
                Arguments.of(new Conv2dGeometry(2, 8, 10, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8)),
                Arguments.of(new Conv2dGeometry(1, 4, 11, 11, 8, 5, 5, 2, 2, 2, 1, 2, 3, 1, 1, 4)),
                Arguments.of(new Conv2dGeometry(1, 1, 28, 28, 16, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(1, 3, 32, 32, 16, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1)),
                // large enough for the 128x128 tile (k >= 128, n*oh*ow >= 8192)
                Arguments.of(new Conv2dGeometry(2, 16, 64, 64, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(2, 130, 64, 64, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1)),
                // backward-data on the 128x128 tile (c/groups >= 128, n*h*w >= 8192), with stride
                Arguments.of(new Conv2dGeometry(2, 128, 64, 64, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
                Arguments.of(new Conv2dGeometry(2, 256, 64, 64, 32, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 2)));
    }

    @ParameterizedTest
    @MethodSource("convs")
    void conv2dForward(Conv2dGeometry g) {
        Tensor[] x = pairRandom(g.inputShape()), w = pairWeights(fanIn(g), g.weightShape()), b = pairRandom(g.k());
        Tensor[] y = out(g.outputShape()), y2 = out(g.outputShape());
        cpu.conv2dForward(x[0], w[0], b[0], y[0], g);
        gpu.conv2dForward(x[1], w[1], b[1], y[1], g);
        assertClose("conv2d forward " + g, y);
        cpu.conv2dForward(x[0], w[0], null, y2[0], g);
        gpu.conv2dForward(x[1], w[1], null, y2[1], g);
        assertClose("conv2d forward without bias " + g, y2);
    }

    @ParameterizedTest
    @MethodSource("convs")
    void conv2dForwardActivation(Conv2dGeometry g) {
        Tensor[] x = pairRandom(g.inputShape()), w = pairWeights(fanIn(g), g.weightShape()), b = pairRandom(g.k());
        Tensor[] y = out(g.outputShape()), y2 = out(g.outputShape());
        cpu.conv2dForwardActivation(x[0], w[0], b[0], y[0], g, Activation.RELU, 0f, 0f);
        gpu.conv2dForwardActivation(x[1], w[1], b[1], y[1], g, Activation.RELU, 0f, 0f);
        assertClose("conv2d forward + relu " + g, y);
        cpu.conv2dForwardActivation(x[0], w[0], null, y2[0], g, Activation.CLIP, -0.1f, 0.2f);
        gpu.conv2dForwardActivation(x[1], w[1], null, y2[1], g, Activation.CLIP, -0.1f, 0.2f);
        assertClose("conv2d forward + clip without bias " + g, y2);
    }

    @ParameterizedTest
    @MethodSource("convs")
    void conv2dForwardSum(Conv2dGeometry g) {
        Tensor[] x = pairRandom(g.inputShape()), w = pairWeights(fanIn(g), g.weightShape()), b = pairRandom(g.k());
        Tensor[] z = pairRandom(g.outputShape());
        Tensor[] y = out(g.outputShape()), y2 = out(g.outputShape());
        cpu.conv2dForwardSum(x[0], w[0], b[0], z[0], y[0], g, Activation.RELU, 0f, 0f);
        gpu.conv2dForwardSum(x[1], w[1], b[1], z[1], y[1], g, Activation.RELU, 0f, 0f);
        assertClose("conv2d forward + residual + relu " + g, y);
        cpu.conv2dForwardSum(x[0], w[0], null, z[0], y2[0], g, null, 0f, 0f);
        gpu.conv2dForwardSum(x[1], w[1], null, z[1], y2[1], g, null, 0f, 0f);
        assertClose("conv2d forward + residual without bias " + g, y2);
    }

    /** One channel per image: the same chain of FMAs on both engines (native/conv_channels.h), so the same bits. */
    @ParameterizedTest
    @MethodSource("convs")
    void conv2dForwardChannels(Conv2dGeometry g) {
        Tensor[] x = pairRandom(g.inputShape()), w = pairWeights(fanIn(g), g.weightShape()), b = pairRandom(g.k());
        Tensor[] z = pairRandom(g.outputShape());
        Tensor[] y = out(g.outputShape()), y2 = out(g.outputShape());
        int[] ch = new int[g.n()];
        for (int i = 0; i < ch.length; i++) ch[i] = (7 * i + 3) % g.k();
        cpu.conv2dForwardChannels(x[0], w[0], b[0], z[0], ch, y[0], g, Activation.RELU, 0f, 0f);
        gpu.conv2dForwardChannels(x[1], w[1], b[1], z[1], ch, y[1], g, Activation.RELU, 0f, 0f);
        assertArrayEquals(y[0].toArray(), y[1].toArray(), "conv2d one channel per image + residual + relu " + g);
        cpu.conv2dForwardChannels(x[0], w[0], null, null, ch, y2[0], g, null, 0f, 0f);
        gpu.conv2dForwardChannels(x[1], w[1], null, null, ch, y2[1], g, null, 0f, 0f);
        assertArrayEquals(y2[0].toArray(), y2[1].toArray(), "conv2d one channel per image, plain " + g);
    }

    /** A pointwise conv that reads its input through a channel affine map and Relu (composed on the GPU). */
    @Test
    void conv2dForwardPrologue() {
        Conv2dGeometry g = new Conv2dGeometry(2, 24, 9, 11, 16, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        Tensor[] x = pairRandom(g.inputShape()), w = pairWeights(fanIn(g), g.weightShape()), b = pairRandom(g.k());
        Tensor[] scale = pairRandom(g.c()), shift = pairRandom(g.c());
        Tensor[] y = out(g.outputShape()), y2 = out(g.outputShape());
        for (int i = 0; i < 2; i++)
            (i == 0 ? cpu : gpu).conv2dForwardPrologue(x[i], scale[i], shift[i], Activation.RELU, 0f, 0f, w[i], b[i], y[i], g,
                    Activation.CLIP, 0f, 6f);
        assertClose("conv2d forward with an affine + relu prologue, clip " + g, y);
        for (int i = 0; i < 2; i++)
            (i == 0 ? cpu : gpu).conv2dForwardPrologue(x[i], scale[i], null, null, 0f, 0f, w[i], null, y2[i], g, null, 0f, 0f);
        assertClose("conv2d forward with a scale prologue " + g, y2);
    }

    /** An expansion and the depthwise conv that reads it (in bands on the CPU, composed on the GPU). */
    @Test
    void conv2dPointwiseDepthwise() {
        for (int stride = 1; stride <= 2; stride++) {
            Conv2dGeometry pw = new Conv2dGeometry(2, 8, 58, 57, 248, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
            Conv2dGeometry dw = new Conv2dGeometry(2, 248, 58, 57, 248, 3, 3, stride, stride, 1, 1, 1, 1, 1, 1, 248);
            Tensor[] x = pairRandom(pw.inputShape()), w1 = pairWeights(fanIn(pw), pw.weightShape()), b1 = pairRandom(pw.k());
            Tensor[] w2 = pairWeights(fanIn(dw), dw.weightShape()), b2 = pairRandom(dw.k());
            Tensor[] y = out(dw.outputShape()), y2 = out(dw.outputShape());
            for (int i = 0; i < 2; i++)
                (i == 0 ? cpu : gpu).conv2dPointwiseDepthwise(x[i], w1[i], b1[i], Activation.CLIP, 0f, 6f, w2[i], b2[i], y[i],
                        pw, dw, Activation.CLIP, 0f, 6f);
            assertClose("expansion + clip, depthwise stride " + stride + " + clip " + dw, y);
            for (int i = 0; i < 2; i++)
                (i == 0 ? cpu : gpu).conv2dPointwiseDepthwise(x[i], w1[i], null, null, 0f, 0f, w2[i], null, y2[i], pw, dw,
                        null, 0f, 0f);
            assertClose("expansion, depthwise stride " + stride + " " + dw, y2);
        }
    }

    /** A depthwise conv and the 1x1 conv that reads it (in bands on the CPU, composed on the GPU). */
    @Test
    void conv2dDepthwisePointwise() {
        for (int stride = 1; stride <= 2; stride++) {
            Conv2dGeometry dw = new Conv2dGeometry(2, 240, 58 * stride, 57 * stride, 240, 3, 3, stride, stride, 1, 1, 1, 1, 1, 1, 240);
            Conv2dGeometry pw = new Conv2dGeometry(2, 240, dw.outH(), dw.outW(), 12, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
            Tensor[] x = pairRandom(dw.inputShape()), w1 = pairWeights(fanIn(dw), dw.weightShape()), b1 = pairRandom(dw.k());
            Tensor[] w2 = pairWeights(fanIn(pw), pw.weightShape()), b2 = pairRandom(pw.k());
            Tensor[] y = out(pw.outputShape());
            for (int i = 0; i < 2; i++)
                (i == 0 ? cpu : gpu).conv2dDepthwisePointwise(x[i], w1[i], b1[i], Activation.RELU, 0f, 0f, w2[i], b2[i], y[i],
                        dw, pw, null, 0f, 0f);
            assertClose("depthwise stride " + stride + " + relu, projection " + dw, y);
        }
    }

    @ParameterizedTest
    @MethodSource("convs")
    void conv2dBackwardData(Conv2dGeometry g) {
        Tensor[] dy = pairRandom(g.outputShape()), w = pairWeights(fanIn(g), g.weightShape());
        Tensor[] dx = out(g.inputShape());
        cpu.conv2dBackwardData(dy[0], w[0], dx[0], g);
        gpu.conv2dBackwardData(dy[1], w[1], dx[1], g);
        assertClose("conv2d backward data " + g, dx);
    }

    /** The data gradient through the Relu whose output is the conv's input: zeros where it is, as both engines mask. */
    @ParameterizedTest
    @MethodSource("convs")
    void conv2dBackwardDataRelu(Conv2dGeometry g) {
        Tensor[] dy = pairRandom(g.outputShape()), w = pairWeights(fanIn(g), g.weightShape());
        Tensor[] mask = pairRandom(g.inputShape()), dx = out(g.inputShape());
        for (int i = 0; i < 2; i++) (i == 0 ? cpu : gpu).activationForward(Activation.RELU, mask[i], mask[i], 0f, 0f);
        cpu.conv2dBackwardDataRelu(dy[0], w[0], dx[0], g, mask[0], null);
        gpu.conv2dBackwardDataRelu(dy[1], w[1], dx[1], g, mask[1], null);
        assertClose("conv2d backward data through a relu " + g, dx);
        float[] m = mask[0].toArray(), d = dx[0].toArray(), e = dx[1].toArray();
        for (int i = 0; i < m.length; i++)
            if (m[i] <= 0f) assertTrue(d[i] == 0f && e[i] == 0f, "masked gradient at " + i);
        // with the gradient's other contributions added before the mask
        Tensor[] sum = pairRandom(g.inputShape()), dxs = out(g.inputShape());
        cpu.conv2dBackwardDataRelu(dy[0], w[0], dxs[0], g, mask[0], sum[0]);
        gpu.conv2dBackwardDataRelu(dy[1], w[1], dxs[1], g, mask[1], sum[1]);
        assertClose("conv2d backward data plus a sum through a relu " + g, dxs);
    }

    // ---- pooling

    static Stream<Arguments> pools() {
        return Stream.of(
                // n c h w kh kw sh sw pt pl pb pr dh dw oh ow countIncludePad
                Arguments.of(new Pool2dGeometry(2, 3, 12, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6, 6, false)),
                Arguments.of(new Pool2dGeometry(2, 3, 12, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6, 6, true)),
                Arguments.of(new Pool2dGeometry(1, 4, 11, 9, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 6, 5, false)), // ceil mode
                Arguments.of(new Pool2dGeometry(1, 4, 11, 9, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 6, 5, true)),
                Arguments.of(new Pool2dGeometry(1, 2, 10, 10, 3, 3, 1, 1, 2, 0, 1, 2, 2, 1, 8, 10, true)),
                Arguments.of(Pool2dGeometry.global(3, 5, 7, 7)));
    }

    @ParameterizedTest
    @MethodSource("pools")
    void maxPool(Pool2dGeometry g) {
        Tensor[] x = pair(ties(Shapes.numel(g.inputShape())), g.inputShape());
        Tensor[] y = out(g.outputShape()), dy = pairRandom(g.outputShape()), dx = out(g.inputShape());
        cpu.maxPool2dForward(x[0], y[0], g);
        gpu.maxPool2dForward(x[1], y[1], g);
        assertClose("maxpool forward " + g, y);
        cpu.maxPool2dBackward(x[0], dy[0], dx[0], g);
        gpu.maxPool2dBackward(x[1], dy[1], dx[1], g);
        assertClose("maxpool backward (ties: first max wins) " + g, dx);
        // through the Relu whose output x would be: windows won by a value <= 0 route nothing
        Tensor[] dr = out(g.inputShape());
        cpu.maxPool2dBackwardRelu(x[0], dy[0], dr[0], g);
        gpu.maxPool2dBackwardRelu(x[1], dy[1], dr[1], g);
        assertClose("maxpool backward through a relu " + g, dr);
    }

    @ParameterizedTest
    @MethodSource("pools")
    void avgPool(Pool2dGeometry g) {
        Tensor[] x = pairRandom(g.inputShape()), y = out(g.outputShape());
        Tensor[] dy = pairRandom(g.outputShape()), dx = out(g.inputShape());
        cpu.avgPool2dForward(x[0], y[0], g);
        gpu.avgPool2dForward(x[1], y[1], g);
        assertClose("avgpool forward " + g, y);
        cpu.avgPool2dBackward(dy[0], dx[0], g);
        gpu.avgPool2dBackward(dy[1], dx[1], g);
        assertClose("avgpool backward " + g, dx);
    }

    // ---- elementwise

    @ParameterizedTest
    @EnumSource(Activation.class)
    void activation(Activation kind) {
        float alpha = kind == Activation.CLIP ? -0.5f : 0.2f, beta = kind == Activation.CLIP ? 0.7f : 0.5f;
        for (long n : new long[] {1, 7, 4096, 10_003}) {
            float[] data = random(n);
            for (int i = 0; i < data.length; i += 5) data[i] *= 4; // reach hard-swish / clip kinks
            for (int i = 3; i < data.length; i += 97) data[i] = Float.NaN; // NaN propagates on both, as in PyTorch
            Tensor[] x = pair(data, n), y = out(n), dy = pairRandom(n), dx = out(n);
            cpu.activationForward(kind, x[0], y[0], alpha, beta);
            gpu.activationForward(kind, x[1], y[1], alpha, beta);
            assertClose(kind + " forward n=" + n, y);
            cpu.activationBackward(kind, x[0], dy[0], dx[0], alpha, beta);
            gpu.activationBackward(kind, x[1], dy[1], dx[1], alpha, beta);
            assertClose(kind + " backward n=" + n, dx);
        }
    }

    @Test
    void prelu() {
        long[] xs = {2, 4, 5, 6};
        for (long[] ss : new long[][] {{1}, {4, 1, 1}, {5, 6}, {2, 4, 5, 6}}) {
            Tensor[] x = pairRandom(xs), s = pairRandom(ss), y = out(xs), dy = pairRandom(xs), dx = out(xs);
            cpu.preluForward(x[0], s[0], y[0]);
            gpu.preluForward(x[1], s[1], y[1]);
            assertClose("prelu forward slope " + Arrays.toString(ss), y);
            cpu.preluBackward(x[0], s[0], dy[0], dx[0]);
            gpu.preluBackward(x[1], s[1], dy[1], dx[1]);
            assertClose("prelu backward slope " + Arrays.toString(ss), dx);
        }
    }

    static Stream<Arguments> broadcasts() {
        return Stream.of(
                Arguments.of(new long[] {3, 4, 5}, new long[] {3, 4, 5}),
                Arguments.of(new long[] {2, 8, 6, 6}, new long[] {8, 1, 1}),
                Arguments.of(new long[] {4, 1}, new long[] {1, 5}),
                Arguments.of(new long[] {1}, new long[] {2, 3, 4}),
                Arguments.of(new long[] {2, 1, 3, 1}, new long[] {5, 1, 7}),
                Arguments.of(new long[] {}, new long[] {3, 3}));
    }

    @ParameterizedTest
    @MethodSource("broadcasts")
    void binary(long[] as, long[] bs) {
        long[] ys = Shapes.broadcast(as, bs);
        for (BinaryOp op : BinaryOp.values()) {
            float[] bData = random(Shapes.numel(bs));
            if (op == BinaryOp.DIV) for (int i = 0; i < bData.length; i++) bData[i] += Math.signum(bData[i]) * 0.5f;
            Tensor[] a = pairRandom(as), b = pair(bData, bs), y = out(ys);
            cpu.binary(op, a[0], b[0], y[0]);
            gpu.binary(op, a[1], b[1], y[1]);
            assertClose(op + " " + Arrays.toString(as) + " x " + Arrays.toString(bs), y);
        }
    }

    @ParameterizedTest
    @MethodSource("broadcasts")
    void reduceSumTo(long[] as, long[] bs) {
        long[] src = Shapes.broadcast(as, bs);
        for (long[] dst : new long[][] {as, bs}) {
            Tensor[] s = pairRandom(src), d = out(dst);
            cpu.reduceSumTo(s[0], d[0]);
            gpu.reduceSumTo(s[1], d[1]);
            assertClose("reduceSumTo " + Arrays.toString(src) + " -> " + Arrays.toString(dst), d);
        }
    }

    @Test
    void reduceSumToLargeReductions() {
        long[] src = {64, 32, 14, 14};
        for (long[] dst : new long[][] {{32, 1, 1}, {1}, {14, 14}, {64, 1, 1, 1}}) {
            Tensor[] s = pairRandom(src), d = out(dst);
            cpu.reduceSumTo(s[0], d[0]);
            gpu.reduceSumTo(s[1], d[1]);
            assertClose("reduceSumTo " + Arrays.toString(src) + " -> " + Arrays.toString(dst), d);
        }
    }

    @Test
    void channelAffineAndAxpby() {
        long[] xs = {3, 7, 5, 4};
        Tensor[] x = pairRandom(xs), sc = pairRandom(7), sh = pairRandom(7), y = out(xs), y2 = out(xs);
        cpu.channelAffine(x[0], sc[0], sh[0], y[0]);
        gpu.channelAffine(x[1], sc[1], sh[1], y[1]);
        assertClose("channelAffine", y);
        cpu.channelAffine(x[0], sc[0], null, y2[0]);
        gpu.channelAffine(x[1], sc[1], null, y2[1]);
        assertClose("channelAffine without shift", y2);
        Tensor[] y3 = out(xs);
        cpu.channelAffineActivation(x[0], sc[0], sh[0], y3[0], Activation.RELU, 0f, 0f);
        gpu.channelAffineActivation(x[1], sc[1], sh[1], y3[1], Activation.RELU, 0f, 0f);
        assertClose("channelAffine + relu", y3);
        cpu.channelAffineActivation(x[0], sc[0], null, y3[0], Activation.CLIP, -0.2f, 0.3f);
        gpu.channelAffineActivation(x[1], sc[1], null, y3[1], Activation.CLIP, -0.2f, 0.3f);
        assertClose("channelAffine + clip without shift", y3);
        Tensor[] acc = pairRandom(xs);
        cpu.axpby(0.3f, x[0], -1.5f, acc[0]);
        gpu.axpby(0.3f, x[1], -1.5f, acc[1]);
        assertClose("axpby", acc);
        Tensor[] fresh = out(xs);
        cpu.axpby(2f, x[0], 0f, fresh[0]);
        gpu.axpby(2f, x[1], 0f, fresh[1]); // the NaN fill must not leak through beta = 0
        assertClose("axpby beta=0", fresh);
    }

    @Test
    void fillAndCopies() {
        for (long n : new long[] {1, 3, 1024, 1027}) {
            Tensor t = gpu.allocate(n);
            owned.add(t);
            gpu.fill(t, 2.5f);
            float[] h = t.toArray();
            for (float v : h) assertEquals(2.5f, v);
        }
        float[] data = random(100);
        Tensor a = gpu.upload(data, 10, 10), b = gpu.zeros(4, 25);
        owned.add(a);
        owned.add(b);
        gpu.copy(a, b);
        assertArrayEquals(data, b.toArray());
        Tensor c = gpu.zeros(30);
        owned.add(c);
        gpu.copyRange(a, 17, c, 5, 20);
        float[] got = c.toArray();
        for (int i = 0; i < 30; i++) assertEquals(i >= 5 && i < 25 ? data[17 + i - 5] : 0f, got[i], "copyRange [" + i + "]");
    }

    // ---- dense

    @Test
    void gemm() {
        int m = 37, k = 70, n = 53;
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                for (long[] cs : new long[][] {null, {n}, {m, 1}, {m, n}, {1, 1}}) {
                    Tensor[] a = pairRandom(ta ? new long[] {k, m} : new long[] {m, k});
                    Tensor[] b = pairWeights(k, tb ? new long[] {n, k} : new long[] {k, n});
                    Tensor[] c = cs == null ? new Tensor[2] : pairRandom(cs);
                    Tensor[] y = out(m, n);
                    cpu.gemm(a[0], b[0], c[0], y[0], ta, tb, 0.7f, 1.3f);
                    gpu.gemm(a[1], b[1], c[1], y[1], ta, tb, 0.7f, 1.3f);
                    assertClose("gemm ta=" + ta + " tb=" + tb + " c=" + Arrays.toString(cs), y);
                }
    }

    @Test
    void matmul() {
        long[][][] cases = {
                {{5, 7}, {7, 3}}, {{2, 3, 5, 7}, {7, 4}}, {{3, 1, 5, 7}, {4, 7, 2}}, {{7}, {2, 7, 3}}, {{2, 5, 7}, {7}},
                {{64, 130}, {130, 100}}};
        for (long[][] cs : cases) {
            long[] as = cs[0], bs = cs[1];
            long kDim = as[as.length - 1];
            Tensor[] a = pairRandom(as), b = pairWeights(kDim, bs);
            long[] ys = matmulShape(as, bs);
            Tensor[] y = out(ys);
            cpu.matmul(a[0], b[0], y[0]);
            gpu.matmul(a[1], b[1], y[1]);
            assertClose("matmul " + Arrays.toString(as) + " @ " + Arrays.toString(bs), y);
        }
    }

    static long[] matmulShape(long[] as, long[] bs) {
        long[] a2 = as.length == 1 ? new long[] {1, as[0]} : as, b2 = bs.length == 1 ? new long[] {bs[0], 1} : bs;
        long[] batch = Shapes.broadcast(Arrays.copyOf(a2, a2.length - 2), Arrays.copyOf(b2, b2.length - 2));
        List<Long> out = new ArrayList<>();
        for (long d : batch) out.add(d);
        if (as.length > 1) out.add(a2[a2.length - 2]);
        if (bs.length > 1) out.add(b2[b2.length - 1]);
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    @ParameterizedTest
    @ValueSource(strings = {"4,1000,1", "3,10,1", "2,5,49", "1,64,3"})
    void softmax(String view) {
        long[] v = Arrays.stream(view.split(",")).mapToLong(Long::parseLong).toArray();
        Tensor[] x = pairRandom(v), y = out(v), dy = pairRandom(v), dx = out(v);
        cpu.softmaxForward(x[0], y[0], v[0], v[1], v[2]);
        gpu.softmaxForward(x[1], y[1], v[0], v[1], v[2]);
        assertClose("softmax " + view, y);
        // backward from the same y on both sides
        Tensor yg = gpu.upload(y[0].toArray(), v);
        owned.add(yg);
        cpu.softmaxBackward(y[0], dy[0], dx[0], v[0], v[1], v[2]);
        gpu.softmaxBackward(yg, dy[1], dx[1], v[0], v[1], v[2]);
        assertClose("softmax backward " + view, dx);
    }

    @Test
    void concatAndSlice() {
        Tensor[] a = pairRandom(2, 3, 4), b = pairRandom(2, 5, 4), c = pairRandom(2, 1, 4), y = out(2, 9, 4);
        cpu.concat(List.of(a[0], b[0], c[0]), 1, y[0]);
        gpu.concat(List.of(a[1], b[1], c[1]), 1, y[1]);
        assertClose("concat axis 1", y);
        Tensor[] s = out(2, 5, 4);
        cpu.sliceAxis(y[0], 1, 3, s[0]);
        gpu.sliceAxis(y[1], 1, 3, s[1]);
        assertClose("slice axis 1", s);
        assertArrayEquals(b[0].toArray(), s[1].toArray());
    }

    // ---- attribution building blocks

    @ParameterizedTest
    @EnumSource(CamWeighting.class)
    void gradcamWeights(CamWeighting kind) {
        int n = 3, k = 17;
        for (int hw : new int[] {7, 16}) {
            long[] s = {n, k, hw, hw};
            float[] act = random(Shapes.numel(s));
            for (int i = 0; i < act.length; i++) act[i] = Math.abs(act[i]); // post-ReLU activations
            Tensor[] a = pair(act, s), g = pairRandom(s), w = out(n, k);
            cpu.gradcamWeights(kind, a[0], g[0], w[0]);
            gpu.gradcamWeights(kind, a[1], g[1], w[1]);
            assertClose("gradcam weights " + kind + " hw " + hw, w);
        }
    }

    @ParameterizedTest
    @EnumSource(CamCombine.class)
    void camCombineAndFinish(CamCombine mode) {
        int n = 2, k = 9, h = 7, w = 7, oh = 50, ow = 45;
        Tensor[] a = pairRandom(n, k, h, w);
        Tensor[] wg = mode == CamCombine.WEIGHTED ? pairRandom(n, k) : pairRandom(n, k, h, w);
        Tensor[] cam = out(n, h, w);
        cpu.camCombine(mode, a[0], wg[0], cam[0]);
        gpu.camCombine(mode, a[1], wg[1], cam[1]);
        assertClose("cam combine " + mode, cam);
        // finish from identical raw maps
        Tensor camG = gpu.upload(cam[0].toArray(), n, h, w);
        owned.add(camG);
        Tensor[] fin = out(n, oh, ow);
        cpu.camFinish(cam[0], fin[0]);
        gpu.camFinish(camG, fin[1]);
        assertClose("cam finish " + mode, fin);
    }

    @Test
    void bilinearAndNearestResize() {
        for (int[] sz : new int[][] {{7, 7, 224, 224}, {5, 9, 3, 4}, {14, 10, 14, 10}}) {
            Tensor[] x = pairRandom(2, 3, sz[0], sz[1]), y = out(2, 3, sz[2], sz[3]);
            cpu.bilinearResize(x[0], y[0]);
            gpu.bilinearResize(x[1], y[1]);
            assertClose("bilinear " + Arrays.toString(sz), y);
            Tensor[] z = out(2, 3, sz[2], sz[3]);
            cpu.nearestResize(x[0], z[0]);
            gpu.nearestResize(x[1], z[1]);
            assertClose("nearest " + Arrays.toString(sz), z);
        }
    }

    @Test
    void maskedBlend() {
        long[] xs = {2, 3, 8, 8};
        Tensor[] x = pairRandom(xs), b = pairRandom(xs), b1 = pairRandom(1, 3, 8, 8);
        // one scalar per mask (IG steps), a plane shared by channels (occlusion), a full mask
        for (long[] ms : new long[][] {{5, 1}, {4, 8, 8}, {3, 3, 8, 8}}) {
            Tensor[] m = pairRandom(ms);
            Tensor[] y = out(ms[0] * xs[0], xs[1], xs[2], xs[3]);
            cpu.maskedBlend(x[0], b[0], m[0], y[0]);
            gpu.maskedBlend(x[1], b[1], m[1], y[1]);
            assertClose("masked blend " + Arrays.toString(ms), y);
            Tensor[] y1 = out(ms[0] * xs[0], xs[1], xs[2], xs[3]);
            cpu.maskedBlend(x[0], b1[0], m[0], y1[0]);
            gpu.maskedBlend(x[1], b1[1], m[1], y1[1]);
            assertClose("masked blend, one baseline " + Arrays.toString(ms), y1);
        }
    }

    @Test
    void weightedSum() {
        float[] weights = {0.1f, 0.2f, 0.4f, 0.2f, 0.1f};
        Tensor[] g = pairRandom(5 * 2, 3, 8, 8), acc = pairRandom(2, 3, 8, 8);
        cpu.weightedSum(g[0], weights, acc[0]);
        gpu.weightedSum(g[1], weights, acc[1]);
        assertClose("weighted sum", acc);
    }

    @Test
    void reduceRows() {
        for (Reduction op : Reduction.values())
            for (long[] xs : new long[][] {{3, 1}, {5, 7}, {2, 3 * 224 * 224}}) {
                Tensor[] x = pairRandom(xs), y = out(xs[0]);
                cpu.reduceRows(op, x[0], y[0]);
                gpu.reduceRows(op, x[1], y[1]);
                assertClose("reduce rows " + op + " " + Arrays.toString(xs), y);
            }
    }

    @Test
    void randomNormal() {
        for (long offset : new long[] {0, 3, 1L << 33})
            for (long n : new long[] {1, 7, 100_003}) {
                Tensor[] y = out(n);
                cpu.randomNormal(42, offset, y[0]);
                gpu.randomNormal(42, offset, y[1]);
                assertClose("random normal offset " + offset + " n " + n, y);
            }
    }

    /**
     * The bitonic row argsort against the CPU's sort: the same order and rank, element for
     * element, on random rows and on rows of ties and NaN, at lengths that are and are not
     * powers of two.
     */
    @Test
    void argsortRows() {
        long big = CudaBackend.isEmulated() ? 28 * 28 : 224 * 224;
        for (long[] rl : new long[][] {{1, 1}, {2, 2}, {3, 5}, {2, 64}, {5, 100}, {2, 1023}, {2, big}})
            for (int kind = 0; kind < 2; kind++) {
                int n = (int) (rl[0] * rl[1]);
                float[] x = new float[n];
                for (int i = 0; i < n; i++)
                    x[i] = kind == 0 ? (float) rnd.nextGaussian() : (rnd.nextInt(20) == 0 ? Float.NaN : rnd.nextInt(4));
                Tensor[] xs = pair(x, rl), order = out(rl), rank = out(rl);
                cpu.argsortRows(xs[0], order[0], rank[0]);
                gpu.argsortRows(xs[1], order[1], rank[1]);
                String what = (kind == 0 ? "gaussian " : "ties and NaN ") + rl[0] + "x" + rl[1];
                assertArrayEquals(cpu.download(order[0]), gpu.download(order[1]), "order, " + what);
                assertArrayEquals(cpu.download(rank[0]), gpu.download(rank[1]), "rank, " + what);
            }
    }

    // ---- feature visualisation: transform geometry and the optimiser

    @Test
    void cropPadAndAffineResample() {
        int n = 3, c = 2;
        int[] offsets = {-5, -4, 0, 3, 7, -2};
        Tensor[] x = pairRandom(n, c, 13, 11), y = out(n, c, 17, 9);
        cpu.cropPad(x[0], offsets, 0.5f, y[0]);
        gpu.cropPad(x[1], offsets, 0.5f, y[1]);
        assertClose("crop pad", y);
        float[] theta = new float[6 * n];
        for (int b = 0; b < n; b++) { // scale about 1 and rotations up to ~10 degrees, shifted
            double a = Math.toRadians(-10 + 10 * b), s = 0.9 + 0.1 * b;
            float[] t = {(float) (Math.cos(a) / s), (float) (-Math.sin(a) / s), 1.5f - b,
                    (float) (Math.sin(a) / s), (float) (Math.cos(a) / s), -0.75f + b};
            System.arraycopy(t, 0, theta, 6 * b, 6);
        }
        Tensor[] r = out(n, c, 15, 14);
        cpu.affineResampleForward(x[0], theta, r[0]);
        gpu.affineResampleForward(x[1], theta, r[1]);
        assertClose("affine resample forward", r);
        Tensor[] dy = pairRandom(n, c, 15, 14), dx = out(n, c, 13, 11);
        cpu.affineResampleBackward(dy[0], theta, dx[0]);
        gpu.affineResampleBackward(dy[1], theta, dx[1]);
        assertClose("affine resample backward", dx);
    }

    @Test
    void adamStep() {
        Tensor[] p = pairRandom(5, 3, 7, 7), g = pairRandom(5, 3, 7, 7), m = pairRandom(5, 3, 7, 7);
        float[] v0 = random(5 * 3 * 7 * 7);
        for (int i = 0; i < v0.length; i++) v0[i] = Math.abs(v0[i]);
        Tensor[] v = pair(v0, 5, 3, 7, 7);
        for (int step = 1; step <= 3; step++) {
            cpu.adamStep(p[0], g[0], m[0], v[0], 0.05f, 0.9f, 0.999f, 1e-8f, step);
            gpu.adamStep(p[1], g[1], m[1], v[1], 0.05f, 0.9f, 0.999f, 1e-8f, step);
        }
        assertClose("adam p", p);
        assertClose("adam m", m);
        assertClose("adam v", v);
    }

    /** Powers of two (the CPU's radix-2 FFT) and other lengths (the direct sum on both), both directions. */
    @Test
    void dftRows() {
        for (int[] s : new int[][] {{3, 8, 5}, {2, 16, 65}, {2, 12, 7}, {1, 1, 3}, {2, 6, 33}, {1, 1030, 2}}) // the last past the shared table
            for (boolean inverse : new boolean[] {true, false}) {
                Tensor[] x = pairRandom(s[0], s[1], 2, s[2]), y = out(s[0], s[1], 2, s[2]);
                cpu.dftRows(x[0], y[0], inverse);
                gpu.dftRows(x[1], y[1], inverse);
                assertClose("dft rows " + java.util.Arrays.toString(s) + (inverse ? " inverse" : " forward"), y);
            }
    }

    /** Rows alive and dead (every input negative), NaN in x: the CPU's one pass against CUDA's composed kernels. */
    @Test
    void redirectedReluBackward() {
        float[] x = random(4 * 3 * 9 * 9), dy = random(4 * 3 * 9 * 9);
        int per = 3 * 9 * 9;
        for (int i = per; i < 3 * per; i++) x[i] = -Math.abs(x[i]) - 0.1f;
        x[7] = Float.NaN;
        Tensor[] xt = pair(x, 4, 3, 9, 9), g = pair(dy, 4, 3, 9, 9), dx = out(4, 3, 9, 9);
        cpu.redirectedReluBackward(xt[0], g[0], dx[0]);
        gpu.redirectedReluBackward(xt[1], g[1], dx[1]);
        assertClose("redirected relu backward", dx);
    }

    // ---- memory and errors

    @Test
    void poolHoldsMemoryFlat() {
        gpu.synchronize();
        long before = gpu.liveBytes();
        long cachedAfterWarmup = -1;
        // the emulation runs each fill and axpby on the CPU: fewer rounds show the same plateau
        int rounds = CudaBackend.isEmulated() ? 200 : 10_000;
        for (int i = 0; i < rounds; i++) {
            try (Tensor t = gpu.allocate(3, 224, 224); Tensor u = gpu.allocate(64, 1000)) {
                gpu.fill(t, i);
                gpu.axpby(1f, u, 0f, u);
            }
            if (i == 10) cachedAfterWarmup = gpu.cachedBytes();
        }
        assertEquals(before, gpu.liveBytes(), "live bytes return to their level");
        assertEquals(cachedAfterWarmup, gpu.cachedBytes(), "the pool reuses its blocks instead of growing");
    }

    @Test
    void badInputIsOneLineError() {
        Tensor[] x = pairRandom(2, 3);
        Tensor y = gpu.allocate(3, 2);
        owned.add(y);
        SalientException e = assertThrows(SalientException.class,
                () -> gpu.activationForward(Activation.RELU, x[1], y, 0, 0));
        assertFalse(e.getMessage().contains("\n"));
        SalientException foreign = assertThrows(SalientException.class,
                () -> gpu.activationForward(Activation.RELU, x[0], x[1], 0, 0));
        assertTrue(foreign.getMessage().contains("cpu backend"), foreign.getMessage());
        // the next call still works
        Tensor ok = gpu.allocate(2, 3);
        owned.add(ok);
        gpu.activationForward(Activation.RELU, x[1], ok, 0, 0);
        assertClose("relu after an error", relu(x[0].toArray()), ok.toArray());
    }

    static float[] relu(float[] a) {
        float[] r = a.clone();
        for (int i = 0; i < r.length; i++) r[i] = Math.max(r[i], 0f);
        return r;
    }
}
