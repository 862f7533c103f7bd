package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The coalition methods from the CLI: a folder run writes the segment map it used
 * (segments.npy and one outline PNG per image), and that map given back as
 * {@code --segments segments.npy} reproduces the attributions; bad input is one line.
 */
class CoalitionsCliTest {
    static final Path MODEL = ExplainCommandTest.MODEL;
    static final Path IMAGES = ExplainCommandTest.IMAGES;

    @TempDir
    Path dir;

    @Test
    void aFolderRunWritesTheSegmentsItUsed() throws IOException {
        Path out = dir.resolve("res");
        CliRunner r = CliRunner.run("explain", "--model", MODEL.toString(), "--method", "kernelshap", "--segments", "slic:12",
                "--samples", "40", "--input", IMAGES.toString(), "--out", out.toString(), "--mean", "0.286", "--std", "0.353",
                "--batch", "3", "--no-progress");
        assertEquals(0, r.code(), r.err());
        NdArray seg = Npy.read(out.resolve("segments.npy"));
        assertArrayEquals(new long[] {8, 28, 28}, seg.shape());
        NdArray a = Npy.read(out.resolve("attributions.npy"));
        for (int i = 0; i < 8; i++) {
            double[] v = new double[65536];
            java.util.Arrays.fill(v, Double.NaN);
            for (int p = 0; p < 784; p++) {
                float l = seg.data()[i * 784 + p];
                assertEquals(Math.rint(l), l, 0, "integer labels");
                float got = a.data()[i * 784 + p];
                if (Double.isNaN(v[(int) l])) v[(int) l] = got;
                assertEquals(v[(int) l], got, 0, "one value per segment of image " + i);
            }
        }
        long outlines;
        try (var s = Files.list(out)) {
            outlines = s.filter(p -> p.getFileName().toString().endsWith("_segments.png")).count();
        }
        assertEquals(8, outlines);
        // the written map, given back, is the same features, and the random numbers of an image
        // are those of its index in the run whatever the batches: the same attributions (up to the
        // float rounding of logits computed in chunks of other sizes)
        Path again = dir.resolve("again.npy");
        r = CliRunner.run("explain", "--model", MODEL.toString(), "--method", "kernelshap", "--segments",
                out.resolve("segments.npy").toString(), "--samples", "40", "--input", IMAGES.toString(), "--out",
                again.toString(), "--mean", "0.286", "--std", "0.353", "--batch", "8", "--no-progress");
        assertEquals(0, r.code(), r.err());
        float max = 0;
        for (float v : a.data()) max = Math.max(max, Math.abs(v));
        dev.salient.engine.Parity.assertClose("segments.npy given back, --batch 8", Npy.read(again).data(), a.data(),
                1e-5 * max, 1e-5);
        // a rerun with --overwrite replaces segments.npy with the rest of the outputs
        r = CliRunner.run("explain", "--model", MODEL.toString(), "--method", "lime", "--segments", "grid:4", "--samples", "20",
                "--input", IMAGES.toString(), "--out", out.toString(), "--overwrite", "--no-progress");
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new long[] {8, 28, 28}, Npy.read(out.resolve("segments.npy")).shape());
    }

    @Test
    void badInputIsOneLine() throws IOException {
        Path in = dir.resolve("x.npy");
        Npy.write(in, new NdArray(new long[] {1, 1, 28, 28}, new float[784]));
        Path wrong = dir.resolve("wrong.npy");
        Npy.write(wrong, new NdArray(new long[] {27, 28}, new float[27 * 28]));
        String[][] cases = {
            {"shapley", "--segments", "slic:0"},
            {"lime", "--samples", "0"},
            {"shapley", "--segments", "grid:6", "--exact"},
            {"kernelshap", "--segments", wrong.toString()},
        };
        String[] words = {"slic:N needs N >= 1", "--samples must be at least 1", "shapley --exact needs 2^36", "do not match"};
        for (int k = 0; k < cases.length; k++) {
            String[] c = cases[k];
            String[] args = new String[8 + c.length - 1];
            String[] head = {"explain", "--model", MODEL.toString(), "--method", c[0], "--input", in.toString(), "--out"};
            System.arraycopy(head, 0, args, 0, head.length);
            String[] all = new String[args.length + 1];
            System.arraycopy(head, 0, all, 0, head.length);
            all[head.length] = dir.resolve("o" + k + ".npy").toString();
            System.arraycopy(c, 1, all, head.length + 1, c.length - 1);
            String line = CliRunner.run(all).errorLine();
            assertTrue(line.contains(words[k]), line);
        }
    }
}
