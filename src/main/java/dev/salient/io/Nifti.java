package dev.salient.io;

import dev.salient.engine.SalientException;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import java.util.zip.ZipException;

/**
 * NIfTI-1 single-file volumes ({@code .nii}, {@code .nii.gz}), read and written from the
 * documented 348-byte header (nifti1.h, NIfTI Data Format Working Group): no reader on Maven
 * Central is kept up to date, so the header and the voxel data are read here, with every
 * offset and size checked against the bytes present. Either byte order; gzip through
 * java.util.zip.
 *
 * <p>Voxels are stored x fastest, then y, then z; the volume comes out as a row-major
 * (D,H,W) = (nz, ny, nx) array, so an axial slice is one z. Values are scaled by
 * {@code scl_slope}/{@code scl_inter} when the slope is non-zero (as the standard says).
 * Datatypes: uint8, int8, int16, uint16, int32, uint32, float32, float64; a 4th dimension
 * must be 1.
 * <pre>{@code
 * Nifti.Volume v = Nifti.read(Path.of("ct.nii.gz"));
 * float[] hu = v.data();          // (nz, ny, nx), scaled
 * Nifti.write(Path.of("map.nii.gz"), map, v);   // same grid and affine
 * }</pre>
 */
public final class Nifti {
    private Nifti() {}

    static final int HEADER = 348;
    /** The largest volume read: 2^31 - 1 voxels of at most 8 bytes, and the bytes of one Java array. */
    static final long MAX_BYTES = Integer.MAX_VALUE - 64;

    /**
     * A volume and the header fields a viewer needs to place it: dims (nx,ny,nz), voxel sizes
     * (pixdim 1..3), the scaling that was applied, and the qform and sform (codes, quaternion,
     * offsets, and the three sform rows), kept as read so a written map lands on the scan.
     */
    public record Volume(int nx, int ny, int nz, float[] data, int datatype, float[] pixdim, float sclSlope,
            float sclInter, short qformCode, short sformCode, float[] quatern, float[] qoffset, float[] srow,
            byte xyztUnits) {

        public long[] shape() {
            return new long[] {nz, ny, nx};
        }

        /** The fields report.json records: dims, datatype, scaling and orientation. */
        public Map<String, Object> describe() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("dims_xyz", new int[] {nx, ny, nz});
            m.put("datatype", typeName(datatype));
            m.put("pixdim_xyz", new float[] {pixdim[1], pixdim[2], pixdim[3]});
            m.put("scl_slope", sclSlope);
            m.put("scl_inter", sclInter);
            m.put("scaled", sclSlope != 0f && !(sclSlope == 1f && sclInter == 0f));
            m.put("qform_code", (int) qformCode);
            m.put("qform_quatern_bcd", quatern.clone());
            m.put("qform_offset_xyz", qoffset.clone());
            m.put("sform_code", (int) sformCode);
            m.put("sform_rows", new float[][] {java.util.Arrays.copyOfRange(srow, 0, 4),
                    java.util.Arrays.copyOfRange(srow, 4, 8), java.util.Arrays.copyOfRange(srow, 8, 12)});
            m.put("orientation", orientation());
            return m;
        }

