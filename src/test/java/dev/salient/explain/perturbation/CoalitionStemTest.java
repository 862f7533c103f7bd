package dev.salient.explain.perturbation;

import static dev.salient.model.OnnxBuilder.attr;
import static dev.salient.model.OnnxBuilder.attrs;
import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Activation;
import dev.salient.model.Model;
import dev.salient.model.OnnxBuilder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which first convs the perturbation methods evaluate by their linearity ({@link CoalitionStem#of}):
 * a Conv on the image input (groups 1, dilation 1, explicit pads, constant weights), then the
 * Relu or Clip that alone reads it, then the MaxPool (floor mode) that alone reads that; anything
 * else stops the stem where it is, or rules it out.
 */
class CoalitionStemTest {
    @TempDir
    Path dir;

    /** x (1,3,16,16) -> Conv(8, 3x3, stride 2, pad 1) -> what {@code tail} adds -> GlobalAveragePool -> y. */
    CoalitionStem stem(String name, UnaryOperator<OnnxBuilder> head, UnaryOperator<OnnxBuilder> tail) throws IOException {
        Random r = new Random(1);
        OnnxBuilder b = new OnnxBuilder().opset(13).input("x", 1, 3, 16, 16).output("y", 1, 8, 1, 1)
                .init("w", OnnxBuilder.random(r, 8 * 3 * 9, 0.2f), 8, 3, 3, 3).init("bias", OnnxBuilder.random(r, 8, 0.1f), 8);
        b = head.apply(b);
        b = tail.apply(b);
        try (Model m = Model.load(b.write(dir, name + ".onnx"))) {
            return CoalitionStem.of(m);
        }
    }

    static OnnxBuilder conv(OnnxBuilder b, String input, long group) {
        return b.node("Conv", "conv", in(input, "w", "bias"), in("c"), attrs("kernel_shape", 3, 3), attrs("strides", 2, 2),
                attrs("pads", 1, 1, 1, 1), attr("group", group));
    }

    @Test
    void resnetsStemTakesItsReluAndPool() throws IOException {
        CoalitionStem s = stem("pool", b -> conv(b, "x", 1), b -> b.node("Relu", "relu", in("c"), in("r"))
                .node("MaxPool", "pool", in("r"), in("p"), attrs("kernel_shape", 3, 3), attrs("strides", 2, 2), attrs("pads", 1, 1, 1, 1))
                .node("GlobalAveragePool", "gap", in("p"), in("y")));
        assertNotNull(s);
        assertEquals(Activation.RELU, s.act());
        assertArrayEquals(new int[] {3, 3, 2, 2, 1, 1}, s.pool());
        assertEquals("p", s.from());
    }

    @Test
    void aClipWithConstantBoundsAndNoPool() throws IOException {
        CoalitionStem s = stem("clip", b -> conv(b, "x", 1).initFloat("lo", 0f).initFloat("hi", 6f),
                b -> b.node("Clip", "clip", in("c", "lo", "hi"), in("r")).node("GlobalAveragePool", "gap", in("r"), in("y")));
        assertNotNull(s);
        assertEquals(Activation.CLIP, s.act());
        assertEquals(0f, s.lo());
        assertEquals(6f, s.hi());
        assertNull(s.pool());
        assertEquals("r", s.from());
    }

    @Test
    void anActivationReadTwiceKeepsTheStemBeforeThePool() throws IOException {
        CoalitionStem s = stem("twice", b -> conv(b, "x", 1), b -> b.node("Relu", "relu", in("c"), in("r"))
                .node("MaxPool", "pool", in("r"), in("p"), attrs("kernel_shape", 1, 1))
                .node("Add", "add", in("p", "r"), in("a")).node("GlobalAveragePool", "gap", in("a"), in("y")));
        assertNotNull(s);
        assertNull(s.pool(), "the Relu's output has two readers");
        assertEquals("r", s.from());
    }

    @Test
    void aCeilModePoolIsNotTaken() throws IOException {
        CoalitionStem s = stem("ceil", b -> conv(b, "x", 1), b -> b.node("Relu", "relu", in("c"), in("r"))
                .node("MaxPool", "pool", in("r"), in("p"), attrs("kernel_shape", 2, 2), attrs("strides", 2, 2), attr("ceil_mode", 1))
                .node("GlobalAveragePool", "gap", in("p"), in("y")));
        assertNotNull(s);
        assertNull(s.pool());
        assertEquals("r", s.from());
    }

    @Test
    void noStemBehindPreprocessingOrForGroupedConvs() throws IOException {
        assertNull(stem("sub", b -> conv(b.initFloat("mean", 0.5f).node("Sub", "sub", in("x", "mean"), in("xs")), "xs", 1),
                b -> b.node("Relu", "relu", in("c"), in("r")).node("GlobalAveragePool", "gap", in("r"), in("y"))),
                "the input is preprocessed before the conv");
        Random r = new Random(2);
        OnnxBuilder g = new OnnxBuilder().opset(13).input("x", 1, 3, 16, 16).output("y", 1, 6, 1, 1)
                .init("wg", OnnxBuilder.random(r, 6 * 9, 0.2f), 6, 1, 3, 3)
                .node("Conv", "conv", in("x", "wg"), in("c"), attrs("kernel_shape", 3, 3), attrs("pads", 1, 1, 1, 1), attr("group", 3))
                .node("Relu", "relu", in("c"), in("r")).node("GlobalAveragePool", "gap", in("r"), in("y"));
        try (Model m = Model.load(g.write(dir, "grouped.onnx"))) {
            assertNull(CoalitionStem.of(m), "a grouped conv");
        }
    }
}
