package dev.salient.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Parity;
import dev.salient.engine.SalientException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NIfTI-1 reading and writing against fixtures written from nifti1.h's layout by
 * scripts/make_volume_fixtures.py (an int16 CT with scl_slope/scl_inter and an LPS sform,
 * gzipped; a big-endian float32 MR with a qform only), the volume preprocessing against
 * PyTorch (window, trilinear resize with align_corners=False, mean and std), and the refusals.
 */
class NiftiTest {
    static final Path FIX = Path.of("src/test/resources/fixtures/volume_io");

    @TempDir
    Path dir;

    @Test
    void int16CtIsScaledAndItsSformReported() {
        Nifti.Volume v = Nifti.read(FIX.resolve("ct_int16.nii.gz"));
        NdArray want = Npy.read(FIX.resolve("ct_int16.scaled.npy"));
        assertArrayEquals(want.shape(), v.shape());
        assertArrayEquals(want.data(), v.data(), "scaled by scl_slope 2 and scl_inter -1024");
        Map<String, Object> d = v.describe();
        assertEquals(2f, d.get("scl_slope"));
        assertEquals(-1024f, d.get("scl_inter"));
        assertEquals(true, d.get("scaled"));
        assertEquals(2, d.get("sform_code"));
        assertEquals("LPS", v.orientation());
        assertEquals("int16", d.get("datatype"));
        assertArrayEquals(new float[] {0.7f, 0.7f, 2.5f}, (float[]) d.get("pixdim_xyz"));
    }

    @Test
    void bigEndianFloatWithQformOnly() {
        Nifti.Volume v = Nifti.read(FIX.resolve("mr_float32_be.nii"));
        NdArray want = Npy.read(FIX.resolve("mr_float32_be.scaled.npy"));
        assertArrayEquals(want.shape(), v.shape());
        assertArrayEquals(want.data(), v.data());
        assertEquals(0, v.sformCode());
        assertEquals(1, v.qformCode());
        assertEquals("LPI", v.orientation(), "180 degrees about z, qfac -1");
        assertEquals(false, v.describe().get("scaled"));
    }

    @Test
    void preprocessingMatchesPyTorch() {
        long[] model = {-1, 1, 6, 8, 10};
        Nifti.Volume ct = Nifti.read(FIX.resolve("ct_int16.nii.gz"));
        NdArray got = Volumes.prepare(ct.data(), ct.shape(), model, new Volumes.Window(40, 400), 0.2f, 0.5f);
        NdArray want = Npy.read(FIX.resolve("ct_int16.input.npy"));
        assertArrayEquals(want.shape(), got.shape());
        Parity.assertClose("windowed, resized CT", got.data(), want.data(), 1e-5, 1e-5);
        Nifti.Volume mr = Nifti.read(FIX.resolve("mr_float32_be.nii"));
        got = Volumes.prepare(mr.data(), mr.shape(), model, null, 0.2f, 0.5f);
        Parity.assertClose("upsampled MR", got.data(), Npy.read(FIX.resolve("mr_float32_be.input.npy")).data(), 1e-5, 1e-5);
    }

    @Test
    void writtenMapsKeepTheGridAndAffine() {
        Nifti.Volume ct = Nifti.read(FIX.resolve("ct_int16.nii.gz"));
        float[] map = new float[ct.data().length];
        for (int i = 0; i < map.length; i++) map[i] = (i % 11) / 10f;
        for (String name : new String[] {"map.nii.gz", "map.nii"}) {
            Path p = dir.resolve(name);
            Nifti.write(p, map, ct);
            Nifti.Volume back = Nifti.read(p);
            assertArrayEquals(map, back.data());
            assertArrayEquals(ct.shape(), back.shape());
            assertArrayEquals(ct.srow(), back.srow());
            assertEquals(ct.sformCode(), back.sformCode());
            assertEquals(ct.orientation(), back.orientation());
            assertEquals("float32", back.describe().get("datatype"));
        }
    }

    static byte[] gunzip(Path p) throws IOException {
        try (GZIPInputStream in = new GZIPInputStream(Files.newInputStream(p))) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            in.transferTo(out);
            return out.toByteArray();
        }
    }

    @Test
    void unsupportedDatatypeIsNamed() throws IOException {
        byte[] b = gunzip(FIX.resolve("ct_int16.nii.gz"));
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putShort(70, (short) 32);
        Path p = Files.write(dir.resolve("complex.nii"), b);
        SalientException e = assertThrows(SalientException.class, () -> Nifti.read(p));
        assertTrue(e.getMessage().contains("unsupported NIfTI datatype complex64 (32)"), e.getMessage());
    }

    @Test
    void truncatedFilesAreRefused() throws IOException {
        byte[] gz = Files.readAllBytes(FIX.resolve("ct_int16.nii.gz"));
        Path cut = Files.write(dir.resolve("cut.nii.gz"), java.util.Arrays.copyOf(gz, gz.length / 2));
        SalientException e = assertThrows(SalientException.class, () -> Nifti.read(cut));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        byte[] raw = gunzip(FIX.resolve("ct_int16.nii.gz"));
        Path short1 = Files.write(dir.resolve("short.nii"), java.util.Arrays.copyOf(raw, raw.length - 10));
        e = assertThrows(SalientException.class, () -> Nifti.read(short1));
        assertTrue(e.getMessage().contains("truncated: the header needs"), e.getMessage());
        Path header = Files.write(dir.resolve("header.nii"), java.util.Arrays.copyOf(raw, 100));
        e = assertThrows(SalientException.class, () -> Nifti.read(header));
        assertTrue(e.getMessage().contains("shorter than a NIfTI-1 header"), e.getMessage());
        byte[] bad = raw.clone();
        ByteBuffer.wrap(bad).order(ByteOrder.LITTLE_ENDIAN).putShort(42, (short) -5);
        Path neg = Files.write(dir.resolve("neg.nii"), bad);
        e = assertThrows(SalientException.class, () -> Nifti.read(neg));
        assertTrue(e.getMessage().contains("dim[1] = -5"), e.getMessage());
    }

    @Test
    void windowWidthMustBePositive() {
        for (float w : new float[] {0f, -10f, Float.NaN}) {
            SalientException e = assertThrows(SalientException.class, () -> new Volumes.Window(40, w));
            assertTrue(e.getMessage().startsWith("--window-width must be positive"), e.getMessage());
        }
        Volumes.Window win = new Volumes.Window(40, 400);
        assertEquals(0f, win.apply(-1000f));
        assertEquals(0.5f, win.apply(40f));
        assertEquals(1f, win.apply(2000f));
    }
}
