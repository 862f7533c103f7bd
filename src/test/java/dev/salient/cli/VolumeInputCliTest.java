package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.io.Npy;
import dev.salient.io.Png;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Volumes through the CLI: NIfTI and 5-D NPY inputs to a 3-D model, and every bad volume
 * input ends in exit 2 with one {@code salient: error:} line: a 2-D image to a 3-D model and
 * a volume to a 2-D model, an unsupported NIfTI datatype, a truncated .nii.gz, a window
 * width that is not positive.
 */
class VolumeInputCliTest {
    static final Path VGG3D = Path.of("src/test/resources/fixtures/volume/vgg3d_folded/model.onnx");
    static final Path MODEL2D = Path.of("src/test/resources/fixtures/arch/vgg_folded/model.onnx");
    static final Path CT = Path.of("src/test/resources/fixtures/volume_io/ct_int16.nii.gz");

    @TempDir
    Path dir;

    CliRunner predict(String... extra) {
        String[] base = {"predict", "--out", dir.resolve("logits.npy").toString()};
        String[] all = new String[base.length + extra.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return CliRunner.run(all);
    }

    static void oneLine(CliRunner r, String... words) {
        assertEquals(2, r.code(), r.err());
        String line = r.errorLine();
        for (String w : words) assertTrue(line.contains(w), "'" + w + "' not named in: " + line);
    }

    @Test
    void niftiAndVolumeNpyPredict() {
        CliRunner r = predict("--model", VGG3D.toString(), "--input", CT.toString(), "--window-level", "40",
                "--window-width", "400");
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new long[] {1, 4}, Npy.read(dir.resolve("logits.npy")).shape());
        r = predict("--model", VGG3D.toString(), "--input", "src/test/resources/fixtures/volume/vgg3d_folded/input.npy");
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new long[] {2, 4}, Npy.read(dir.resolve("logits.npy")).shape());
    }

    @Test
    void badVolumeInputsAreOneLine() throws IOException {
        Path png = Png.write(dir.resolve("slice.png"), 18, 19, 0, 8, 100);
        oneLine(predict("--model", VGG3D.toString(), "--input", png.toString()), "2-D images need a model with a 4-D",
                "(N,1,11,19,18)");
        oneLine(predict("--model", MODEL2D.toString(), "--input", CT.toString()), "NIfTI volume needs a model with a 5-D",
                "(N,3,32,32)");
        oneLine(predict("--model", MODEL2D.toString(), "--input",
                "src/test/resources/fixtures/volume/vgg3d_folded/input.npy"), "expected input shape (N,3,32,32)");
        byte[] gz = Files.readAllBytes(CT);
        Path cut = Files.write(dir.resolve("cut.nii.gz"), java.util.Arrays.copyOf(gz, gz.length * 2 / 3));
        oneLine(predict("--model", VGG3D.toString(), "--input", cut.toString()), "cut.nii.gz", "truncated");
        byte[] raw;
        try (var in = new java.util.zip.GZIPInputStream(Files.newInputStream(CT))) {
            raw = in.readAllBytes();
        }
        raw[70] = (byte) 128; // rgb24
        raw[71] = 0;
        Path rgb = Files.write(dir.resolve("rgb.nii"), raw);
        oneLine(predict("--model", VGG3D.toString(), "--input", rgb.toString()), "unsupported NIfTI datatype rgb24");
        oneLine(predict("--model", VGG3D.toString(), "--input", CT.toString(), "--window-level", "40", "--window-width",
                "0"), "--window-width must be positive");
        oneLine(predict("--model", VGG3D.toString(), "--input", CT.toString(), "--window-width", "400"),
                "--window-level and --window-width go together");
    }
}
