package dev.salient.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.io.Nifti;
import dev.salient.io.Npy;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Explaining volumes through the CLI: a folder OUT gets montages of the map over the scan
 * (axial, and coronal/sagittal on request), the raw maps in attributions.npy, and for a NIfTI
 * input the map as NIfTI on the scan's grid with its affine, and the scan's scaling and
 * orientation in report.json.
 */
class VolumeExplainCliTest {
    static final Path VGG3D = Path.of("src/test/resources/fixtures/volume/vgg3d_folded/model.onnx");
    static final Path CT = Path.of("src/test/resources/fixtures/volume_io/ct_int16.nii.gz");

    @TempDir
    Path dir;

    static JsonObject report(Path out) throws IOException {
        return JsonParser.parseString(Files.readString(out.resolve("report.json"))).getAsJsonObject();
    }

    @Test
    void niftiGradCamWritesMontagesAndANiftiMapOnTheScansGrid() throws IOException {
        Path out = dir.resolve("cam");
        CliRunner r = CliRunner.run("explain", "--model", VGG3D.toString(), "--method", "gradcam", "--input", CT.toString(),
                "--out", out.toString(), "--window-level", "40", "--window-width", "400", "--montage-views",
                "axial,coronal,sagittal", "--montage-step", "3");
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new long[] {1, 11, 19, 18}, Npy.read(out.resolve("attributions.npy")).shape());
        JsonObject item = report(out).getAsJsonArray("items").get(0).getAsJsonObject();
        JsonObject montages = item.getAsJsonObject("montages");
        // axial: 11 slices, every 3rd -> 4 tiles of 19x18 in a 2x2 grid with 2-pixel gutters
        BufferedImage axial = ImageIO.read(out.resolve(montages.getAsJsonObject("axial").get("file").getAsString()).toFile());
        assertEquals(2 * 18 + 2, axial.getWidth());
        assertEquals(2 * 19 + 2, axial.getHeight());
        assertEquals(4, montages.getAsJsonObject("axial").get("slices").getAsInt());
        assertTrue(Files.exists(out.resolve(montages.getAsJsonObject("coronal").get("file").getAsString())));
        assertTrue(Files.exists(out.resolve(montages.getAsJsonObject("sagittal").get("file").getAsString())));
        assertEquals(item.get("overlay").getAsString(), montages.getAsJsonObject("axial").get("file").getAsString());
        JsonObject nifti = item.getAsJsonObject("nifti");
        assertEquals(2.0, nifti.get("scl_slope").getAsDouble());
        assertEquals(-1024.0, nifti.get("scl_inter").getAsDouble());
        assertEquals("LPS", nifti.get("orientation").getAsString());
        Nifti.Volume scan = Nifti.read(CT), map = Nifti.read(out.resolve(item.get("nifti_map").getAsString()));
        assertArrayEquals(scan.shape(), map.shape());
        assertArrayEquals(scan.srow(), map.srow());
        assertEquals(scan.sformCode(), map.sformCode());
        float lo = Float.MAX_VALUE, hi = -Float.MAX_VALUE;
        for (float v : map.data()) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        assertTrue(lo >= 0f && hi <= 1f && hi > 0.5f, "a CAM in [0,1] resized back: " + lo + ".." + hi);
        try (var files = Files.list(out)) {
            assertTrue(files.noneMatch(p -> p.toString().contains(".partial")), "no partial files left");
        }
    }

    @Test
    void volumeNpySaliencyAndImageOnlyMethods() throws IOException {
        Path out = dir.resolve("sal");
        CliRunner r = CliRunner.run("explain", "--model", VGG3D.toString(), "--method", "saliency", "--input",
                "src/test/resources/fixtures/volume/vgg3d_folded/input.npy", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new long[] {2, 1, 11, 19, 18}, Npy.read(out.resolve("attributions.npy")).shape());
        assertEquals(2, report(out).getAsJsonArray("items").size());
        String line = CliRunner.run("explain", "--model", VGG3D.toString(), "--method", "eigencam", "--input", CT.toString(),
                "--out", dir.resolve("e").toString()).errorLine();
        assertTrue(line.contains("eigencam explains 2-D images (N,C,H,W) only, not volumes"), line);
    }
}
