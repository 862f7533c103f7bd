package dev.salient.onnx;

import static org.junit.jupiter.api.Assertions.*;

import com.google.protobuf.ByteString;
import dev.salient.engine.SalientException;
import dev.salient.model.HostTensor;
import dev.salient.onnx.proto.Onnx.TensorProto;
import org.junit.jupiter.api.Test;

/** Initializer decoding: every storage field and data type salient reads. */
class TensorDecoderTest {
    final TensorDecoder dec = new TensorDecoder(null);

    static TensorProto.Builder t(int type, long... dims) {
        TensorProto.Builder b = TensorProto.newBuilder().setName("t").setDataType(type);
        for (long d : dims) b.addDims(d);
        return b;
    }

    @Test
    void floatTypes() {
        assertArrayEquals(new float[] {1.5f, -2f}, dec.decode(t(1, 2).addFloatData(1.5f).addFloatData(-2f).build()).floats());
        assertArrayEquals(new float[] {0.25f}, dec.decode(t(11, 1).addDoubleData(0.25).build()).floats());
        // float16: 1.0 = 0x3C00, -2.0 = 0xC000, smallest subnormal 0x0001 = 2^-24, +inf 0x7C00
        HostTensor h = dec.decode(t(10, 4).setRawData(ByteString.copyFrom(new byte[] {0x00, 0x3C, 0x00, (byte) 0xC0, 0x01, 0x00, 0x00, 0x7C})).build());
        assertArrayEquals(new float[] {1f, -2f, (float) Math.pow(2, -24), Float.POSITIVE_INFINITY}, h.floats());
        assertArrayEquals(new float[] {1f}, dec.decode(t(10, 1).addInt32Data(0x3C00).build()).floats());
        // bfloat16 1.0 = 0x3F80
        assertArrayEquals(new float[] {1f}, dec.decode(t(16, 1).setRawData(ByteString.copyFrom(new byte[] {(byte) 0x80, 0x3F})).build()).floats());
        assertTrue(dec.decode(t(1).addFloatData(3f).build()).isFloat(), "a scalar has no dims");
    }

    @Test
    void integerTypes() {
        assertArrayEquals(new long[] {-1, 7}, dec.decode(t(7, 2).addInt64Data(-1).addInt64Data(7).build()).longs());
        assertArrayEquals(new long[] {255, 1}, dec.decode(t(2, 2).setRawData(ByteString.copyFrom(new byte[] {(byte) 255, 1})).build()).longs());
        assertArrayEquals(new long[] {-1}, dec.decode(t(3, 1).setRawData(ByteString.copyFrom(new byte[] {(byte) 255})).build()).longs());
        assertArrayEquals(new long[] {3, -4}, dec.decode(t(6, 2).addInt32Data(3).addInt32Data(-4).build()).longs());
        assertArrayEquals(new long[] {1, 0}, dec.decode(t(9, 2).addInt32Data(1).addInt32Data(0).build()).longs());
        assertArrayEquals(new long[] {65535}, dec.decode(t(4, 1).setRawData(ByteString.copyFrom(new byte[] {-1, -1})).build()).longs());
    }

    @Test
    void rejectsUnsupportedAndInconsistent() {
        SalientException s = assertThrows(SalientException.class, () -> dec.decode(t(8, 1).build()));
        assertTrue(s.getMessage().contains("'t'") && s.getMessage().contains("STRING"), s.getMessage());
        assertThrows(SalientException.class, () -> dec.decode(t(1, -1).build()));
        assertThrows(SalientException.class, () -> dec.decode(t(1, 3).addFloatData(1).build()));
        assertThrows(SalientException.class, () -> dec.decode(t(1, 1L << 62, 1L << 62).build()));
        SalientException ext = assertThrows(SalientException.class, () -> dec.decode(t(1, 1)
                .setDataLocation(TensorProto.DataLocation.EXTERNAL).build()));
        assertTrue(ext.getMessage().contains("location"), ext.getMessage());
    }
}
