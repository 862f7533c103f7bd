package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Convs onto small planes with the output channels on the vector lanes (native/cpu/gemm_lanes.cpp,
 * AVX-512, and AVX2 with fewer images than threads; conv2d.cpp's forward_lanes): pointwise convs, strided 1x1 and 3x3 convs, any conv of one group
 * that is not Winograd's. Every output is the chain {@code acc = fma(w[k,c,r,s], x[n,c,ih,iw], acc)} over
 * its taps in (c, r, s) order from 0, then + bias, + the residual, then the activation, each rounded as its
 * own op rounds it: the same bits as the blocked GEMM (which AVX2 runs at batch 1 on one thread). Held here to that chain written out
 * in Java, bit for bit, on one and two threads (whole images, pairs of images, an image's 32-channel
 * panels or its positions split over the threads, its column matrix built by both), at each instruction
 * set the processor has: a lane left stale, a panel's tail row stored, a k block's partial sums lost, a
 * transposed block stored one column off or a column matrix half built changes the bits.
 */
class ConvLanesTest {
    static final Backend B = Engine.cpu();

    static Stream<Conv2dGeometry> geometries() {
        return Stream.of(
                // (n, c, h, w, k, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1)
                new Conv2dGeometry(1, 128, 7, 7, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),   // 2 panels, 8-row tail; positions split
                new Conv2dGeometry(1, 160, 9, 10, 300, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), // 10 panels split; 2 k blocks; 8 + 2 columns
                new Conv2dGeometry(3, 256, 14, 14, 64, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), // whole images, 7 columns a block
                new Conv2dGeometry(5, 136, 6, 6, 33, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),   // 2 images an item, odd last; 1 lane
                new Conv2dGeometry(2, 130, 16, 16, 96, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1), // 256 positions, the most it takes
                new Conv2dGeometry(1, 520, 3, 1, 70, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),   // 3 columns, 5 k blocks
                new Conv2dGeometry(1, 64, 14, 14, 72, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1),   // 3x3 stride 2, one image
                new Conv2dGeometry(5, 48, 15, 13, 40, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1, 1),   // odd sides, uneven pads, pairs
                new Conv2dGeometry(2, 160, 14, 14, 96, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1),  // strided 1x1 (downsampling)
                new Conv2dGeometry(1, 24, 9, 9, 130, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1),    // dilation 2: not Winograd
                new Conv2dGeometry(3, 8, 12, 11, 20, 5, 5, 1, 2, 2, 1, 2, 3, 1, 1, 1),    // 5x5, strides 1x2
                new Conv2dGeometry(1, 192, 28, 28, 32, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),  // one panel past 16x16: positions split
                new Conv2dGeometry(3, 144, 20, 24, 24, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1)); // ... 24 lanes of 32, 2 k blocks of 72
    }

    /** The chain of every output of g, then + bias (Im2colChainTest's), + z, then Relu (act 1) or Clip(0, 6) (act 2). */
    static float[] chain(Conv2dGeometry g, float[] x, float[] w, float[] bias, float[] z, int act) {
        float[] y = Im2colChainTest.chain(g, x, w, bias, false);
        for (int i = 0; i < y.length; i++) {
            float v = y[i];
            if (z != null) v = v + z[i];
            if (act == 1) v = v < 0f ? 0f : v;
            else if (act == 2) v = v < 0f ? 0f : (v > 6f ? 6f : v);
            y[i] = v;
        }
        return y;
    }

    @ParameterizedTest
    @MethodSource("geometries")
    void everyOutputIsItsChainThenBiasResidualActivation(Conv2dGeometry g) {
        float[] w = Parity.random(32, (int) Shapes.numel(g.weightShape()));
        float[] b = Parity.random(33, g.k());
        float[] z = Parity.random(34, (int) Shapes.numel(g.outputShape()));
        z[z.length / 2] = Float.NaN;  // stays NaN through the sum and either activation
        int[] run = {0};
        CanonicalGemmTest.onOneAndTwoThreads(() -> {
            // a new input each run, so that a column matrix left half built holds no earlier run's values
            float[] x = Parity.random(31 + run[0]++, (int) Shapes.numel(g.inputShape()));
            for (float[] bias : new float[][] {b, null})
                for (float[] res : new float[][] {null, z})
                    for (int act : new int[] {0, 1, 2}) {
                        Activation kind = act == 0 ? null : act == 1 ? Activation.RELU : Activation.CLIP;
                        try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape());
                                Tensor tb = bias == null ? null : B.upload(bias, g.k());
                                Tensor tz = res == null ? null : B.upload(res, g.outputShape());
                                Tensor ty = B.allocate(g.outputShape())) {
                            B.fill(ty, Float.NaN);
                            if (res != null) B.conv2dForwardSum(tx, tw, tb, tz, ty, g, kind, 0f, 6f);
                            else if (kind != null) B.conv2dForwardActivation(tx, tw, tb, ty, g, kind, 0f, 6f);
                            else B.conv2dForward(tx, tw, tb, ty, g);
                            float[] want = chain(g, x, w, bias, res, act), got = ty.toArray();
                            for (int i = 0; i < want.length; i++)
                                if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i]))
                                    fail(g + (bias == null ? " no bias" : "") + (res == null ? "" : " residual") + " act " + act
                                            + ", threads " + CpuNative.salient_get_num_threads() + ", isa "
                                            + CpuNative.salient_get_isa() + ": output " + i + " is " + got[i]
                                            + ", its chain gives " + want[i]);
                        }
                    }
        });
    }

    /**
     * A pointwise conv with a prologue (DenseNet's BatchNorm and Relu before each 1x1 conv) takes its
     * input with the prologue applied, {@code max(0, fma(x, scale[c], shift[c]))}, as its column matrix:
     * every output is the chain over those values, bit for bit, NaN and -0 in the input included.
     */
    @ParameterizedTest
    @MethodSource("prologueGeometries")
    void prologueConvIsTheChainOverTheProloguedInput(Conv2dGeometry g) {
        float[] w = Parity.random(52, (int) Shapes.numel(g.weightShape()));
        float[] b = Parity.random(53, g.k());
        float[] scale = Parity.random(54, g.c()), shift = Parity.random(55, g.c());
        scale[1] = -1.5f;
        int hw = g.h() * g.w();
        int[] run = {0};
        CanonicalGemmTest.onOneAndTwoThreads(() -> {
            float[] x = Parity.random(51 + run[0]++, (int) Shapes.numel(g.inputShape()));
            x[x.length / 3] = Float.NaN;
            x[x.length / 2] = -0f;
            float[] pre = new float[x.length];
            for (int i = 0; i < x.length; i++) {
                int c = i / hw % g.c();
                float v = Math.fma(x[i], scale[c], shift[c]);
                pre[i] = v < 0f ? 0f : v;
            }
            try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w, g.weightShape()); Tensor tb = B.upload(b, g.k());
                    Tensor ts = B.upload(scale, g.c()); Tensor tsh = B.upload(shift, g.c()); Tensor ty = B.allocate(g.outputShape())) {
                B.fill(ty, Float.NaN);
                B.conv2dForwardPrologue(tx, ts, tsh, Activation.RELU, 0f, 0f, tw, tb, ty, g, Activation.RELU, 0f, 0f);
                float[] want = chain(g, pre, w, b, null, 1), got = ty.toArray();
                for (int i = 0; i < want.length; i++)
                    if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i]))
                        fail(g + " prologue, threads " + CpuNative.salient_get_num_threads() + ", isa " + CpuNative.salient_get_isa()
                                + ": output " + i + " is " + got[i] + ", its chain gives " + want[i]);
            }
        });
    }

    static Stream<Conv2dGeometry> prologueGeometries() {
        return Stream.of(
                new Conv2dGeometry(1, 160, 7, 7, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),   // one image: shared, channels split
                new Conv2dGeometry(3, 136, 6, 6, 33, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1),   // pairs of images, odd last
                new Conv2dGeometry(2, 288, 14, 14, 128, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1));
    }

    /**
     * The packed weights are cached by the filter's content where it is not sealed: weights written
     * in place between calls give the new product, never the panels made from the old.
     */
    @Test
    void weightsWrittenInPlaceAreRepacked() {
        Conv2dGeometry g = new Conv2dGeometry(1, 128, 7, 7, 64, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
        float[] x = Parity.random(41, (int) Shapes.numel(g.inputShape()));
        float[] w1 = Parity.random(42, (int) Shapes.numel(g.weightShape()));
        float[] w2 = w1.clone();
        w2[5 * g.c() + 17] += 1f;  // one weight of output channel 5
        try (Tensor tx = B.upload(x, g.inputShape()); Tensor tw = B.upload(w1, g.weightShape());
                Tensor ty = B.allocate(g.outputShape())) {
            B.conv2dForward(tx, tw, null, ty, g);
            assertArrayEquals(chain(g, x, w1, null, null, 0), ty.toArray());
            tw.data().put(w2);  // the same block, written in place
            B.conv2dForward(tx, tw, null, ty, g);
            assertArrayEquals(chain(g, x, w2, null, null, 0), ty.toArray());
        }
    }
}
