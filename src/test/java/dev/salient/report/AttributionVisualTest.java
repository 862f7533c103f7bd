package dev.salient.report;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.SalientException;
import dev.salient.explain.Attribution;
import dev.salient.report.AttributionVisual.Sign;
import dev.salient.report.AttributionVisual.Style;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Overlays of signed input-shaped maps against scripts/make_overlay_fixtures.py, a numpy
 * re-implementation of Captum's _normalize_attr and _cumulative_sum_threshold and matplotlib's
 * colormaps: thresholds, normalised values and drawn pixels must be equal, bit for bit.
 */
class AttributionVisualTest {
    static JsonObject fx;
    static final Map<String, float[]> INPUTS = new HashMap<>();
    static final Map<String, int[]> SHAPES = new HashMap<>();

    @BeforeAll
    static void load() throws IOException {
        fx = JsonParser.parseString(Files.readString(Path.of("src/test/resources/fixtures/overlay/captum_visual.json")))
                .getAsJsonObject();
        for (Map.Entry<String, JsonElement> e : fx.getAsJsonObject("inputs").entrySet()) {
            JsonObject o = e.getValue().getAsJsonObject();
            INPUTS.put(e.getKey(), floats(o.getAsJsonArray("data")));
            JsonArray s = o.getAsJsonArray("shape");
            SHAPES.put(e.getKey(), new int[] {s.get(0).getAsInt(), s.get(1).getAsInt(), s.get(2).getAsInt()});
        }
    }

