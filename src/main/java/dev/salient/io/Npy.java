package dev.salient.io;

import dev.salient.engine.SalientException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy {@code .npy} files, format versions 1.0, 2.0 and 3.0
 * (<a href="https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html">spec</a>).
 *
 * <p>Reads C-order arrays of float32 ({@code <f4}, {@code >f4}), and for
 * convenience float64, int32 and int64 (converted to float32). Writes float32
 * little-endian, version 1.0 (2.0 only for headers too long for 1.0).
 *
 * <p>Every problem (missing file, wrong magic, corrupt header, unsupported
 * dtype, Fortran order, data shorter than the declared shape) is a
 * {@link SalientException} with one line naming the file. Nothing is allocated
 * before the declared size has been checked against the file's length.
 *
 * <pre>{@code
 * NdArray x = Npy.read(Path.of("input.npy"));      // shape (N,C,H,W)
 * Npy.write(Path.of("logits.npy"), logits);
 * }</pre>
 */
public final class Npy {
    private Npy() {}

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    /** numpy itself refuses headers above 10000 bytes by default; be a little more lenient. */
    private static final int MAX_HEADER = 1 << 20;
    /** Largest float[] the JVM can hold. */
    private static final long MAX_ELEMENTS = Integer.MAX_VALUE - 8;

    private static final Pattern DESCR = Pattern.compile("['\"]descr['\"]\\s*:\\s*['\"]([^'\"]*)['\"]");
    private static final Pattern FORTRAN = Pattern.compile("['\"]fortran_order['\"]\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("['\"]shape['\"]\\s*:\\s*\\(([^)]*)\\)");

    /** The parsed header: dtype, shape and where the data starts. */
    record Header(char order, char kind, int itemSize, long[] shape, long dataOffset) {}

    /** Reads a whole .npy file as float32. */
    public static NdArray read(Path file) {
        if (Files.exists(file) && !Files.isRegularFile(file)) // opening a FIFO blocks until a writer comes
            throw new SalientException(file + ": not a regular file");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            Header h = readHeader(ch, size, file);
            long n = numel(h.shape, file);
            long bytes = n * h.itemSize; // n <= MAX_ELEMENTS and itemSize <= 8: no overflow
            long available = size - h.dataOffset;
            if (bytes > available)
                throw new SalientException(file + ": corrupt NPY: shape " + shapeStr(h.shape) + " of " + dtype(h)
                        + " needs " + bytes + " bytes of data but the file holds " + available);
            float[] out = new float[(int) n];
            readData(ch, h, out);
            return new NdArray(h.shape, out);
        } catch (NoSuchFileException e) {
            throw new SalientException(file + ": no such file");
        } catch (IOException e) {
            throw new SalientException(file + ": cannot read: " + oneLine(e));
        }
    }

    /** Writes float32 little-endian C-order; creates parent folders. */
    public static void write(Path file, NdArray a) {
        write(file, a.shape(), a.data());
    }

