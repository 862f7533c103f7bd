package dev.salient.onnx;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.salient.engine.SalientException;
import dev.salient.model.HostTensor;
import dev.salient.onnx.proto.Onnx.StringStringEntryProto;
import dev.salient.onnx.proto.Onnx.TensorProto;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Float initializers decoded straight into off-heap memory (what a model load does) hold the same
 * values as the heap decode, for every float storage: raw FLOAT, DOUBLE, FLOAT16 and BFLOAT16
 * bytes, the typed fields, and external data files.
 */
class OffHeapDecodeTest {
    @TempDir
    Path dir;

    static final int N = HostTensor.OFF_HEAP_MIN_NUMEL + 3;

    static TensorProto.Builder t(int type) {
        return TensorProto.newBuilder().setName("t").setDataType(type).addDims(N);
    }

    static ByteBuffer le(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    void same(TensorProto p) {
        HostTensor heap = new TensorDecoder(dir, false).decode(p), off = new TensorDecoder(dir, true).decode(p);
        assertFalse(heap.isOffHeap());
        assertTrue(off.isOffHeap(), "type " + p.getDataType() + " of " + N + " floats decodes off the heap");
        assertArrayEquals(heap.shape(), off.shape());
        assertArrayEquals(heap.floats(), off.floats(), "type " + p.getDataType());
    }

    @Test
    void everyFloatStorageDecodesOffHeapToTheHeapValues() throws Exception {
        Random r = new Random(1);
        ByteBuffer f32 = le(4 * N), f64 = le(8 * N), f16 = le(2 * N);
        TensorProto.Builder typed = t(1), typedHalf = t(16), typedDouble = t(11);
        for (int i = 0; i < N; i++) {
            float v = (float) r.nextGaussian();
            f32.putFloat(v);
            f64.putDouble(r.nextGaussian());
            f16.putShort((short) (0x3C00 + (i & 0x3ff))); // 1 + i/1024 in float16
            typed.addFloatData(v);
            typedHalf.addInt32Data(Float.floatToIntBits(v) >>> 16); // bfloat16
            typedDouble.addDoubleData(v * 3.0);
        }
        same(t(1).setRawData(ByteString.copyFrom(f32.array())).build());
        same(t(11).setRawData(ByteString.copyFrom(f64.array())).build());
        same(t(10).setRawData(ByteString.copyFrom(f16.array())).build());
        same(typed.build());
        same(typedHalf.build());
        same(typedDouble.build());
        // a little-endian external file, at an offset
        byte[] file = new byte[16 + 4 * N];
        System.arraycopy(f32.array(), 0, file, 16, 4 * N);
        Files.write(dir.resolve("w.bin"), file);
        TensorProto ext = t(1).setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("w.bin"))
                .addExternalData(StringStringEntryProto.newBuilder().setKey("offset").setValue("16")).build();
        same(ext);
        assertEquals(f32.getFloat(4 * 7), new TensorDecoder(dir, true).decode(ext).floats()[7]);
    }

    @Test
    void smallAndIntegerTensorsStayOnTheHeap() {
        TensorDecoder dec = new TensorDecoder(dir, true);
        assertFalse(dec.decode(TensorProto.newBuilder().setName("s").setDataType(1).addDims(2).addFloatData(1).addFloatData(2).build())
                .isOffHeap());
        TensorProto.Builder ints = TensorProto.newBuilder().setName("i").setDataType(7).addDims(N);
        for (int i = 0; i < N; i++) ints.addInt64Data(i);
        HostTensor h = dec.decode(ints.build());
        assertFalse(h.isOffHeap());
        assertFalse(h.isFloat());
    }

    @Test
    void aTruncatedExternalFileIsOneLineError() throws Exception {
        Files.write(dir.resolve("short.bin"), new byte[4 * N - 4]);
        TensorProto ext = t(1).setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("short.bin")).build();
        var e = assertThrows(SalientException.class, () -> new TensorDecoder(dir, true).decode(ext));
        assertTrue(e.getMessage().contains("exceeds external file 'short.bin'"), e.getMessage());
    }
}
