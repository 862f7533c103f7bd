package dev.salient.report;

import dev.salient.engine.SalientException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Writes a float32 C-order NPY (version 1.0) row block by row block, so a long
 * run keeps what it has written: the header is reserved up front, and each
 * {@link #append} writes its rows, syncs them, and only then rewrites the
 * header's row count. At every moment the file is a valid NPY of the rows
 * appended so far (rows being written lie past the declared shape, which
 * numpy and {@link dev.salient.io.Npy} ignore), also after SIGKILL or a power cut.
 */
public final class NpyStreamWriter implements AutoCloseable {
    private static final int HEADER = 128;
    private final Path path;
    private final RandomAccessFile file;
    private final FileChannel ch;
    private final long[] rowShape;
    private long rows;

    /** @param rowShape the shape of one row (e.g. (C,H,W) or (H,W)) */
    public NpyStreamWriter(Path path, long... rowShape) {
        this.path = path;
        this.rowShape = rowShape.clone();
        for (long d : rowShape)
            if (d <= 0) throw new SalientException(path + ": cannot write rows of shape " + Arrays.toString(rowShape) + " (empty)");
        try {
            Path parent = path.toAbsolutePath().getParent();
            if (parent != null) java.nio.file.Files.createDirectories(parent);
            this.file = new RandomAccessFile(path.toFile(), "rw");
            file.setLength(0);
            this.ch = file.getChannel();
            writeHeader();
        } catch (IOException e) {
            throw new SalientException(path + ": cannot write (" + e.getMessage() + ")");
        }
    }

    public void append(float[] values, int offset, int count) {
        long row = 1;
        for (long d : rowShape) row *= d;
        if (count % row != 0) throw new SalientException(path + ": appended " + count + " values, not whole rows of " + row);
        if (count == 0) return;
        ByteBuffer buf = ByteBuffer.allocate(count * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(values, offset, count);
        try {
            ch.position(HEADER + rows * row * 4);
            while (buf.hasRemaining()) ch.write(buf);
            ch.force(false); // the rows reach the disk before the header counts them
            rows += count / row;
            writeHeader();
        } catch (IOException e) {
            throw new SalientException(path + ": write failed (" + e.getMessage() + ")");
        }
    }

    public long rows() {
        return rows;
    }

    private void writeHeader() throws IOException {
        long[] shape = new long[rowShape.length + 1];
        shape[0] = rows;
        System.arraycopy(rowShape, 0, shape, 1, rowShape.length);
        // numpy's spelling: "(3,)" for one axis, "(3, 4)" for more
        String shapeStr = shape.length == 1 ? "(" + shape[0] + ",)" : Arrays.toString(shape).replace('[', '(').replace(']', ')');
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shapeStr + ", }";
        int pad = HEADER - 10 - dict.length() - 1;
        if (pad < 0) throw new IOException("shape too long for the NPY header");
        ByteBuffer h = ByteBuffer.allocate(HEADER).order(ByteOrder.LITTLE_ENDIAN);
        h.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
        h.putShort((short) (HEADER - 10));
        h.put(dict.getBytes(StandardCharsets.US_ASCII));
        for (int i = 0; i < pad; i++) h.put((byte) ' ');
        h.put((byte) '\n');
        h.flip();
        ch.position(0);
        while (h.hasRemaining()) ch.write(h);
    }

    @Override
    public void close() {
        try {
            writeHeader();
            ch.force(false);
            file.close();
        } catch (IOException e) {
            throw new SalientException(path + ": cannot finish (" + e.getMessage() + ")");
        }
    }
}