    /** Writes float32 little-endian C-order; creates parent folders. */
    public static void write(Path file, long[] shape, float[] data) {
        new NdArray(shape, data); // checks that data fills shape
        StringBuilder s = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) s.append(shape[i]).append(shape.length == 1 ? "," : i + 1 < shape.length ? ", " : "");
        s.append(')');
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + s + ", }";
        // preamble (magic + version + length) + dict + padding + '\n' is a multiple of 64
        boolean v1 = dict.length() + 1 + 10 <= 65535;
        int pre = v1 ? 10 : 12;
        int total = pre + dict.length() + 1;
        int pad = (64 - total % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        byte[] hb = header.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer head = ByteBuffer.allocate(pre + hb.length).order(ByteOrder.LITTLE_ENDIAN);
        head.put(MAGIC).put((byte) (v1 ? 1 : 2)).put((byte) 0);
        if (v1) head.putShort((short) hb.length);
        else head.putInt(hb.length);
        head.put(hb).flip();
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                while (head.hasRemaining()) ch.write(head);
                ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
                int i = 0;
                while (i < data.length) {
                    buf.clear();
                    int m = Math.min(data.length - i, buf.capacity() / 4);
                    buf.asFloatBuffer().put(data, i, m);
                    buf.limit(m * 4);
                    while (buf.hasRemaining()) ch.write(buf);
                    i += m;
                }
            }
        } catch (IOException e) {
            throw new SalientException(file + ": cannot write: " + oneLine(e));
        }
    }

    // ---- header

    static Header readHeader(FileChannel ch, long size, Path file) throws IOException {
        if (size < 10) throw corrupt(file, "file of " + size + " bytes is too short for an NPY header");
        ByteBuffer pre = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        pre.limit((int) Math.min(12, size));
        readFully(ch, pre, 0);
        pre.flip();
        for (byte b : MAGIC)
            if (pre.get() != b) throw new SalientException(file + ": not an NPY file (wrong magic bytes)");
        int major = pre.get() & 0xff;
        int minor = pre.get() & 0xff;
        long headerLen;
        int preLen;
        if (major == 1) {
            headerLen = pre.getShort() & 0xffff;
            preLen = 10;
        } else if (major == 2 || major == 3) {
            if (pre.remaining() < 4) throw corrupt(file, "file too short for a version " + major + " header");
            headerLen = pre.getInt() & 0xffffffffL;
            preLen = 12;
        } else {
            throw new SalientException(file + ": unsupported NPY format version " + major + "." + minor);
        }
        if (headerLen > MAX_HEADER) throw corrupt(file, "header length " + headerLen + " is implausible");
        if (preLen + headerLen > size)
            throw corrupt(file, "header of " + headerLen + " bytes runs past the end of the file (" + size + " bytes)");
        ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
        readFully(ch, hb, preLen);
        String text = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1).strip();
        if (!text.startsWith("{") || !text.endsWith("}")) throw corrupt(file, "header is not a dictionary");

        Matcher d = DESCR.matcher(text);
        if (!d.find()) throw corrupt(file, "header has no 'descr' string (structured dtypes are not supported)");
        String descr = d.group(1);
        Matcher f = FORTRAN.matcher(text);
        if (!f.find()) throw corrupt(file, "header has no 'fortran_order'");
        if (f.group(1).equals("True"))
            throw new SalientException(file + ": Fortran-order arrays are not supported (save with np.ascontiguousarray)");
        Matcher s = SHAPE.matcher(text);
        if (!s.find()) throw corrupt(file, "header has no 'shape' tuple");
        long[] shape = parseShape(s.group(1), file);

        if (descr.length() < 3) throw unsupported(file, descr);
        char order = descr.charAt(0);
        char kind = descr.charAt(1);
        int item;
        try {
            item = Integer.parseInt(descr.substring(2));
        } catch (NumberFormatException e) {
            throw unsupported(file, descr);
        }
        boolean ok = (order == '<' || order == '>' || order == '=' || order == '|')
                && ((kind == 'f' && (item == 4 || item == 8)) || (kind == 'i' && (item == 4 || item == 8))
                        || (kind == 'u' && item == 1));
        if (!ok || (order == '|' && item != 1)) throw unsupported(file, descr);
        return new Header(order == '>' ? '>' : '<', kind, item, shape, preLen + headerLen);
    }

    private static long[] parseShape(String body, Path file) {
        List<Long> dims = new ArrayList<>();
        for (String part : body.split(",")) {
            String p = part.strip();
            if (p.endsWith("L")) p = p.substring(0, p.length() - 1);
            if (p.isEmpty()) continue;
            try {
                long v = Long.parseLong(p);
                if (v < 0) throw corrupt(file, "negative dimension " + v + " in shape (" + body + ")");
                dims.add(v);
            } catch (NumberFormatException e) {
                throw corrupt(file, "bad dimension '" + p + "' in shape (" + body + ")");
            }
        }
        if (dims.size() > 32) throw corrupt(file, "shape has " + dims.size() + " dimensions");
        return dims.stream().mapToLong(Long::longValue).toArray();
    }

    private static long numel(long[] shape, Path file) {
        long n = 1;
        for (long d : shape) {
            if (d != 0 && n > MAX_ELEMENTS / d)
                throw new SalientException(file + ": shape " + shapeStr(shape) + " has more than " + MAX_ELEMENTS
                        + " elements, too large to load");
            n *= d;
        }
        if (n > MAX_ELEMENTS)
            throw new SalientException(file + ": shape " + shapeStr(shape) + " is too large to load");
        return n;
    }

    // ---- data

    private static void readData(FileChannel ch, Header h, float[] out) throws IOException {
        int chunkElems = (1 << 20) / h.itemSize;
        ByteBuffer buf = ByteBuffer.allocate(chunkElems * h.itemSize)
                .order(h.order == '>' ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
        long pos = h.dataOffset;
        int i = 0;
        while (i < out.length) {
            int m = Math.min(out.length - i, chunkElems);
            buf.clear().limit(m * h.itemSize);
            readFully(ch, buf, pos);
            pos += (long) m * h.itemSize;
            buf.flip();
            switch (h.kind * 16 + h.itemSize) {
                case 'f' * 16 + 4 -> buf.asFloatBuffer().get(out, i, m);
                case 'f' * 16 + 8 -> { for (int k = 0; k < m; k++) out[i + k] = (float) buf.getDouble(); }
                case 'i' * 16 + 4 -> { for (int k = 0; k < m; k++) out[i + k] = buf.getInt(); }
                case 'i' * 16 + 8 -> { for (int k = 0; k < m; k++) out[i + k] = buf.getLong(); }
                case 'u' * 16 + 1 -> { for (int k = 0; k < m; k++) out[i + k] = buf.get() & 0xff; }
                default -> throw new IllegalStateException("dtype checked in readHeader");
            }
            i += m;
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) throw new IOException("unexpected end of file");
            pos += r;
        }
    }

    private static String dtype(Header h) {
        return "'" + h.order + h.kind + h.itemSize + "'";
    }

    private static String shapeStr(long[] shape) {
        return java.util.Arrays.toString(shape).replace('[', '(').replace(']', ')');
    }

    private static SalientException corrupt(Path file, String what) {
        return new SalientException(file + ": corrupt NPY: " + what);
    }

    private static SalientException unsupported(Path file, String descr) {
        return new SalientException(file + ": unsupported NPY dtype '" + descr
                + "' (use float32 '<f4'; float64, int32, int64 and uint8 are converted)");
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) m = e.getClass().getSimpleName();
        return m.replace('\n', ' ').replace('\r', ' ');
    }
}
