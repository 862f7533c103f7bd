package dev.salient.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.SalientException;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImagesTest {
    @TempDir
    Path dir;

    static float[] source() {
        // x[h][w] = (h*6 + w)^1.5 / 10, 5x6
        float[] x = new float[30];
        for (int i = 0; i < 30; i++) x[i] = (float) (Math.pow(i, 1.5) / 10);
        return x;
    }

    static void near(float[] ref, float[] got, float atol) {
        assertEquals(ref.length, got.length);
        for (int i = 0; i < ref.length; i++)
            assertTrue(Math.abs(got[i] - ref[i]) <= atol + 1e-6f * Math.abs(ref[i]),
                    "index " + i + ": got " + got[i] + ", expected " + ref[i]);
    }

    /** References from torch.nn.functional.interpolate(x, size, mode='bilinear', align_corners=False, antialias=True). */
    @Test
    void resizeMatchesTorchAntialiasedBilinear() {
        near(new float[] {2.1408113f, 2.8280185f, 3.6101249f, 8.3350299f, 9.5115460f, 10.7380841f},
                Images.resize(source(), 1, 5, 6, 2, 3), 2e-6f);
        near(new float[] {0.6298688f, 0.8035112f, 1.0311914f, 1.2927184f, 1.5820440f, 1.8959812f, 2.2024283f, 4.3330560f,
                4.7439363f, 5.2061144f, 5.6833234f, 6.1750767f, 6.6809335f, 7.1559775f, 9.9914947f, 10.5420852f,
                11.1529815f, 11.7750923f, 12.4082237f, 13.0521914f, 13.6513070f}, Images.resize(source(), 1, 5, 6, 3, 7), 2e-6f);
        // enlarging is plain bilinear (antialias=False gives the same values)
        float[] up = Images.resize(source(), 1, 5, 6, 8, 9);
        float[] ref = {0.0000000f, 0.0500000f, 0.1304738f, 0.2523689f, 0.4012290f, 0.5663460f, 0.7532692f, 0.9590170f,
                1.1180340f, 0.6429911f, 0.7547512f, 0.9136009f, 1.1019590f, 1.3112910f, 1.5335274f, 1.7735027f, 2.0292581f,
                2.2250198f};
        near(ref, java.util.Arrays.copyOf(up, 18), 2e-6f);
        assertEquals(15.6169779f, up[71], 2e-5f);
    }

    /** The whole pipeline equals torchvision's Resize(antialias=True) + CenterCrop + Normalize (fixtures/images). */
    @Test
    void preprocessingMatchesTorchvision() throws Exception {
        Path png = Path.of(ImagesTest.class.getResource("/fixtures/images/photo.png").toURI());
        for (String[] c : new String[][] {{"shrink", "20", "16"}, {"grow", "48", "40"}}) {
            int size = Integer.parseInt(c[1]), crop = Integer.parseInt(c[2]);
            NdArray ref = Npy.read(png.resolveSibling("photo_" + c[0] + "_" + size + "_" + crop + ".npy"));
            NdArray got = Images.load(png, Preprocess.defaults().withResize(size).resolve(3, crop, crop)).input();
            assertArrayEquals(ref.shape(), got.shape());
            near(ref.data(), got.data(), 2e-5f);
        }
    }

    @Test
    void decodesJpeg() throws IOException {
        BufferedImage img = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) img.setRGB(x, y, 200 << 16 | 100 << 8 | 50);
        Path p = dir.resolve("a.JPG");
        assertTrue(ImageIO.write(img, "jpeg", p.toFile()));
        assertTrue(Images.isImage(p));
        Images.Decoded d = Images.decode(p);
        assertEquals(200 / 255f, d.rgb()[0], 3 / 255f);
        assertEquals(100 / 255f, d.rgb()[256], 3 / 255f);
        assertEquals(50 / 255f, d.rgb()[512], 3 / 255f);
    }

    @Test
    void resizeKeepsConstantsAndPlanes() {
        float[] x = new float[2 * 7 * 9];
        java.util.Arrays.fill(x, 0, 63, 0.3f);
        java.util.Arrays.fill(x, 63, 126, -2f);
        float[] y = Images.resize(x, 2, 7, 9, 3, 20);
        for (int i = 0; i < 60; i++) assertEquals(0.3f, y[i], 1e-6f);
        for (int i = 60; i < 120; i++) assertEquals(-2f, y[i], 1e-6f);
    }

    Path png(String name, BufferedImage img) throws IOException {
        Path p = dir.resolve(name);
        assertTrue(ImageIO.write(img, "png", p.toFile()));
        return p;
    }

    @Test
    void decodesRgbAndPreprocessesWithImagenetDefaults() throws IOException {
        BufferedImage img = new BufferedImage(6, 4, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 6; x++) img.setRGB(x, y, (x * 40) << 16 | (y * 60) << 8 | 17);
        Path p = png("a.png", img);
        Images.Decoded d = Images.decode(p);
        assertEquals(4, d.height());
        assertEquals(6, d.width());
        assertEquals(200 / 255f, d.rgb()[5], 0f); // R at (0,5)
        assertEquals(180 / 255f, d.rgb()[24 + 3 * 6], 0f); // G at (3,0)

        // shorter side 4 already equals the crop: centre crop 4x4 from columns 1..4
        Images.Loaded l = Images.load(p, Preprocess.defaults().resolve(3, 4, 4));
        assertArrayEquals(new long[] {1, 3, 4, 4}, l.input().shape());
        assertArrayEquals(new long[] {3, 4, 4}, l.rgb().shape());
        assertEquals(40 / 255f, l.rgb().data()[0], 1e-7f);
        float r = 40 / 255f, g = 0f, b = 17 / 255f;
        assertEquals((r - 0.485f) / 0.229f, l.input().data()[0], 1e-6f);
        assertEquals((g - 0.456f) / 0.224f, l.input().data()[16], 1e-6f);
        assertEquals((b - 0.406f) / 0.225f, l.input().data()[32], 1e-6f);

        // grayscale model: luma, mean 0 std 1
        Images.Loaded gray = Images.load(p, Preprocess.defaults().resolve(1, 4, 4));
        assertArrayEquals(new long[] {1, 1, 4, 4}, gray.input().shape());
        assertEquals(0.299f * r + 0.587f * g + 0.114f * b, gray.input().data()[0], 1e-6f);
    }

    @Test
    void resizeShorterSideThenCentreCrop() throws IOException {
        BufferedImage img = new BufferedImage(20, 10, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 20; x++) img.setRGB(x, y, (x * 12) << 16 | (y * 25) << 8);
        Path p = png("wide.png", img);
        Preprocess.Resolved res = Preprocess.defaults().withResize(5).withMean(0f).withStd(1f).resolve(3, 4, 4);
        Images.Loaded l = Images.load(p, res);
        // 20x10 -> 10x5, crop 4x4 at top round(0.5)=0, left 3
        float[] resized = Images.resize(Images.decode(p).rgb(), 3, 10, 20, 5, 10);
        float[] expect = Images.crop(resized, 3, 5, 10, 0, 3, 4, 4);
        assertArrayEquals(expect, l.input().data(), 0f);
        assertArrayEquals(expect, l.rgb().data(), 0f);
    }

    @Test
    void grayPngKeepsItsValues() throws IOException {
        BufferedImage img = new BufferedImage(3, 3, BufferedImage.TYPE_BYTE_GRAY);
        img.getRaster().setSample(1, 1, 0, 77);
        Images.Loaded l = Images.load(png("g.png", img), Preprocess.defaults().resolve(1, 3, 3));
        assertEquals(77 / 255f, l.input().data()[4], 1e-7f);
        assertEquals(0f, l.input().data()[0], 0f);
    }

    @Test
    void badImagesAndOptions() throws IOException {
        Path junk = dir.resolve("junk.png");
        Files.write(junk, new byte[] {1, 2, 3, 4, 5});
        SalientException e = assertThrows(SalientException.class, () -> Images.decode(junk));
        assertTrue(e.getMessage().startsWith(junk.toString()), e.getMessage());
        assertThrows(SalientException.class, () -> Images.decode(dir.resolve("none.jpg")));
        assertThrows(SalientException.class, () -> Preprocess.defaults().resolve(3, -1, -1));
        assertThrows(SalientException.class, () -> Preprocess.defaults().resolve(4, 8, 8));
        assertThrows(SalientException.class, () -> Preprocess.defaults().withMean(1, 2).resolve(3, 8, 8));
        assertThrows(SalientException.class, () -> Preprocess.defaults().withStd(0f));
        Preprocess.Resolved r = Preprocess.defaults().withCrop(6, 6).resolve(3, -1, -1);
        assertEquals(6, r.resize());
        BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
        Path p = png("s.png", img);
        SalientException small = assertThrows(SalientException.class,
                () -> Images.load(p, Preprocess.defaults().withResize(4).resolve(3, 6, 6)));
        assertTrue(small.getMessage().contains("smaller than the crop"), small.getMessage());
    }

    /** The planes getRGB gives, the reference for toPlanes' direct read of interleaved sRGB bytes. */
    static float[] viaGetRgb(BufferedImage img) {
        int h = img.getHeight(), w = img.getWidth(), plane = h * w;
        float[] rgb = new float[3 * plane];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int c = img.getRGB(x, y);
                rgb[y * w + x] = ((c >> 16) & 0xff) / 255f;
                rgb[plane + y * w + x] = ((c >> 8) & 0xff) / 255f;
                rgb[2 * plane + y * w + x] = (c & 0xff) / 255f;
            }
        return rgb;
    }

    @Test
    void directByteReadEqualsGetRgbForEveryInterleavedLayout() throws IOException {
        java.util.Random r = new java.util.Random(7);
        int[] types = {BufferedImage.TYPE_3BYTE_BGR, BufferedImage.TYPE_4BYTE_ABGR, BufferedImage.TYPE_INT_RGB};
        for (int type : types) {
            BufferedImage img = new BufferedImage(37, 23, type);
            for (int y = 0; y < 23; y++)
                for (int x = 0; x < 37; x++) img.setRGB(x, y, 0xff000000 | r.nextInt(1 << 24));
            // in memory, then as ImageIO decodes it back from PNG and from JPEG
            assertArrayEquals(viaGetRgb(img), Images.toPlanes(img).rgb(), "type " + type);
            for (String fmt : new String[] {"png", "jpg"}) {
                if (fmt.equals("jpg") && type == BufferedImage.TYPE_4BYTE_ABGR) continue; // no JPEG writer for alpha
                Path f = dir.resolve("t" + type + "." + fmt);
                assertTrue(ImageIO.write(img, fmt, f.toFile()), fmt);
                BufferedImage back = ImageIO.read(f.toFile());
                assertArrayEquals(viaGetRgb(back), Images.decode(f).rgb(), fmt + " of type " + type + " decoded as " + back.getType());
            }
        }
        // a sub-image shares its parent's array at an offset: the general path reads it
        BufferedImage big = new BufferedImage(40, 30, BufferedImage.TYPE_3BYTE_BGR);
        for (int y = 0; y < 30; y++)
            for (int x = 0; x < 40; x++) big.setRGB(x, y, 0xff000000 | r.nextInt(1 << 24));
        BufferedImage sub = big.getSubimage(3, 5, 20, 11);
        assertArrayEquals(viaGetRgb(sub), Images.toPlanes(sub).rgb());
    }
}
