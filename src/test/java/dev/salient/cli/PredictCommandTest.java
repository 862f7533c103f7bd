package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Parity;
import dev.salient.io.Images;
import dev.salient.io.NdArray;
import dev.salient.io.Npy;
import dev.salient.io.Preprocess;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PredictCommandTest {
    @TempDir
    Path dir;

    static Path fixture(String name) throws URISyntaxException {
        return Path.of(PredictCommandTest.class.getResource("/fixtures/arch/" + name).toURI());
    }

    @Test
    void npyInputGivesPyTorchLogits() throws Exception {
        Path f = fixture("resnet_basic_folded");
        Path out = dir.resolve("sub/logits.npy");
        CliRunner r = CliRunner.run("predict", "--model", f.resolve("model.onnx").toString(), "--input",
                f.resolve("input.npy").toString(), "--out", out.toString(), "--batch", "1", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.err());
        NdArray ref = Npy.read(f.resolve("logits.npy"));
        NdArray got = Npy.read(out);
        assertArrayEquals(ref.shape(), got.shape());
        double scale = 0;
        for (float v : ref.data()) scale = Math.max(scale, Math.abs(v));
        Parity.assertClose("predict logits", got.data(), ref.data(), 1e-4 * scale, 0);
        assertTrue(r.out().contains("input.npy[1]\ttop1 "), r.out());
        assertTrue(r.out().contains("wrote logits (2,10)"), r.out());
    }

    @Test
    void folderOfImagesAndNpyIsOneSortedBatch() throws Exception {
        Path f = fixture("vgg_folded"); // (N,3,32,32)
        Path in = Files.createDirectory(dir.resolve("in"));
        BufferedImage img = new BufferedImage(48, 40, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 40; y++)
            for (int x = 0; x < 48; x++) img.setRGB(x, y, (x * 5) << 16 | (y * 6) << 8 | ((x + y) * 2));
        ImageIO.write(img, "png", in.resolve("b.png").toFile());
        Files.copy(f.resolve("input.npy"), in.resolve("a.npy"));
        Path out = dir.resolve("logits.npy");
        CliRunner r = CliRunner.run("predict", "--model", f.resolve("model.onnx").toString(), "--input", in.toString(),
                "--out", out.toString(), "--batch", "2", "--quiet");
        assertEquals(0, r.code(), r.err());
        assertEquals("", r.out());
        NdArray got = Npy.read(out);
        assertArrayEquals(new long[] {3, 10}, got.shape());
        NdArray ref = Npy.read(f.resolve("logits.npy"));
        double scale = 0;
        for (float v : ref.data()) scale = Math.max(scale, Math.abs(v));
        Parity.assertClose("npy rows", got.sliceFirst(0, 2).data(), ref.data(), 1e-4 * scale, 0);

        // the image row equals predicting the preprocessed image alone
        NdArray x = Images.load(in.resolve("b.png"), Preprocess.defaults().resolve(3, 32, 32)).input();
        Path xi = dir.resolve("img.npy");
        Npy.write(xi, x);
        Path out1 = dir.resolve("one.npy");
        assertEquals(0, CliRunner.run("predict", "--model", f.resolve("model.onnx").toString(), "--input", xi.toString(),
                "--out", out1.toString()).code());
        Parity.assertClose("image row", got.sliceFirst(2, 3).data(), Npy.read(out1).data(), 1e-6, 1e-5);
    }

    @Test
    void preprocessFlagsChangeTheInput() throws Exception {
        Path f = fixture("vgg_folded");
        BufferedImage img = new BufferedImage(40, 40, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 40; y++)
            for (int x = 0; x < 40; x++) img.setRGB(x, y, (x * 6) << 16 | (y * 6) << 8);
        Path png = dir.resolve("i.png");
        ImageIO.write(img, "png", png.toFile());
        Path a = dir.resolve("a.npy"), b = dir.resolve("b.npy");
        String model = f.resolve("model.onnx").toString();
        assertEquals(0, CliRunner.run("predict", "--model", model, "--input", png.toString(), "--out", a.toString()).code());
        CliRunner r = CliRunner.run("predict", "--model", model, "--input", png.toString(), "--out", b.toString(),
                "--resize", "36", "--crop", "32x32", "--mean", "0.5", "--std", "0.25,0.25,0.25");
        assertEquals(0, r.code(), r.err());
        assertFalse(java.util.Arrays.equals(Npy.read(a).data(), Npy.read(b).data()));
        NdArray x = Images.load(png, Preprocess.defaults().withResize(36).withMean(0.5f).withStd(0.25f).resolve(3, 32, 32)).input();
        Path xi = dir.resolve("x.npy");
        Npy.write(xi, x);
        Path c = dir.resolve("c.npy");
        assertEquals(0, CliRunner.run("predict", "--model", model, "--input", xi.toString(), "--out", c.toString()).code());
        Parity.assertClose("flags", Npy.read(b).data(), Npy.read(c).data(), 1e-6, 1e-5);
        assertEquals(2, CliRunner.run("predict", "--model", model, "--input", png.toString(), "--out", c.toString(),
                "--crop", "30").code());
    }

    @Test
    void helpAndVersion() throws IOException {
        CliRunner r = CliRunner.run("predict", "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("--model") && r.out().contains("--resize") && r.out().contains("--device"), r.out());
        assertEquals(0, CliRunner.run("--version").code());
        assertEquals(2, CliRunner.run().code());
    }
}