    static float[] floats(JsonArray a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) f[i] = (float) a.get(i).getAsDouble();
        return f;
    }

    static int[] ints(JsonArray a) {
        int[] f = new int[a.size()];
        for (int i = 0; i < f.length; i++) f[i] = a.get(i).getAsInt();
        return f;
    }

    @Test
    void normalisationEqualsCaptumBitForBit() {
        JsonArray cases = fx.getAsJsonArray("cases");
        assertTrue(cases.size() >= 50, "cases: " + cases.size());
        for (JsonElement ce : cases) {
            JsonObject c = ce.getAsJsonObject();
            String in = c.get("input").getAsString();
            int[] s = SHAPES.get(in);
            Sign sign = Sign.parse(c.get("sign").getAsString());
            double perc = c.get("outlier_perc").getAsDouble();
            String what = in + " sign " + sign.cli() + " outliers " + perc + "%";
            float[] attr = INPUTS.get(in);
            // the threshold: Captum's, of the kept magnitudes after the channel sum
            float[] sum = new float[s[1] * s[2]];
            for (int ch = 0; ch < s[0]; ch++)
                for (int i = 0; i < sum.length; i++) sum[i] = ch == 0 ? attr[i] : sum[i] + attr[ch * sum.length + i];
            float[] mag = new float[sum.length];
            for (int i = 0; i < sum.length; i++)
                mag[i] = switch (sign) {
                    case POSITIVE -> Math.max(sum[i], 0f);
                    case NEGATIVE -> Math.max(-sum[i], 0f);
                    default -> Math.abs(sum[i]);
                };
            float thr = AttributionVisual.cumulativeSumThreshold(mag, 100 - perc);
            float want = (float) c.get("threshold").getAsDouble();
            assertEquals(Math.abs(want), thr, 0f, what + ": threshold");
            float[] got = AttributionVisual.normalize(attr, s[0], s[1], s[2], sign, perc);
            float[] ref = floats(c.getAsJsonArray("norm"));
            assertEquals(ref.length, got.length);
            for (int i = 0; i < ref.length; i++)
                assertEquals(Float.floatToIntBits(ref[i] + 0f), Float.floatToIntBits(got[i] + 0f),
                        what + ": element " + i + " ref " + ref[i] + " got " + got[i]);
        }
    }

    @Test
    void colormapsAreMatplotlibs() {
        Map<String, Colormap> byName = Map.of("greens", Colormap.GREENS, "reds", Colormap.REDS, "blues", Colormap.BLUES,
                "rdwhgn", Colormap.RDWHGN);
        for (Map.Entry<String, JsonElement> e : fx.getAsJsonObject("luts").entrySet()) {
            int[] ref = ints(e.getValue().getAsJsonArray());
            Colormap cm = byName.get(e.getKey());
            for (int k = 0; k < 256; k++)
                assertEquals(Integer.toHexString(ref[k]), Integer.toHexString(cm.rgbFloor(k / 256f)), e.getKey() + " entry " + k);
            assertEquals(ref[255], cm.rgbFloor(1f), e.getKey() + " at 1");
            assertEquals(ref[0], cm.rgbFloor(-0.5f), e.getKey() + " below 0");
        }
    }

    @Test
    void drawnPixelsEqualTheReference() {
        String in = fx.get("drawn_input").getAsString();
        int[] s = SHAPES.get(in);
        int h = s[1], w = s[2];
        int[] baseRgb = ints(fx.getAsJsonArray("base_rgb"));
        BufferedImage base = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        base.setRGB(0, 0, w, h, baseRgb, 0, w);
        JsonArray drawn = fx.getAsJsonArray("drawn");
        assertEquals(11, drawn.size());
        for (JsonElement de : drawn) {
            JsonObject d = de.getAsJsonObject();
            Sign sign = Sign.parse(d.get("sign").getAsString());
            Style style = Style.parse(d.get("style").getAsString());
            float[] norm = AttributionVisual.normalize(INPUTS.get(in), s[0], h, w, sign, 2);
            BufferedImage img = AttributionVisual.render(base, norm, h, w, sign, style, null, d.get("alpha").getAsFloat());
            int[] got = img.getRGB(0, 0, w, h, null, 0, w);
            int[] ref = ints(d.getAsJsonArray("rgb"));
            for (int i = 0; i < ref.length; i++)
                assertEquals(Integer.toHexString(ref[i]), Integer.toHexString(got[i] & 0xffffff),
                        sign.cli() + "/" + style.cli() + " pixel " + i);
        }
    }

    @Test
    void aMapWithNothingOfTheSignIsBlankNotAnError() {
        float[] pos = {1f, 2f, 0f, 3f};
        assertArrayEquals(new float[4], AttributionVisual.normalize(pos, 1, 2, 2, Sign.NEGATIVE, 2));
        assertArrayEquals(new float[4], AttributionVisual.normalize(new float[4], 1, 2, 2, Sign.ALL, 2));
        // all: the largest value holds 50% of the total: with 2% outliers it is the threshold, so it alone is 1
        float[] n = AttributionVisual.normalize(new float[] {-1f, 1f, 2f, 0f}, 1, 2, 2, Sign.ALL, 2);
        assertArrayEquals(new float[] {-0.5f, 0.5f, 1f, 0f}, n);
    }

    @Test
    void badValuesAreOneLine() {
        assertEquals("--sign must be positive, negative, absolute or all, got 'both'",
                assertThrows(SalientException.class, () -> Sign.parse("both")).getMessage());
        assertEquals("--style must be heat, blended or masked, got 'glow'",
                assertThrows(SalientException.class, () -> Style.parse("glow")).getMessage());
        assertTrue(assertThrows(SalientException.class, () -> AttributionVisual.check(Sign.ALL, Style.MASKED, 2))
                .getMessage().contains("--style masked cannot show both signs"));
        assertTrue(assertThrows(SalientException.class, () -> AttributionVisual.check(Sign.ALL, Style.HEAT, 101))
                .getMessage().startsWith("--outlier-perc must be in [0,100]"));
        assertTrue(assertThrows(SalientException.class, () -> AttributionVisual.check(Sign.ALL, Style.HEAT, Double.NaN))
                .getMessage().startsWith("--outlier-perc must be in [0,100]"));
        assertEquals(Sign.ABSOLUTE, Sign.parse("absolute_value"));
        assertEquals(Style.BLENDED, Style.parse("blended_heat_map"));
        assertEquals(Style.MASKED, Style.parse("masked_image"));
        assertEquals(Style.HEAT, Style.parse("heat_map"));
    }

    @Test
    void overlaysAreReadableSizes() {
        OverlayStyle look = OverlayStyle.defaults();
        // Fashion-MNIST: 28 x 28 -> 224 x 224, every input pixel an 8 x 8 block
        float[] cam = new float[28 * 28];
        for (int i = 0; i < cam.length; i++) cam[i] = (i % 28) / 27f;
        BufferedImage img = look.render(Attribution.Layout.CAM, cam, new long[] {28, 28}, null);
        assertEquals(224, img.getWidth());
        assertEquals(224, img.getHeight());
        BufferedImage small = look.renderAtInputSize(Attribution.Layout.CAM, cam, new long[] {28, 28}, null);
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 224; x++)
                assertEquals(small.getRGB(x / 8, y / 8), img.getRGB(x, y), "nearest block at " + x + "," + y);
        // input-shaped, 3 x 20 x 30 with the input underneath -> factor 12 -> 240 x 360
        float[] ig = new float[3 * 20 * 30];
        for (int i = 0; i < ig.length; i++) ig[i] = (float) Math.sin(i);
        BufferedImage photo = new BufferedImage(30, 20, BufferedImage.TYPE_INT_RGB);
        img = look.render(Attribution.Layout.INPUT, ig, new long[] {3, 20, 30}, photo);
        assertEquals(360, img.getWidth());
        assertEquals(240, img.getHeight());
        // large enough already: as is
        img = look.render(Attribution.Layout.CAM, new float[224 * 300], new long[] {224, 300}, null);
        assertEquals(300, img.getWidth());
        assertEquals(224, img.getHeight());
        // a thin strip stops at 4096 px on its long side
        assertEquals(2, Overlay.readableFactor(5, 2000));
        // layer-shaped (K,h,w) at the layer's size, scaled up
        img = look.render(Attribution.Layout.LAYER, new float[4 * 7 * 7], new long[] {4, 7, 7}, null);
        assertEquals(224, img.getWidth());
    }

    @Test
    void contactSheetHasACellPerMapAndCountsTheRowsItDrops() {
        ContactSheet s = new ContactSheet("t", List.of("input", "gradcam", "ig"), 2);
        BufferedImage a = new BufferedImage(224, 224, BufferedImage.TYPE_INT_RGB);
        BufferedImage big = new BufferedImage(500, 400, BufferedImage.TYPE_INT_RGB);
        for (int r = 0; r < 5; r++) s.addRow("row " + r, List.of(a, big, a));
        assertEquals(2, s.rows());
        assertEquals(5, s.total());
        BufferedImage img = s.render();
        assertEquals(ContactSheet.PAD + 3 * (ContactSheet.CELL + ContactSheet.PAD), img.getWidth());
        assertEquals(2 * ContactSheet.HEADER + ContactSheet.PAD + 2 * (ContactSheet.LABEL + ContactSheet.CELL + ContactSheet.PAD),
                img.getHeight());
        assertEquals(224, ContactSheet.thumbnail(big).getWidth());
        assertEquals(179, ContactSheet.thumbnail(big).getHeight());
        assertEquals(224, ContactSheet.thumbnail(new BufferedImage(28, 28, BufferedImage.TYPE_INT_RGB)).getWidth());
    }
}
