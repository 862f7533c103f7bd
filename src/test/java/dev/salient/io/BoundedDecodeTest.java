package dev.salient.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.SalientException;
import dev.salient.report.NpyStreamWriter;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image sizes are known before decoding and resizing computes only the crop
 * window; the streaming NPY writer leaves a valid file after every append.
 */
class BoundedDecodeTest {
    @TempDir
    Path dir;

    @Test
    void theWindowOfAResizeEqualsTheCropOfTheFullResize() {
        Random r = new Random(4);
        int[][] cases = {{5, 6, 2, 3}, {7, 9, 3, 20}, {10, 20, 5, 10}, {9, 4, 30, 13}, {16, 16, 7, 7}, {3, 50, 12, 200}};
        for (int[] c : cases) {
            int h = c[0], w = c[1], oh = c[2], ow = c[3];
            float[] src = new float[2 * h * w];
            for (int i = 0; i < src.length; i++) src[i] = r.nextFloat();
            float[] full = Images.resize(src, 2, h, w, oh, ow);
            for (int t = 0; t < 5; t++) {
                int ch = 1 + r.nextInt(oh), cw = 1 + r.nextInt(ow);
                int top = r.nextInt(oh - ch + 1), left = r.nextInt(ow - cw + 1);
                float[] want = Images.crop(full, 2, oh, ow, top, left, ch, cw);
                float[] got = Images.resizeWindow(src, 2, h, w, oh, ow, top, left, ch, cw);
                assertArrayEquals(want, got, 0f, h + "x" + w + " -> " + oh + "x" + ow + " window " + top + "," + left);
            }
        }
    }

    @Test
    void anExtremeResizeComputesOnlyTheWindow() {
        // 1 x 1,000,000 resized to a shorter side of 4: 4 x 4,000,000 in full (64 MB a plane), 4x4 here
        float[] src = new float[3 * 1_000_000];
        java.util.Arrays.fill(src, 0.5f);
        float[] got = Images.resizeWindow(src, 3, 1, 1_000_000, 4, 4_000_000L, 0, 1_999_998L, 4, 4);
        assertEquals(3 * 16, got.length);
        for (float v : got) assertEquals(0.5f, v, 1e-6f);
    }

    @Test
    void decodeChecksTheHeaderFirst() throws Exception {
        Path big = Png.write(dir.resolve("big.png"), 23_000, 23_000, 6, 16, 1, 10);
        SalientException e = assertThrows(SalientException.class, () -> Images.decode(big));
        assertTrue(e.getMessage().contains("23000x23000") && e.getMessage().contains("MiB"), e.getMessage());
        Path ok = Png.write(dir.resolve("ok.png"), 300, 200, 2, 8, 51);
        Images.Decoded d = Images.decode(ok);
        assertEquals(200, d.height());
        assertEquals(300, d.width());
        assertEquals(0.2f, d.rgb()[0], 1e-6f);
    }

    @Test
    void theStreamingNpyIsValidAfterEveryAppend() {
        Path p = dir.resolve("rows.npy");
        NpyStreamWriter w = new NpyStreamWriter(p, 2, 3);
        try {
            assertArrayEquals(new long[] {0, 2, 3}, Npy.read(p).shape());
            float[] rows = new float[18];
            for (int i = 0; i < rows.length; i++) rows[i] = i;
            w.append(rows, 0, 12);
            NdArray a = Npy.read(p); // before close: the header already counts the rows
            assertArrayEquals(new long[] {2, 2, 3}, a.shape());
            assertEquals(11f, a.data()[11]);
            w.append(rows, 12, 6);
            assertArrayEquals(new long[] {3, 2, 3}, Npy.read(p).shape());
        } finally {
            w.close();
        }
        assertThrows(SalientException.class, () -> new NpyStreamWriter(dir.resolve("empty.npy"), 8, 0));
    }
}
