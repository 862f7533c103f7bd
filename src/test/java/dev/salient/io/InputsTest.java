package dev.salient.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.SalientException;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InputsTest {
    @TempDir
    Path dir;

    static final long[] MODEL = {-1, 3, 4, 4};

    static float[] seq(int n, float start) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = start + i;
        return v;
    }

    @Test
    void folderIsSortedAndBatchedAcrossFiles() throws IOException {
        Npy.write(dir.resolve("b.npy"), new long[] {3, 3, 4, 4}, seq(144, 0));
        Npy.write(dir.resolve("a.npy"), new long[] {3, 4, 4}, seq(48, 1000)); // one sample, no batch axis
        ImageIO.write(new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB), "png", dir.resolve("c.png").toFile());
        Files.writeString(dir.resolve("notes.txt"), "ignored");

        Inputs in = Inputs.open(dir, MODEL, Preprocess.defaults());
        assertEquals(List.of("a.npy", "b.npy", "c.png"), in.files().stream().map(p -> p.getFileName().toString()).toList());
        List<Inputs.Batch> bs = new ArrayList<>();
        for (Inputs.Batch b : in.batches(2)) bs.add(b);
        assertEquals(3, bs.size());
        assertArrayEquals(new long[] {2, 3, 4, 4}, bs.get(0).input().shape());
        assertEquals(1000f, bs.get(0).input().data()[0]);
        assertEquals(0f, bs.get(0).input().data()[48]);
        assertEquals(List.of(dir.resolve("b.npy") + "[1]", dir.resolve("b.npy") + "[2]"), bs.get(1).sources());
        assertEquals(48f, bs.get(1).input().data()[0]);
        assertNull(bs.get(1).rgb().get(0));
        assertEquals(List.of(dir.resolve("c.png").toString()), bs.get(2).sources());
        assertNotNull(bs.get(2).rgb().get(0));
        assertEquals((0 - 0.485f) / 0.229f, bs.get(2).input().data()[0], 1e-6f);

        Inputs.Batch all = in.all();
        assertArrayEquals(new long[] {5, 3, 4, 4}, all.input().shape());
        assertEquals(5, all.sources().size());
    }

    @Test
    void undeclaredRankTakesNpyAsIsButNotImages() throws IOException {
        Path x = dir.resolve("x.npy");
        Npy.write(x, new long[] {2, 5}, seq(10, 0));
        assertArrayEquals(new long[] {2, 5}, Inputs.open(x, null, Preprocess.defaults()).all().input().shape());
        Path img = dir.resolve("i.png");
        ImageIO.write(new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB), "png", img.toFile());
        assertTrue(fails(img, null).getMessage().contains("undeclared"));
        Path s = dir.resolve("s.npy");
        Npy.write(s, new long[] {}, new float[] {1f});
        assertTrue(fails(s, null).getMessage().contains("scalar"));
    }

    SalientException fails(Path input, long[] model) {
        SalientException e = assertThrows(SalientException.class, () -> Inputs.open(input, model, Preprocess.defaults()).all());
        assertFalse(e.getMessage().contains("\n"));
        return e;
    }

    @Test
    void rejectsWrongShapesAndNonFiniteValues() throws IOException {
        Path ch = dir.resolve("ch.npy");
        Npy.write(ch, new long[] {2, 1, 4, 4}, new float[32]);
        String m = fails(ch, MODEL).getMessage();
        assertTrue(m.contains("expects 3 input channels, got 1"), m);
        Path hw = dir.resolve("hw.npy");
        Npy.write(hw, new long[] {2, 3, 5, 4}, new float[120]);
        m = fails(hw, MODEL).getMessage();
        assertTrue(m.contains("expected input shape (N,3,4,4), got (2,3,5,4)"), m);
        Path rank = dir.resolve("rank.npy");
        Npy.write(rank, new long[] {48}, new float[48]);
        assertTrue(fails(rank, MODEL).getMessage().contains("got (48)"));
        Path nan = dir.resolve("nan.npy");
        float[] v = new float[48];
        v[7] = Float.NaN;
        Npy.write(nan, new long[] {1, 3, 4, 4}, v);
        m = fails(nan, MODEL).getMessage();
        assertTrue(m.startsWith(nan.toString()) && m.contains("NaN") && m.contains("index 7"), m);
        v[7] = Float.NEGATIVE_INFINITY;
        Npy.write(nan, new long[] {1, 3, 4, 4}, v);
        assertTrue(fails(nan, MODEL).getMessage().contains("infinite"));
        assertTrue(fails(dir.resolve("missing.npy"), MODEL).getMessage().contains("no such file"));
        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertTrue(fails(empty, MODEL).getMessage().contains("no .png"));
        Path txt = Files.writeString(dir.resolve("x.txt"), "hi");
        assertTrue(fails(txt, MODEL).getMessage().contains("unknown input type"));
        Path img = dir.resolve("i.png");
        ImageIO.write(new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB), "png", img.toFile());
        assertTrue(fails(img, new long[] {-1, 48}).getMessage().contains("4-D"));
    }
}
