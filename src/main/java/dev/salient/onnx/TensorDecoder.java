package dev.salient.onnx;

import com.google.protobuf.ByteString;
import dev.salient.engine.SalientException;
import dev.salient.model.HostTensor;
import dev.salient.onnx.proto.Onnx.StringStringEntryProto;
import dev.salient.onnx.proto.Onnx.TensorProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Decodes an ONNX TensorProto into a {@link HostTensor}: raw_data or the typed
 * fields (float_data, int32_data, int64_data, double_data, uint64_data), and
 * external data files resolved only inside the model's folder. Every declared
 * size is checked against the bytes actually present before anything is
 * allocated. float16/bfloat16 and double are widened/narrowed to float32;
 * integer and bool types become long.
 */
public final class TensorDecoder {
    /** Largest single tensor accepted (elements): what a Java array can hold. */
    static final long MAX_NUMEL = Integer.MAX_VALUE - 8;

    private final Path modelDir; // null: external data not allowed (e.g. tensors inside attributes of test data)
    private final boolean offHeap;

    public TensorDecoder(Path modelDir) {
        this(modelDir, false);
    }

    /**
     * A decoder that, when {@code offHeap}, writes float tensors of at least
     * {@link HostTensor#OFF_HEAP_MIN_NUMEL} elements straight into off-heap memory (a model's
     * weights), so that the Java heap never holds them.
     */
    public TensorDecoder(Path modelDir, boolean offHeap) {
        this.modelDir = modelDir;
        this.offHeap = offHeap;
    }

    private static final int FLOAT = 1, UINT8 = 2, INT8 = 3, UINT16 = 4, INT16 = 5, INT32 = 6, INT64 = 7,
            STRING = 8, BOOL = 9, FLOAT16 = 10, DOUBLE = 11, UINT32 = 12, UINT64 = 13, BFLOAT16 = 16;

    static String typeName(int t) {
        try {
            return TensorProto.DataType.forNumber(t) == null ? "type " + t : TensorProto.DataType.forNumber(t).name();
        } catch (RuntimeException e) {
            return "type " + t;
        }
    }

    private static int elemSize(int t, String name) {
        return switch (t) {
            case FLOAT, INT32, UINT32 -> 4;
            case UINT8, INT8, BOOL -> 1;
            case UINT16, INT16, FLOAT16, BFLOAT16 -> 2;
            case INT64, DOUBLE, UINT64 -> 8;
            default -> throw new SalientException("tensor '" + name + "': data type " + typeName(t) + " is not supported");
        };
    }

    /** True for data types that decode to float. */
    public static boolean isFloatType(int t) {
        return t == FLOAT || t == DOUBLE || t == FLOAT16 || t == BFLOAT16;
    }

