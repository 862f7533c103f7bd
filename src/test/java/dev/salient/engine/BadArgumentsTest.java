package dev.salient.engine;

import static org.junit.jupiter.api.Assertions.*;

import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import java.util.function.IntSupplier;

/**
 * Shape mismatches become one-line SalientExceptions in Java; the native ABI
 * rejects null pointers, negative sizes and inconsistent shapes with an error
 * code and message instead of touching memory.
 */
class BadArgumentsTest {
    static final Backend B = Engine.cpu();
    static FloatPointer p, q, r;

    @BeforeAll
    static void alloc() {
        p = CpuNative.salient_alloc(1024);
        q = CpuNative.salient_alloc(1024);
        r = CpuNative.salient_alloc(1024);
    }

    @AfterAll
    static void free() {
        CpuNative.salient_free(p);
        CpuNative.salient_free(q);
        CpuNative.salient_free(r);
    }

    static void rejects(String expected, IntSupplier call) {
        int rc = call.getAsInt();
        assertTrue(rc < 0, "expected an error code for '" + expected + "', got " + rc);
        String msg = CpuNative.salient_last_error().getString();
        assertTrue(msg.contains(expected), "message '" + msg + "' lacks '" + expected + "'");
    }

    static void oneLine(SalientException e, String expected) {
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().contains(expected), "message '" + e.getMessage() + "' lacks '" + expected + "'");
    }

    @Test
    void nativeConvAndPoolRejectBadArguments() {
        rejects("x is null", () -> CpuNative.conv2d_forward_cpu(null, q, null, r, 1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1));
        rejects("w is null", () -> CpuNative.conv2d_forward_cpu(p, null, null, r, 1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1));
        rejects("non-positive size", () -> CpuNative.conv2d_forward_cpu(p, q, null, r, -1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1));
        rejects("strides", () -> CpuNative.conv2d_forward_cpu(p, q, null, r, 1, 1, 4, 4, 1, 3, 3, 0, 1, 0, 0, 0, 0, 1, 1, 1));
        rejects("negative pad", () -> CpuNative.conv2d_forward_cpu(p, q, null, r, 1, 1, 4, 4, 1, 3, 3, 1, 1, -1, 0, 0, 0, 1, 1, 1));
        rejects("groups", () -> CpuNative.conv2d_forward_cpu(p, q, null, r, 1, 3, 4, 4, 2, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2));
        rejects("kernel larger", () -> CpuNative.conv2d_forward_cpu(p, q, null, r, 1, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1));
        rejects("dx is null", () -> CpuNative.conv2d_backward_data_cpu(p, q, null, 1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1));
        rejects("x is null", () -> CpuNative.maxpool2d_forward_cpu(null, q, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 2, 2));
        rejects("non-positive size", () -> CpuNative.maxpool2d_forward_cpu(p, q, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0, 2));
        rejects("does not fit", () -> CpuNative.maxpool2d_forward_cpu(p, q, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 900, 2));
        rejects("dy is null", () -> CpuNative.maxpool2d_backward_cpu(p, null, r, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 2, 2));
        rejects("negative pad", () -> CpuNative.avgpool2d_forward_cpu(p, q, 1, 1, 4, 4, 2, 2, 2, 2, 0, -3, 0, 0, 1, 1, 2, 2, 0));
        rejects("dx is null", () -> CpuNative.avgpool2d_backward_cpu(p, null, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 2, 2, 1));
    }

    @Test
    void nativeElementwiseAndDenseRejectBadArguments() {
        long[] s4 = {4}, s3 = {3}, neg = {-4};
        rejects("unknown op", () -> CpuNative.binary_forward_cpu(9, p, s4, 1, q, s4, 1, r, s4, 1));
        rejects("a is null", () -> CpuNative.binary_forward_cpu(0, null, s4, 1, q, s4, 1, r, s4, 1));
        rejects("does not broadcast", () -> CpuNative.binary_forward_cpu(0, p, s3, 1, q, s4, 1, r, s4, 1));
        rejects("negative dim", () -> CpuNative.binary_forward_cpu(0, p, neg, 1, q, s4, 1, r, s4, 1));
        rejects("rank", () -> CpuNative.binary_forward_cpu(0, p, s4, 9, q, s4, 1, r, s4, 1));
        rejects("shape is null", () -> CpuNative.binary_forward_cpu(0, p, null, 1, q, s4, 1, r, s4, 1));
        rejects("slope is null", () -> CpuNative.prelu_forward_cpu(p, s4, 1, null, s4, 1, r));
        rejects("does not broadcast", () -> CpuNative.prelu_backward_cpu(p, s4, 1, q, s3, 1, q, r));
        rejects("does not broadcast", () -> CpuNative.reduce_sum_to_cpu(p, s4, 1, q, s3, 1));
        rejects("negative size", () -> CpuNative.channel_affine_cpu(p, q, null, r, 1, -2, 3));
        rejects("scale is null", () -> CpuNative.channel_affine_cpu(p, null, null, r, 1, 2, 3));
        rejects("negative length", () -> CpuNative.axpby_cpu(1, p, 1, q, -5));
        rejects("b is null", () -> CpuNative.gemm_cpu(p, null, null, 1, 1, r, 2, 2, 2, 0, 0, 1, 0));
        rejects("negative size", () -> CpuNative.gemm_cpu(p, q, null, 1, 1, r, 2, -2, 2, 0, 0, 1, 0));
        rejects("does not broadcast", () -> CpuNative.gemm_cpu(p, q, r, 3, 1, r, 2, 2, 2, 0, 0, 1, 1));
        rejects("batch shape is null", () -> CpuNative.matmul_cpu(p, null, q, null, 1, r, 2, 2, 2));
        rejects("do not broadcast", () -> CpuNative.matmul_cpu(p, new long[] {2}, q, new long[] {3}, 1, r, 2, 2, 2));
        rejects("negative size", () -> CpuNative.softmax_forward_cpu(p, q, 1, -1, 1));
        rejects("dy is null", () -> CpuNative.softmax_backward_cpu(p, null, r, 1, 1, 1));
        rejects("outside the output axis", () -> CpuNative.concat_forward_cpu(p, q, 1, 3, 4, 1, 2));
        rejects("outside the source axis", () -> CpuNative.slice_axis_cpu(p, q, 1, 4, 3, 1, -1));
        rejects("src is null", () -> CpuNative.slice_axis_cpu(null, q, 1, 4, 3, 1, 0));
        // a failing call leaves the buffers untouched: still usable afterwards
        assertEquals(0, CpuNative.fill_cpu(p, 4, 1f));
    }

    @Test
    void javaShapeMismatchesAreOneLine() {
        Conv2dGeometry g = new Conv2dGeometry(1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        try (Tensor x = B.zeros(1, 3, 8, 8); Tensor w = B.zeros(4, 3, 3, 3); Tensor wBad = B.zeros(4, 2, 3, 3);
                Tensor y = B.zeros(1, 4, 8, 8); Tensor yBad = B.zeros(1, 4, 7, 8); Tensor bias = B.zeros(5)) {
            oneLine(assertThrows(SalientException.class, () -> B.conv2dForward(x, wBad, null, y, g)),
                    "conv2dForward weight: expected shape [4, 3, 3, 3], got [4, 2, 3, 3]");
            oneLine(assertThrows(SalientException.class, () -> B.conv2dForward(x, w, null, yBad, g)), "conv2dForward y");
            oneLine(assertThrows(SalientException.class, () -> B.conv2dForward(x, w, bias, y, g)), "conv2dForward bias");
            oneLine(assertThrows(SalientException.class, () -> B.conv2dBackwardData(yBad, w, x, g)),
                    "conv2dBackwardData dy");
            Pool2dGeometry pg = new Pool2dGeometry(1, 3, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 4, 4, false);
            oneLine(assertThrows(SalientException.class, () -> B.maxPool2dForward(x, y, pg)), "maxPool2dForward y");
            oneLine(assertThrows(SalientException.class, () -> B.avgPool2dBackward(y, x, pg)), "avgPool2dBackward dy");
            oneLine(assertThrows(SalientException.class, () -> B.binary(BinaryOp.ADD, x, bias, y)), "do not broadcast");
            oneLine(assertThrows(SalientException.class, () -> B.binary(BinaryOp.MUL, x, x, y)), "mul y");
            oneLine(assertThrows(SalientException.class, () -> B.preluForward(x, bias, x)), "prelu slope");
            oneLine(assertThrows(SalientException.class, () -> B.reduceSumTo(x, bias)), "reduceSumTo dst");
            oneLine(assertThrows(SalientException.class, () -> B.channelAffine(x, bias, null, x)), "5 values for 3");
            oneLine(assertThrows(SalientException.class, () -> B.axpby(1, x, 1, y)), "differ in size");
            oneLine(assertThrows(SalientException.class, () -> B.matmul(x, w, y)), "matmul");
        }
        // geometry records check themselves too
        oneLine(assertThrows(SalientException.class,
                () -> new Conv2dGeometry(1, 3, 2, 2, 4, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1)), "kernel larger");
        oneLine(assertThrows(SalientException.class,
                () -> new Conv2dGeometry(1, 3, 8, 8, 4, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 2)), "groups=2");
        // each names the whole geometry, described only when a check fails
        oneLine(assertThrows(SalientException.class,
                () -> new Conv2dGeometry(1, 3, 2, 2, 4, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1)),
                "kernel larger than padded input in input (1,3,2,2), kernel 3x3, 4 filters, stride 1x1, pads (0,0,0,0)");
        oneLine(assertThrows(SalientException.class,
                () -> new Pool2dGeometry(1, 3, 8, 8, 2, 2, 2, 2, -1, 0, 0, 0, 1, 1, 4, 4, false)),
                "negative pad in input (1,3,8,8), window 2x2, stride 2x2, pads (-1,0,0,0)");
        oneLine(assertThrows(SalientException.class,
                () -> new Conv3dGeometry(1, 3, 4, 1, new int[] {4, 4, 4}, new int[] {3, 3, 3}, new int[] {1, 0, 1},
                        new int[] {0, 0, 0}, new int[] {0, 0, 0}, new int[] {1, 1, 1})),
                "strides and dilations must be positive in input (1,3,4x4x4), kernel 3x3x3, 4 filters, stride 1x0x1");
        oneLine(assertThrows(SalientException.class,
                () -> new Pool3dGeometry(1, 3, new int[] {4, 4, 4}, new int[] {2, 2, 2}, new int[] {2, 2, 2},
                        new int[] {0, 0, 0}, new int[] {0, 0, 0}, new int[] {1, 1, 1}, new int[] {2, 0, 2}, false)),
                "non-positive size in input (1,3,4x4x4), window 2x2x2, stride 2x2x2, pads 0x0x0/0x0x0, dilation 1x1x1, output 2x0x2");
    }

    @Test
    void closedTensorIsRejected() {
        Tensor t = B.zeros(4);
        t.close();
        assertThrows(IllegalStateException.class, () -> B.fill(t, 1f));
    }
}
