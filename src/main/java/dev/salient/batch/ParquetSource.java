package dev.salient.batch;

import dev.salient.engine.SalientException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ParquetMetadata;
import org.apache.parquet.io.LocalInputFile;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;

/**
 * Images listed in a Parquet file: a {@code path} column (string), or the encoded
 * images in a {@code bytes} or {@code content} column (binary; Spark's binaryFile
 * source writes {@code path} and {@code content}); an optional {@code label}
 * (int32/int64). When both are there the bytes are decoded and the path names them.
 * Rows are streamed: only the decode window's images are in memory. (parquet-java's
 * example Group reader, on the Hadoop stand-ins of parquet-floor; parquet-floor's own
 * reader turns binary columns into text, which would corrupt image bytes.)
 */
final class ParquetSource implements BatchSource {
    private final Path file;
    private final long rows;
    private final String pathColumn, bytesColumn, labelColumn;
    private final boolean labelLong;
    private final Map<String, Object> describe;

    private ParquetSource(Path file, long rows, String pathColumn, String bytesColumn, String labelColumn, boolean labelLong,
            Map<String, Object> describe) {
        this.labelLong = labelLong;
        this.file = file;
        this.rows = rows;
        this.pathColumn = pathColumn;
        this.bytesColumn = bytesColumn;
        this.labelColumn = labelColumn;
        this.describe = describe;
    }

    static ParquetSource open(Path file) {
        ParquetMetadata meta;
        try {
            try (ParquetFileReader r = ParquetFileReader.open(new LocalInputFile(file))) {
                meta = r.getFooter();
            }
        } catch (IOException | RuntimeException e) {
            throw new SalientException(file + ": not a readable Parquet file (" + oneLine(e) + ")");
        }
        MessageType schema = meta.getFileMetaData().getSchema();
        String path = column(schema, PrimitiveTypeName.BINARY, "path");
        String bytes = column(schema, PrimitiveTypeName.BINARY, "bytes", "content");
        String label = column(schema, PrimitiveTypeName.INT32, "label");
        boolean labelLong = false;
        if (label == null) {
            label = column(schema, PrimitiveTypeName.INT64, "label");
            labelLong = label != null;
        }
        if (path == null && bytes == null)
            throw new SalientException(file + ": has no 'path' column (string) or 'bytes'/'content' column (binary) "
                    + "naming the images; its columns: "
                    + schema.getFields().stream().map(Type::getName).collect(Collectors.joining(", ")));
        long n = 0;
        for (BlockMetaData b : meta.getBlocks()) n += b.getRowCount();
        if (n == 0) throw new SalientException(file + ": Parquet file has no rows");
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("kind", "parquet");
        d.put("path", file.toAbsolutePath().normalize().toString());
        d.put("items", n);
        try {
            d.put("bytes", Files.size(file));
        } catch (IOException e) {
            throw new SalientException(file + ": " + oneLine(e));
        }
        d.put("columns", (path != null ? path : "") + "," + (bytes != null ? bytes : "") + "," + (label != null ? label : ""));
        return new ParquetSource(file, n, path, bytes, label, labelLong, d);
    }

    /** The first top-level primitive column named one of {@code names} (any case) with that type, or null. */
    private static String column(MessageType schema, PrimitiveTypeName type, String... names) {
        for (String want : names)
            for (Type t : schema.getFields())
                if (t.isPrimitive() && t.getName().equalsIgnoreCase(want) && t.asPrimitiveType().getPrimitiveTypeName() == type)
                    return t.getName();
        return null;
    }

    @Override
    public long size() {
        return rows;
    }

    @Override
    public Iterator<Item> items(long from) {
        org.apache.parquet.hadoop.ParquetReader<Group> reader;
        try {
            reader = new GroupReader(new LocalInputFile(file)).build();
            for (long i = 0; i < from; i++) if (reader.read() == null) break;
        } catch (IOException | RuntimeException e) {
            throw new SalientException(file + ": cannot read Parquet rows (" + oneLine(e) + ")");
        }
        return new Iterator<>() {
            long i = from;
            Group next;
            boolean done;

            public boolean hasNext() {
                if (next == null && !done) {
                    try {
                        next = reader.read();
                        if (next == null) {
                            done = true;
                            reader.close();
                        }
                    } catch (IOException | RuntimeException e) {
                        throw new SalientException(file + ": cannot read Parquet row " + i + " (" + oneLine(e) + ")");
                    }
                }
                return next != null;
            }

            public Item next() {
                if (!hasNext()) throw new java.util.NoSuchElementException();
                Group g = next;
                next = null;
                long k = i++;
                byte[] b = bytesColumn == null ? null
                        : g.getFieldRepetitionCount(bytesColumn) > 0 ? g.getBinary(bytesColumn, 0).getBytes() : new byte[0];
                String p = pathColumn != null && g.getFieldRepetitionCount(pathColumn) > 0 ? g.getString(pathColumn, 0) : null;
                if (p == null) p = file.getFileName() + "#" + k;
                else if (b == null) p = file.toAbsolutePath().getParent().resolve(p).normalize().toString();
                Integer label = null;
                if (labelColumn != null && g.getFieldRepetitionCount(labelColumn) > 0)
                    label = labelLong ? Math.toIntExact(g.getLong(labelColumn, 0)) : g.getInteger(labelColumn, 0);
                return new Item(k, p, label, b);
            }
        };
    }

    /** parquet-java's example Group reader on a local file (no Hadoop file system). */
    static final class GroupReader extends org.apache.parquet.hadoop.ParquetReader.Builder<Group> {
        GroupReader(org.apache.parquet.io.InputFile f) {
            super(f);
        }

        @Override
        protected org.apache.parquet.hadoop.api.ReadSupport<Group> getReadSupport() {
            return new GroupReadSupport();
        }
    }

    @Override
    public Map<String, Object> describe() {
        return describe;
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        return m.strip().replaceAll("\\s*[\\r\\n]+\\s*", " ");
    }

    @Override
    public String toString() {
        return "parquet " + file + " (" + rows + " rows)";
    }
}