        /** Axis codes of the voxel axes (e.g. "RAS", "LPS") from the sform if set, else the qform; "unknown" if neither. */
        public String orientation() {
            double[][] r;
            if (sformCode > 0) {
                r = new double[3][3];
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) r[i][j] = srow[4 * i + j];
            } else if (qformCode > 0) {
                r = quaternToMatrix(quatern[0], quatern[1], quatern[2], pixdim[0]);
            } else {
                return "unknown";
            }
            StringBuilder s = new StringBuilder();
            for (int j = 0; j < 3; j++) {
                int best = 0;
                for (int i = 1; i < 3; i++) if (Math.abs(r[i][j]) > Math.abs(r[best][j])) best = i;
                boolean pos = r[best][j] >= 0;
                s.append(best == 0 ? (pos ? 'R' : 'L') : best == 1 ? (pos ? 'A' : 'P') : (pos ? 'S' : 'I'));
            }
            return s.toString();
        }
    }

    static double[][] quaternToMatrix(double b, double c, double d, double qfac) {
        double a = 1.0 - (b * b + c * c + d * d);
        if (a < 1e-7) {
            double n = 1.0 / Math.sqrt(b * b + c * c + d * d);
            b *= n;
            c *= n;
            d *= n;
            a = 0;
        } else {
            a = Math.sqrt(a);
        }
        double q = qfac < 0 ? -1 : 1;
        return new double[][] {{a * a + b * b - c * c - d * d, 2 * (b * c - a * d), q * 2 * (b * d + a * c)},
                {2 * (b * c + a * d), a * a + c * c - b * b - d * d, q * 2 * (c * d - a * b)},
                {2 * (b * d - a * c), 2 * (c * d + a * b), q * (a * a + d * d - c * c - b * b)}};
    }

    public static boolean isNifti(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".nii") || n.endsWith(".nii.gz");
    }

    static boolean gzipped(Path p) {
        return p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gz");
    }

    static String typeName(int datatype) {
        return switch (datatype) {
            case 2 -> "uint8";
            case 4 -> "int16";
            case 8 -> "int32";
            case 16 -> "float32";
            case 64 -> "float64";
            case 256 -> "int8";
            case 512 -> "uint16";
            case 768 -> "uint32";
            case 1 -> "binary";
            case 32 -> "complex64";
            case 128 -> "rgb24";
            case 1024 -> "int64";
            case 1280 -> "uint64";
            case 1536 -> "float128";
            case 1792 -> "complex128";
            case 2048 -> "complex256";
            case 2304 -> "rgba32";
            default -> "code " + datatype;
        };
    }

    static int bytesPer(int datatype) {
        return switch (datatype) {
            case 2, 256 -> 1;
            case 4, 512 -> 2;
            case 8, 16, 768 -> 4;
            case 64 -> 8;
            default -> -1;
        };
    }

    /** Reads a whole .nii or .nii.gz, refusing anything the header does not account for in one line. */
    public static Volume read(Path f) {
        byte[] bytes;
        try {
            bytes = gzipped(f) ? gunzip(f) : Files.readAllBytes(f);
        } catch (EOFException e) {
            throw new SalientException(f + ": truncated gzip stream (the file ends before its data)");
        } catch (ZipException e) {
            throw new SalientException(f + ": not a valid gzip file (" + e.getMessage() + ")");
        } catch (IOException e) {
            throw new SalientException(f + ": cannot read: " + Npy.oneLine(e));
        } catch (OutOfMemoryError e) {
            throw new SalientException(f + ": too large to read into memory");
        }
        return parse(f.toString(), bytes);
    }

    private static byte[] gunzip(Path f) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(f), 1 << 16)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            for (int r; (r = in.read(buf)) > 0; ) {
                if ((long) out.size() + r > MAX_BYTES) throw new SalientException(f + ": decompresses to more than 2 GiB");
                out.write(buf, 0, r);
            }
            return out.toByteArray();
        }
    }

    static Volume parse(String name, byte[] bytes) {
        if (bytes.length < HEADER)
            throw new SalientException(name + ": " + bytes.length + " bytes, shorter than a NIfTI-1 header (348)");
        ByteBuffer h = ByteBuffer.wrap(bytes, 0, HEADER).order(ByteOrder.LITTLE_ENDIAN);
        if (h.getInt(0) != HEADER) {
            h.order(ByteOrder.BIG_ENDIAN);
            if (h.getInt(0) != HEADER) {
                if (h.order(ByteOrder.LITTLE_ENDIAN).getInt(0) == 540 || h.order(ByteOrder.BIG_ENDIAN).getInt(0) == 540)
                    throw new SalientException(name + ": NIfTI-2 files are not supported (NIfTI-1 only)");
                throw new SalientException(name + ": not a NIfTI-1 file (sizeof_hdr is not 348 in either byte order)");
            }
        }
        String magic = new String(bytes, 344, 3, java.nio.charset.StandardCharsets.US_ASCII);
        if (magic.equals("ni1"))
            throw new SalientException(name + ": a .hdr/.img pair header; give a single-file .nii or .nii.gz");
        if (!magic.equals("n+1")) throw new SalientException(name + ": bad NIfTI-1 magic '" + magic.replace('\0', ' ') + "'");
        int rank = h.getShort(40);
        if (rank < 1 || rank > 7) throw new SalientException(name + ": dim[0] = " + rank + " is outside 1..7");
        int[] dim = new int[8];
        for (int i = 1; i <= 7; i++) dim[i] = i <= rank ? h.getShort(40 + 2 * i) : 1;
        for (int i = 1; i <= rank; i++)
            if (dim[i] <= 0) throw new SalientException(name + ": dim[" + i + "] = " + dim[i] + " is not positive");
        if (rank > 3)
            for (int i = 4; i <= rank; i++)
                if (dim[i] != 1)
                    throw new SalientException(name + ": a " + rank + "-D image with dim[" + i + "] = " + dim[i]
                            + "; only single 3-D volumes are supported");
        int datatype = h.getShort(70);
        int bpv = bytesPer(datatype);
        if (bpv < 0)
            throw new SalientException(name + ": unsupported NIfTI datatype " + typeName(datatype) + " (" + datatype
                    + "); supported: uint8, int8, int16, uint16, int32, uint32, float32, float64");
        float[] pixdim = new float[8];
        for (int i = 0; i < 8; i++) pixdim[i] = h.getFloat(76 + 4 * i);
        float voxOffset = h.getFloat(108);
        float slope = h.getFloat(112), inter = h.getFloat(116);
        if (!Float.isFinite(voxOffset) || voxOffset < HEADER)
            throw new SalientException(name + ": vox_offset " + voxOffset + " is before the end of the header");
        long nvox = (long) dim[1] * dim[2] * dim[3];
        long off = (long) voxOffset, need = off + nvox * bpv;
        if (nvox > Integer.MAX_VALUE - 64 || need > MAX_BYTES)
            throw new SalientException(name + ": a " + dim[1] + "x" + dim[2] + "x" + dim[3] + " volume is too large");
        if (need > bytes.length)
            throw new SalientException(name + ": truncated: the header needs " + need + " bytes (" + dim[1] + "x" + dim[2]
                    + "x" + dim[3] + " " + typeName(datatype) + " from offset " + off + "), the file has " + bytes.length);
        boolean scale = slope != 0f && Float.isFinite(slope) && Float.isFinite(inter);
        ByteBuffer d = ByteBuffer.wrap(bytes).order(h.order());
        float[] out = new float[(int) nvox];
        for (int i = 0; i < out.length; i++) {
            int p = (int) (off + (long) i * bpv);
            double v = switch (datatype) {
                case 2 -> bytes[p] & 0xff;
                case 256 -> bytes[p];
                case 4 -> d.getShort(p);
                case 512 -> d.getShort(p) & 0xffff;
                case 8 -> d.getInt(p);
                case 768 -> d.getInt(p) & 0xffffffffL;
                case 16 -> d.getFloat(p);
                default -> d.getDouble(p);
            };
            out[i] = (float) (scale ? v * slope + inter : v);
        }
        float[] quatern = {h.getFloat(256), h.getFloat(260), h.getFloat(264)};
        float[] qoffset = {h.getFloat(268), h.getFloat(272), h.getFloat(276)};
        float[] srow = new float[12];
        for (int i = 0; i < 12; i++) srow[i] = h.getFloat(280 + 4 * i);
        return new Volume(dim[1], dim[2], dim[3], out, datatype, pixdim, slope, inter, h.getShort(252), h.getShort(254),
                quatern, qoffset, srow, bytes[123]);
    }

    /**
     * Writes {@code data} (nz,ny,nx) as float32 NIfTI-1 on the grid of {@code like}: its dims,
     * voxel sizes, qform and sform, so a viewer overlays it on the scan; no scaling. Gzipped when
     * the name ends in .gz.
     */
    public static void write(Path f, float[] data, Volume like) {
        long nvox = (long) like.nx() * like.ny() * like.nz();
        if (data.length != nvox)
            throw new SalientException(f + ": " + data.length + " values for a " + like.nx() + "x" + like.ny() + "x"
                    + like.nz() + " grid");
        ByteBuffer b = ByteBuffer.allocate(352 + data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, HEADER);
        b.putShort(40, (short) 3);
        b.putShort(42, (short) like.nx());
        b.putShort(44, (short) like.ny());
        b.putShort(46, (short) like.nz());
        for (int i = 4; i <= 7; i++) b.putShort(40 + 2 * i, (short) 1);
        b.putShort(70, (short) 16);
        b.putShort(72, (short) 32);
        float[] pd = like.pixdim().clone();
        for (int i = 0; i < 8; i++) b.putFloat(76 + 4 * i, pd[i]);
        b.putFloat(108, 352f);
        b.putFloat(112, 1f);
        b.putFloat(116, 0f);
        b.put(123, like.xyztUnits());
        float lo = Float.POSITIVE_INFINITY, hi = Float.NEGATIVE_INFINITY;
        for (float v : data) {
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
        }
        b.putFloat(124, hi); // cal_max, cal_min: the display range
        b.putFloat(128, lo);
        byte[] descrip = "salient attribution map".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        for (int i = 0; i < descrip.length; i++) b.put(148 + i, descrip[i]);
        b.putShort(252, like.qformCode());
        b.putShort(254, like.sformCode());
        for (int i = 0; i < 3; i++) {
            b.putFloat(256 + 4 * i, like.quatern()[i]);
            b.putFloat(268 + 4 * i, like.qoffset()[i]);
        }
        for (int i = 0; i < 12; i++) b.putFloat(280 + 4 * i, like.srow()[i]);
        b.put(344, (byte) 'n').put(345, (byte) '+').put(346, (byte) '1').put(347, (byte) 0);
        for (int i = 0; i < data.length; i++) b.putFloat(352 + 4 * i, data[i]);
        try (OutputStream raw = Files.newOutputStream(f);
                OutputStream out = gzipped(f) ? new GZIPOutputStream(raw, 1 << 16) : raw) {
            out.write(b.array());
        } catch (IOException e) {
            throw new SalientException(f + ": cannot write: " + Npy.oneLine(e));
        }
    }
}
