package dev.salient.io;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.SalientException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyTest {
    @TempDir
    Path dir;

    /** Builds an NPY file by hand: magic, version, header dict (padded), raw data. */
    static byte[] npy(int major, String dict, byte[] data) {
        byte[] d = (dict + "\n").getBytes(StandardCharsets.UTF_8);
        int pre = major == 1 ? 10 : 12;
        ByteBuffer b = ByteBuffer.allocate(pre + d.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        if (major == 1) b.putShort((short) d.length);
        else b.putInt(d.length);
        b.put(d).put(data);
        return b.array();
    }

    static byte[] floats(ByteOrder order, float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(order);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    Path file(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    SalientException fails(Path p) {
        SalientException e = assertThrows(SalientException.class, () -> Npy.read(p));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        return e;
    }

    @Test
    void roundTripKeepsShapeAndBits() {
        float[] v = {0f, -1.5f, Float.MIN_VALUE, 3.4e38f, 1e-7f, 42f};
        for (long[] shape : new long[][] {{6}, {2, 3}, {1, 2, 1, 3}, {3, 2, 1, 1, 1}}) {
            Path p = dir.resolve("a" + shape.length + ".npy");
            Npy.write(p, shape, v);
            NdArray a = Npy.read(p);
            assertArrayEquals(shape, a.shape());
            assertArrayEquals(v, a.data());
        }
    }

    @Test
    void writesAHeaderNumpyAccepts() throws IOException {
        Path p = dir.resolve("h.npy");
        Npy.write(p, new long[] {2, 3}, new float[6]);
        byte[] b = Files.readAllBytes(p);
        int hl = (b[8] & 0xff) | (b[9] & 0xff) << 8;
        assertEquals(1, b[6]);
        assertEquals(0, (10 + hl) % 64, "data must start 64-aligned");
        String h = new String(b, 10, hl, StandardCharsets.US_ASCII);
        assertTrue(h.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), h);
        assertTrue(h.endsWith("\n"));
        assertEquals(10 + hl + 24, b.length);
        Npy.write(p, new long[] {5}, new float[5]);
        assertTrue(new String(Files.readAllBytes(p), StandardCharsets.US_ASCII).contains("'shape': (5,)"));
        Npy.write(p, new long[] {}, new float[] {7f});
        assertArrayEquals(new float[] {7f}, Npy.read(p).data());
        assertEquals(0, Npy.read(p).rank());
    }

    @Test
    void readsVersions2And3AndOtherDtypes() throws IOException {
        String f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        float[] v = {1f, 2f, 3f, 4f};
        assertArrayEquals(v, Npy.read(file("v2.npy", npy(2, f4, floats(ByteOrder.LITTLE_ENDIAN, v)))).data());
        assertArrayEquals(v, Npy.read(file("v3.npy", npy(3, f4, floats(ByteOrder.LITTLE_ENDIAN, v)))).data());
        String be = "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }";
        assertArrayEquals(v, Npy.read(file("be.npy", npy(1, be, floats(ByteOrder.BIG_ENDIAN, v)))).data());

        ByteBuffer d = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putDouble(0.25).putDouble(-2).putDouble(1e300);
        NdArray f8 = Npy.read(file("f8.npy", npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d.array())));
        assertArrayEquals(new float[] {0.25f, -2f, Float.POSITIVE_INFINITY}, f8.data());
        ByteBuffer l = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-7).putLong(1L << 40);
        NdArray i8 = Npy.read(file("i8.npy", npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }", l.array())));
        assertArrayEquals(new float[] {-7f, (float) (1L << 40)}, i8.data());
        assertArrayEquals(new long[] {1, 2}, i8.shape());
        NdArray u1 = Npy.read(file("u1.npy", npy(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }",
                new byte[] {(byte) 255, 3})));
        assertArrayEquals(new float[] {255f, 3f}, u1.data());
        // key order and quotes vary between writers
        String odd = "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f4\"}";
        assertArrayEquals(new float[] {5f, 6f}, Npy.read(file("odd.npy", npy(1, odd, floats(ByteOrder.LITTLE_ENDIAN, 5f, 6f)))).data());
    }

    @Test
    void rejectsBadFilesWithOneLine() throws IOException {
        String f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        byte[] good = npy(1, f4, floats(ByteOrder.LITTLE_ENDIAN, 1, 2, 3, 4));

        assertTrue(fails(dir.resolve("missing.npy")).getMessage().contains("no such file"));
        assertTrue(fails(file("empty.npy", new byte[0])).getMessage().contains("too short"));
        byte[] magic = good.clone();
        magic[1] = 'X';
        assertTrue(fails(file("magic.npy", magic)).getMessage().contains("magic"));
        byte[] version = good.clone();
        version[6] = 9;
        assertTrue(fails(file("version.npy", version)).getMessage().contains("version 9"));
        assertTrue(fails(file("trunc.npy", Arrays.copyOf(good, good.length - 3))).getMessage().contains("holds 13"));
        assertTrue(fails(file("headtrunc.npy", Arrays.copyOf(good, 30))).getMessage().contains("runs past the end"));
        assertTrue(fails(file("dtype.npy", npy(1, f4.replace("<f4", "<c8"), new byte[64]))).getMessage().contains("'<c8'"));
        assertTrue(fails(file("struct.npy", npy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                new byte[8]))).getMessage().contains("descr"));
        assertTrue(fails(file("fortran.npy", npy(1, f4.replace("False", "True"), new byte[16]))).getMessage().contains("Fortran"));
        assertTrue(fails(file("shape.npy", npy(1, f4.replace("(2, 2)", "(2, x)"), new byte[16]))).getMessage().contains("'x'"));
        assertTrue(fails(file("noshape.npy", npy(1, "{'descr': '<f4', 'fortran_order': False}", new byte[16]))).getMessage().contains("shape"));
        assertTrue(fails(file("notdict.npy", npy(1, "garbage", new byte[16]))).getMessage().contains("dictionary"));
        // a declared size far beyond the file must fail before any allocation
        SalientException huge = fails(file("huge.npy", npy(1, f4.replace("(2, 2)", "(100000, 100000)"), new byte[16])));
        assertTrue(huge.getMessage().contains("too large") || huge.getMessage().contains("holds"), huge.getMessage());
        SalientException big = fails(file("big.npy", npy(1, f4.replace("(2, 2)", "(1000, 1000, 100)"), new byte[16])));
        assertTrue(big.getMessage().contains("needs 400000000 bytes"), big.getMessage());
        SalientException overflow = fails(file("overflow.npy",
                npy(1, f4.replace("(2, 2)", "(9223372036854775807, 9223372036854775807)"), new byte[16])));
        assertTrue(overflow.getMessage().contains("too large"), overflow.getMessage());
    }

    static Path numpyFile(String name) throws Exception {
        return Path.of(NpyTest.class.getResource("/fixtures/npy/" + name).toURI());
    }

    /** Files written by numpy itself (see fixtures/npy/README.md). */
    @Test
    void readsFilesWrittenByNumpy() throws Exception {
        float[] a = new float[24];
        for (int i = 0; i < 24; i++) a[i] = (i - 5.5f) / 3;
        for (String f : new String[] {"v1_f4.npy", "v2_f4.npy", "v3_f4.npy", "v1_f8.npy", "v1_be_f4.npy"}) {
            NdArray x = Npy.read(numpyFile(f));
            assertArrayEquals(new long[] {2, 3, 4}, x.shape(), f);
            assertArrayEquals(a, x.data(), f);
        }
        NdArray i8 = Npy.read(numpyFile("v1_i8.npy"));
        for (int i = 0; i < 24; i++) assertEquals(i - 7, i8.data()[i]);
        NdArray s = Npy.read(numpyFile("v1_scalar_f4.npy"));
        assertEquals(0, s.rank());
        assertArrayEquals(new float[] {2.5f}, s.data());
        NdArray e = Npy.read(numpyFile("v1_empty_f4.npy"));
        assertArrayEquals(new long[] {0, 3}, e.shape());
        assertEquals(0, e.data().length);
        SalientException fortran = fails(numpyFile("v1_fortran_f4.npy"));
        assertTrue(fortran.getMessage().contains("Fortran"), fortran.getMessage());
    }

    /** What Npy.write produces is byte-identical to numpy.save for the same float32 array. */
    @Test
    void writesWhatNumpyWrites() throws Exception {
        float[] a = new float[24];
        for (int i = 0; i < 24; i++) a[i] = (i - 5.5f) / 3;
        Path p = dir.resolve("w.npy");
        Npy.write(p, new long[] {2, 3, 4}, a);
        assertArrayEquals(Files.readAllBytes(numpyFile("v1_f4.npy")), Files.readAllBytes(p));
    }

    @Test
    void ndArrayHelpers() {
        NdArray a = new NdArray(new long[] {3, 2}, new float[] {1, 2, 3, 4, 5, 6});
        assertArrayEquals(new float[] {3, 4, 5, 6}, a.sliceFirst(1, 3).data());
        NdArray c = NdArray.concatFirst(java.util.List.of(a.sliceFirst(2, 3), a.sliceFirst(0, 2)));
        assertArrayEquals(new float[] {5, 6, 1, 2, 3, 4}, c.data());
        assertArrayEquals(new long[] {3, 2}, c.shape());
        assertEquals(-1, a.firstNonFinite());
        assertEquals(1, new NdArray(new long[] {2}, new float[] {0, Float.NaN}).firstNonFinite());
        assertThrows(SalientException.class, () -> new NdArray(new long[] {2, 2}, new float[3]));
        assertThrows(SalientException.class, () -> NdArray.concatFirst(java.util.List.of(a, new NdArray(new long[] {1, 3}, new float[3]))));
    }
}