    public HostTensor decode(TensorProto t) {
        String name = t.getName().isEmpty() ? "<unnamed>" : t.getName();
        int type = t.getDataType();
        long[] shape = new long[t.getDimsCount()];
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = t.getDims(i);
            if (shape[i] < 0) throw new SalientException("tensor '" + name + "': negative dimension in " + Arrays.toString(shape));
            try {
                n = Math.multiplyExact(n, shape[i]);
            } catch (ArithmeticException e) {
                throw new SalientException("tensor '" + name + "': declared size overflows");
            }
        }
        if (t.hasSegment()) throw new SalientException("tensor '" + name + "': segmented tensors are not supported");
        int es = elemSize(type, name);
        if (n > MAX_NUMEL || n * es > MAX_NUMEL)
            throw new SalientException("tensor '" + name + "': declared shape " + Arrays.toString(shape)
                    + " exceeds the size budget of " + MAX_NUMEL + " bytes");
        int count = (int) n;
        boolean native_ = offHeap && isFloatType(type) && count >= HostTensor.OFF_HEAP_MIN_NUMEL;
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            if (native_ && type == FLOAT) return externalFloats(t, name, shape, count);
            return fromBytes(name, type, shape, count, readExternal(t, name, (long) count * es));
        }
        if (t.hasRawData()) {
            ByteString raw = t.getRawData();
            if (raw.size() != (long) count * es)
                throw new SalientException("tensor '" + name + "': declared shape " + Arrays.toString(shape) + " needs "
                        + (long) count * es + " bytes but raw_data holds " + raw.size());
            if (native_) return offHeapFromBytes(type, shape, count, raw.asReadOnlyByteBuffer());
            return fromBytes(name, type, shape, count, raw.asReadOnlyByteBuffer());
        }
        if (native_) {
            switch (type) {
                case FLOAT -> {
                    need(name, shape, count, t.getFloatDataCount(), "float_data");
                    return HostTensor.offHeapFloats(shape, b -> {
                        java.nio.FloatBuffer o = b.asFloatBuffer();
                        for (int i = 0; i < count; i++) o.put(i, t.getFloatData(i));
                    });
                }
                case DOUBLE -> {
                    need(name, shape, count, t.getDoubleDataCount(), "double_data");
                    return HostTensor.offHeapFloats(shape, b -> {
                        java.nio.FloatBuffer o = b.asFloatBuffer();
                        for (int i = 0; i < count; i++) o.put(i, (float) t.getDoubleData(i));
                    });
                }
                default -> { // FLOAT16, BFLOAT16
                    need(name, shape, count, t.getInt32DataCount(), "int32_data");
                    return HostTensor.offHeapFloats(shape, b -> {
                        java.nio.FloatBuffer o = b.asFloatBuffer();
                        for (int i = 0; i < count; i++) o.put(i, halfBits(type, t.getInt32Data(i) & 0xffff));
                    });
                }
            }
        }
        switch (type) {
            case FLOAT -> {
                need(name, shape, count, t.getFloatDataCount(), "float_data");
                float[] f = new float[count];
                for (int i = 0; i < count; i++) f[i] = t.getFloatData(i);
                return HostTensor.ofFloats(f, shape);
            }
            case DOUBLE -> {
                need(name, shape, count, t.getDoubleDataCount(), "double_data");
                float[] f = new float[count];
                for (int i = 0; i < count; i++) f[i] = (float) t.getDoubleData(i);
                return HostTensor.ofFloats(f, shape);
            }
            case FLOAT16, BFLOAT16 -> {
                need(name, shape, count, t.getInt32DataCount(), "int32_data");
                float[] f = new float[count];
                for (int i = 0; i < count; i++) f[i] = halfBits(type, t.getInt32Data(i) & 0xffff);
                return HostTensor.ofFloats(f, shape);
            }
            case INT64 -> {
                need(name, shape, count, t.getInt64DataCount(), "int64_data");
                long[] l = new long[count];
                for (int i = 0; i < count; i++) l[i] = t.getInt64Data(i);
                return HostTensor.ofLongs(l, shape);
            }
            case UINT32, UINT64 -> {
                need(name, shape, count, t.getUint64DataCount(), "uint64_data");
                long[] l = new long[count];
                for (int i = 0; i < count; i++) l[i] = t.getUint64Data(i);
                return HostTensor.ofLongs(l, shape);
            }
            default -> {
                need(name, shape, count, t.getInt32DataCount(), "int32_data");
                long[] l = new long[count];
                for (int i = 0; i < count; i++) l[i] = t.getInt32Data(i);
                return HostTensor.ofLongs(l, shape);
            }
        }
    }

    private static void need(String name, long[] shape, int count, int have, String field) {
        if (have != count)
            throw new SalientException("tensor '" + name + "': declared shape " + Arrays.toString(shape) + " needs " + count
                    + " values but " + field + " holds " + have);
    }

    static float halfBits(int type, int bits) {
        if (type == BFLOAT16) return Float.intBitsToFloat(bits << 16);
        int sign = (bits >>> 15) & 1, exp = (bits >>> 10) & 0x1f, mant = bits & 0x3ff;
        float v;
        if (exp == 0) v = (float) (mant * Math.pow(2, -24));
        else if (exp == 31) v = mant == 0 ? Float.POSITIVE_INFINITY : Float.NaN;
        else v = Float.intBitsToFloat(((exp - 15 + 127) << 23) | (mant << 13));
        return sign == 1 ? -v : v;
    }

    private static HostTensor fromBytes(String name, int type, long[] shape, int count, ByteBuffer buf) {
        ByteBuffer b = buf.order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case FLOAT -> {
                float[] f = new float[count];
                b.asFloatBuffer().get(f);
                return HostTensor.ofFloats(f, shape);
            }
            case DOUBLE -> {
                float[] f = new float[count];
                for (int i = 0; i < count; i++) f[i] = (float) b.getDouble();
                return HostTensor.ofFloats(f, shape);
            }
            case FLOAT16, BFLOAT16 -> {
                float[] f = new float[count];
                for (int i = 0; i < count; i++) f[i] = halfBits(type, b.getShort() & 0xffff);
                return HostTensor.ofFloats(f, shape);
            }
            default -> {
                long[] l = new long[count];
                for (int i = 0; i < count; i++)
                    l[i] = switch (type) {
                        case INT64, UINT64 -> b.getLong();
                        case INT32 -> b.getInt();
                        case UINT32 -> b.getInt() & 0xffffffffL;
                        case INT16 -> b.getShort();
                        case UINT16 -> b.getShort() & 0xffff;
                        case INT8 -> b.get();
                        case UINT8, BOOL -> b.get() & 0xff;
                        default -> throw new SalientException("tensor '" + name + "': data type " + typeName(type) + " is not supported");
                    };
                return HostTensor.ofLongs(l, shape);
            }
        }
    }

    /** Float data (little-endian FLOAT, DOUBLE, FLOAT16 or BFLOAT16 bytes) decoded straight into off-heap memory. */
    private static HostTensor offHeapFromBytes(int type, long[] shape, int count, ByteBuffer buf) {
        ByteBuffer b = buf.order(ByteOrder.LITTLE_ENDIAN);
        return HostTensor.offHeapFloats(shape, out -> {
            java.nio.FloatBuffer o = out.asFloatBuffer();
            switch (type) {
                case FLOAT -> o.put(b.asFloatBuffer());
                case DOUBLE -> {
                    for (int i = 0; i < count; i++) o.put(i, (float) b.getDouble(8 * i + b.position()));
                }
                default -> {
                    for (int i = 0; i < count; i++) o.put(i, halfBits(type, b.getShort(2 * i + b.position()) & 0xffff));
                }
            }
        });
    }

    /** External FLOAT data read from its file straight into off-heap memory. */
    private HostTensor externalFloats(TensorProto t, String name, long[] shape, int count) {
        External x = external(t, name, (long) count * 4);
        try (FileChannel ch = FileChannel.open(x.file, StandardOpenOption.READ)) {
            checkExtent(name, x, ch.size(), (long) count * 4);
            return HostTensor.offHeapFloats(shape, out -> {
                ByteBuffer dst = out.duplicate();
                long pos = x.offset;
                try {
                    while (dst.hasRemaining()) {
                        int r = ch.read(dst, pos);
                        if (r < 0) throw new SalientException("tensor '" + name + "': external file '" + x.location + "' is truncated");
                        pos += r;
                    }
                } catch (IOException e) {
                    throw new SalientException("tensor '" + name + "': cannot read external file '" + x.location + "': " + e.getMessage());
                }
                if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) { // the file is little-endian
                    java.nio.FloatBuffer le = out.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                    float[] v = new float[count];
                    le.get(v);
                    out.asFloatBuffer().put(v);
                }
            });
        } catch (IOException e) {
            throw new SalientException("tensor '" + name + "': cannot read external file '" + x.location + "': " + e.getMessage());
        }
    }

    private record External(Path file, String location, long offset) {}

    private External external(TensorProto t, String name, long bytes) {
        String location = null;
        long offset = 0, length = -1;
        boolean hasLength = false;
        for (StringStringEntryProto e : t.getExternalDataList()) {
            switch (e.getKey()) {
                case "location" -> location = e.getValue();
                case "offset" -> offset = parseLong(name, "offset", e.getValue());
                case "length" -> {
                    length = parseLong(name, "length", e.getValue());
                    hasLength = true;
                }
                default -> { } // checksum etc.
            }
        }
        if (location == null || location.isEmpty())
            throw new SalientException("tensor '" + name + "': external data without a location");
        if (modelDir == null)
            throw new SalientException("tensor '" + name + "': external data is not allowed here");
        if (hasLength && length != bytes)
            throw new SalientException("tensor '" + name + "': external data length " + length + " does not match the "
                    + bytes + " bytes its shape needs");
        return new External(resolveInside(name, location), location, offset);
    }

    private static void checkExtent(String name, External x, long size, long bytes) {
        if (x.offset < 0 || x.offset > size || size - x.offset < bytes)
            throw new SalientException("tensor '" + name + "': declared size of " + bytes + " bytes at offset " + x.offset
                    + " exceeds external file '" + x.location + "' (" + size + " bytes)");
    }

    private ByteBuffer readExternal(TensorProto t, String name, long bytes) {
        External x = external(t, name, bytes);
        try (FileChannel ch = FileChannel.open(x.file, StandardOpenOption.READ)) {
            checkExtent(name, x, ch.size(), bytes);
            ByteBuffer buf = ByteBuffer.allocate((int) bytes);
            long pos = x.offset;
            while (buf.hasRemaining()) {
                int r = ch.read(buf, pos);
                if (r < 0) throw new SalientException("tensor '" + name + "': external file '" + x.location + "' is truncated");
                pos += r;
            }
            buf.flip();
            return buf;
        } catch (IOException e) {
            throw new SalientException("tensor '" + name + "': cannot read external file '" + x.location + "': " + e.getMessage());
        }
    }

    private static long parseLong(String name, String key, String v) {
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new SalientException("tensor '" + name + "': external data " + key + " '" + v + "' is not a number");
        }
    }

    /** The external file, which must lie inside the model's folder (no absolute paths, no escape by .. or links). */
    Path resolveInside(String name, String location) {
        Path rel;
        try {
            rel = Path.of(location);
        } catch (RuntimeException e) {
            throw new SalientException("tensor '" + name + "': invalid external data location '" + location + "'");
        }
        if (rel.isAbsolute() || location.startsWith("/") || location.startsWith("\\"))
            throw new SalientException("tensor '" + name + "': external data location '" + location
                    + "' is absolute; it must be a path inside the model's folder");
        try {
            Path base = modelDir.toRealPath();
            Path candidate = base.resolve(rel).normalize();
            if (!candidate.startsWith(base))
                throw new SalientException("tensor '" + name + "': external data location '" + location
                        + "' escapes the model's folder");
            if (!Files.exists(candidate, LinkOption.NOFOLLOW_LINKS))
                throw new SalientException("tensor '" + name + "': external data file '" + location + "' not found next to the model");
            Path real = candidate.toRealPath();
            if (!real.startsWith(base))
                throw new SalientException("tensor '" + name + "': external data location '" + location
                        + "' links outside the model's folder");
            if (!Files.isRegularFile(real))
                throw new SalientException("tensor '" + name + "': external data location '" + location + "' is not a file");
            return real;
        } catch (IOException e) {
            throw new SalientException("tensor '" + name + "': cannot resolve external data location '" + location + "'");
        }
    }
}
