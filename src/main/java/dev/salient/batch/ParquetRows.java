package dev.salient.batch;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.WriteSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.LocalOutputFile;
import org.apache.parquet.io.OutputFile;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.io.api.RecordConsumer;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Types;

/**
 * The Parquet rows of {@code salient batch --format parquet}, one per image,
 * method and target (the Spark job writes the same columns):
 * <pre>
 *   path         string             the image
 *   label        int32              its label (ImageFolder class, labels CSV), or null
 *   method       string
 *   target       int32              the class explained (null when the image failed)
 *   score        float              the target's raw logit
 *   delta        float              IG's convergence delta, else null
 *   shape        list&lt;int32&gt;        the attribution's shape: (C,H,W) or (H,W)
 *   attribution  binary             float32 little-endian, row-major, of that shape
 *   error        string             why the image failed, else null
 * </pre>
 * Every column is nullable, as Spark writes them, so both read back with one schema
 * (path and method are never null). Written uncompressed (float maps barely
 * compress), in row groups of 32 MiB.
 */
public final class ParquetRows implements Closeable {
    /** One row; {@code attribution} holds the float32 bytes (little-endian). */
    public record Row(String path, Integer label, String method, Integer target, Float score, Float delta, int[] shape,
            byte[] attribution, String error) {
        /** A row for an image that failed: no target, score or map. */
        public static Row failed(String path, Integer label, String method, String error) {
            return new Row(path, label, method, null, null, null, null, null, error);
        }
    }

    public static final MessageType SCHEMA = Types.buildMessage()
            .optional(PrimitiveTypeName.BINARY).as(LogicalTypeAnnotation.stringType()).named("path")
            .optional(PrimitiveTypeName.INT32).named("label")
            .optional(PrimitiveTypeName.BINARY).as(LogicalTypeAnnotation.stringType()).named("method")
            .optional(PrimitiveTypeName.INT32).named("target")
            .optional(PrimitiveTypeName.FLOAT).named("score")
            .optional(PrimitiveTypeName.FLOAT).named("delta")
            .optionalList().optionalElement(PrimitiveTypeName.INT32).named("shape")
            .optional(PrimitiveTypeName.BINARY).named("attribution")
            .optional(PrimitiveTypeName.BINARY).as(LogicalTypeAnnotation.stringType()).named("error")
            .named("spark_schema");

    private final ParquetWriter<Row> writer;

    /** Opens {@code file} (created or overwritten) for rows. */
    public ParquetRows(Path file) throws IOException {
        this.writer = new Builder(new LocalOutputFile(file)).withCompressionCodec(CompressionCodecName.UNCOMPRESSED)
                .withWriteMode(ParquetFileWriter.Mode.OVERWRITE).withRowGroupSize(32L << 20).withPageSize(1 << 20)
                .withDictionaryEncoding(false).withValidation(false).build();
    }

    public void write(Row r) throws IOException {
        writer.write(r);
    }

    @Override
    public void close() throws IOException {
        writer.close();
    }

    /** Float32 little-endian bytes of {@code values[from, from+count)}. */
    public static byte[] floatBytes(float[] values, int from, int count) {
        ByteBuffer b = ByteBuffer.allocate(count * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values, from, count);
        return b.array();
    }

    private static final class Builder extends ParquetWriter.Builder<Row, Builder> {
        Builder(OutputFile file) {
            super(file);
        }

        @Override
        protected Builder self() {
            return this;
        }

        @Override
        protected WriteSupport<Row> getWriteSupport(Configuration conf) {
            return new RowWriteSupport();
        }
    }

    private static final class RowWriteSupport extends WriteSupport<Row> {
        private RecordConsumer rc;

        @Override
        public WriteContext init(Configuration configuration) {
            return new WriteContext(SCHEMA, Map.of());
        }

        @Override
        public void prepareForWrite(RecordConsumer recordConsumer) {
            this.rc = recordConsumer;
        }

        @Override
        public void write(Row r) {
            rc.startMessage();
            string(0, "path", r.path());
            if (r.label() != null) int32(1, "label", r.label());
            string(2, "method", r.method());
            if (r.target() != null) int32(3, "target", r.target());
            if (r.score() != null) float32(4, "score", r.score());
            if (r.delta() != null) float32(5, "delta", r.delta());
            if (r.shape() != null) {
                rc.startField("shape", 6);
                rc.startGroup();
                if (r.shape().length > 0) {
                    rc.startField("list", 0);
                    for (int d : r.shape()) {
                        rc.startGroup();
                        rc.startField("element", 0);
                        rc.addInteger(d);
                        rc.endField("element", 0);
                        rc.endGroup();
                    }
                    rc.endField("list", 0);
                }
                rc.endGroup();
                rc.endField("shape", 6);
            }
            if (r.attribution() != null) {
                rc.startField("attribution", 7);
                rc.addBinary(Binary.fromConstantByteArray(r.attribution()));
                rc.endField("attribution", 7);
            }
            if (r.error() != null) string(8, "error", r.error());
            rc.endMessage();
        }

        private void string(int i, String name, String v) {
            rc.startField(name, i);
            rc.addBinary(Binary.fromString(v));
            rc.endField(name, i);
        }

        private void int32(int i, String name, int v) {
            rc.startField(name, i);
            rc.addInteger(v);
            rc.endField(name, i);
        }

        private void float32(int i, String name, float v) {
            rc.startField(name, i);
            rc.addFloat(v);
            rc.endField(name, i);
        }
    }
}
