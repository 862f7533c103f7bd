package dev.salient.explain.perturbation;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.Engine;
import dev.salient.engine.HostSegmentation;
import dev.salient.engine.SalientException;
import dev.salient.engine.Tensor;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * SLIC against scikit-image's {@code slic} on photographs scikit-image ships
 * (scripts/make_slic_fixtures.py): adjusted Rand index ≥ 0.9 at the same parameters, for
 * RGB (Lab) and grayscale images; and the segmentation through {@link Segments}.
 */
class SlicTest {
    static final Path ROOT = Path.of("src/test/resources/fixtures/shap");

    static Stream<Arguments> cases() throws IOException {
        JsonObject m = JsonParser.parseString(Files.readString(ROOT.resolve("slic_manifest.json"))).getAsJsonObject();
        List<Arguments> out = new ArrayList<>();
        for (JsonElement c : m.getAsJsonArray("cases")) out.add(Arguments.of(c.getAsJsonObject().get("id").getAsString(), c));
        return out.stream();
    }

    /** The image (C,H,W) in [0,1] from the stored uint8 (H,W,C) or (H,W). */
    static float[] planar(NdArray img) {
        int h = (int) img.dim(0), w = (int) img.dim(1), c = img.rank() == 3 ? (int) img.dim(2) : 1;
        float[] d = img.data(), out = new float[c * h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++) out[(k * h + y) * w + x] = d[(y * w + x) * c + k] / 255f;
        return out;
    }

    /** The adjusted Rand index of two labelings (Hubert and Arabie 1985), as sklearn's adjusted_rand_score. */
    static double adjustedRand(int[] a, int[] b) {
        Map<Long, Long> pairs = new HashMap<>();
        Map<Integer, Long> ra = new HashMap<>(), rb = new HashMap<>();
        for (int i = 0; i < a.length; i++) {
            pairs.merge(((long) a[i] << 32) | (b[i] & 0xffffffffL), 1L, Long::sum);
            ra.merge(a[i], 1L, Long::sum);
            rb.merge(b[i], 1L, Long::sum);
        }
        double sij = 0, sa = 0, sb = 0;
        for (long v : pairs.values()) sij += v * (v - 1) / 2.0;
        for (long v : ra.values()) sa += v * (v - 1) / 2.0;
        for (long v : rb.values()) sb += v * (v - 1) / 2.0;
        double n2 = a.length * (a.length - 1.0) / 2, expected = sa * sb / n2, max = (sa + sb) / 2;
        return max == expected ? 1.0 : (sij - expected) / (max - expected);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesScikitImage(String id, JsonObject c) {
        NdArray img = Npy.read(ROOT.resolve(c.get("image").getAsString()));
        NdArray ref = Npy.read(ROOT.resolve(c.get("labels").getAsString()));
        int h = (int) img.dim(0), w = (int) img.dim(1), ch = img.rank() == 3 ? (int) img.dim(2) : 1;
        int[] got = HostSegmentation.slic(planar(img), ch, h, w, c.get("n_segments").getAsInt(),
                c.get("compactness").getAsDouble());
        int[] want = new int[ref.data().length];
        for (int i = 0; i < want.length; i++) want[i] = (int) ref.data()[i];
        double ari = adjustedRand(got, want);
        int max = 0;
        for (int v : got) max = Math.max(max, v + 1);
        System.out.printf("%s: ARI %.4f, %d segments (skimage %d)%n", id, ari, max, c.get("segments").getAsInt());
        assertTrue(ari >= 0.9, id + ": adjusted Rand index " + ari + " < 0.9");
        // labels are 0..M-1 and all used, as skimage's with start_label=0
        boolean[] seen = new boolean[max];
        for (int v : got) seen[v] = true;
        for (boolean s : seen) assertTrue(s, id + ": a label in 0..M-1 is unused");
    }

    @Test
    void segmentsResolveSlicPerImageFromTheBatchOrTheGivenPixels() throws IOException {
        JsonObject c = cases().findFirst().orElseThrow().get()[1] instanceof JsonObject o ? o : null;
        NdArray img = Npy.read(ROOT.resolve(c.get("image").getAsString()));
        int h = (int) img.dim(0), w = (int) img.dim(1);
        float[] px = planar(img);
        // the model input: the same picture normalised per channel, and a flipped copy
        float[] batch = new float[2 * px.length];
        float[] mean = {0.485f, 0.456f, 0.406f}, std = {0.229f, 0.224f, 0.225f};
        int plane = h * w;
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < plane; p++) {
                batch[k * plane + p] = (px[k * plane + p] - mean[k]) / std[k];
                batch[px.length + k * plane + p] = px[k * plane + (plane - 1 - p)];
            }
        Segments s = Segments.parse("slic:50:10");
        try (Tensor x = Engine.cpu().upload(batch, 2, 3, h, w)) {
            Segments.Resolved onInput = s.resolve(x);
            assertFalse(onInput.shared());
            assertArrayEquals(HostSegmentation.slic(java.util.Arrays.copyOfRange(batch, px.length, 2 * px.length), 3, h, w, 50, 10),
                    onInput.of(1));
            // given the decoded pixels of image 0, SLIC segments them rather than the normalised input
            Segments.Resolved onPixels = s.on(java.util.Arrays.asList(new NdArray(new long[] {3, h, w}, px), null)).resolve(x);
            assertArrayEquals(HostSegmentation.slic(px, 3, h, w, 50, 10), onPixels.of(0));
            assertArrayEquals(onInput.of(1), onPixels.of(1));
            int m = 0;
            for (int i = 0; i < 2; i++) for (int v : onPixels.of(i)) m = Math.max(m, v + 1);
            assertEquals(m, onPixels.count());
        }
    }

    @Test
    void slicIsTheSameWhateverTheThreadCount() {
        NdArray img = Npy.read(ROOT.resolve("slic/coffee_n100_c20_image.npy"));
        int h = (int) img.dim(0), w = (int) img.dim(1);
        float[] px = planar(img);
        int[] a = HostSegmentation.slic(px, 3, h, w, 100, 20);
        int before = dev.salient.engine.CpuNative.salient_get_num_threads();
        try {
            dev.salient.engine.CpuNative.salient_set_num_threads(1);
            assertArrayEquals(a, HostSegmentation.slic(px, 3, h, w, 100, 20));
        } finally {
            dev.salient.engine.CpuNative.salient_set_num_threads(before);
        }
    }

    @Test
    void badSlicOptionsAreOneLine() {
        for (String bad : new String[] {"slic:0", "slic:-3", "slic:x", "slic:50:0", "slic:50:-1", "slic:50:nan", "slic:1:2:3"}) {
            SalientException e = assertThrows(SalientException.class, () -> Segments.parse(bad), bad);
            assertFalse(e.getMessage().contains("\n"), bad);
            assertTrue(e.getMessage().contains("slic"), bad + ": " + e.getMessage());
        }
        assertThrows(SalientException.class, () -> HostSegmentation.slic(new float[5], 3, 1, 2, 4, 10));
        assertEquals("slic:50:10.0", Segments.parse("slic").describe());
    }
}
