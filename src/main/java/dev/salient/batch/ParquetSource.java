package dev.salient.batch;

import blue.strategic.parquet.Hydrator;
import blue.strategic.parquet.ParquetReader;
import dev.salient.engine.SalientException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.ParquetMetadata;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type;

/**
 * Images listed in a Parquet file: a {@code path} column (string), or the encoded
 * images in a {@code bytes} or {@code content} column (binary; Spark's binaryFile
 * source writes {@code path} and {@code content}); an optional {@code label}
 * (int32/int64). When both are there the bytes are decoded and the path names them.
 * Rows are streamed: only the decode window's images are in memory.
 */
final class ParquetSource implements BatchSource {
    private final Path file;
    private final long rows;
    private final String pathColumn, bytesColumn, labelColumn;
    private final Map<String, Object> describe;

    private ParquetSource(Path file, long rows, String pathColumn, String bytesColumn, String labelColumn,
            Map<String, Object> describe) {
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
            meta = ParquetReader.readMetadata(file.toFile());
        } catch (IOException | RuntimeException e) {
            throw new SalientException(file + ": not a readable Parquet file (" + oneLine(e) + ")");
        }
        MessageType schema = meta.getFileMetaData().getSchema();
        String path = column(schema, PrimitiveTypeName.BINARY, "path");
        String bytes = column(schema, PrimitiveTypeName.BINARY, "bytes", "content");
        String label = column(schema, PrimitiveTypeName.INT32, "label");
        if (label == null) label = column(schema, PrimitiveTypeName.INT64, "label");
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
        return new ParquetSource(file, n, path, bytes, label, d);
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
        Stream<Map<String, Object>> s;
        try {
            s = ParquetReader.streamContent(file.toFile(), new Hydrator<Map<String, Object>, Map<String, Object>, String[]>() {
                public Map<String, Object> start() {
                    return new HashMap<>();
                }

                public Map<String, Object> add(Map<String, Object> m, String[] col, Object v) {
                    if (col.length == 1) m.put(col[0], v);
                    return m;
                }

                public Map<String, Object> finish(Map<String, Object> m) {
                    return m;
                }
            });
        } catch (IOException e) {
            throw new SalientException(file + ": cannot read Parquet rows (" + oneLine(e) + ")");
        }
        Iterator<Map<String, Object>> it = s.skip(from).iterator();
        return new Iterator<>() {
            long i = from;

            public boolean hasNext() {
                try {
                    return it.hasNext();
                } catch (UncheckedIOException | org.apache.parquet.io.ParquetDecodingException e) {
                    throw new SalientException(file + ": cannot read Parquet row " + i + " (" + oneLine(e) + ")");
                }
            }

            public Item next() {
                Map<String, Object> m = it.next();
                long k = i++;
                byte[] b = bytesColumn == null ? null : bytes(m.get(bytesColumn));
                String p = pathColumn == null ? null : text(m.get(pathColumn));
                if (p == null) p = file.getFileName() + "#" + k;
                else if (b == null) p = file.toAbsolutePath().getParent().resolve(p).normalize().toString();
                Object l = labelColumn == null ? null : m.get(labelColumn);
                Integer label = l instanceof Number num ? Integer.valueOf(num.intValue()) : null;
                return new Item(k, p, label, b == null && bytesColumn != null ? new byte[0] : b);
            }
        };
    }

    private static byte[] bytes(Object v) {
        if (v == null) return null;
        if (v instanceof byte[] a) return a;
        if (v instanceof Binary bin) return bin.getBytes();
        if (v instanceof ByteBuffer bb) {
            byte[] a = new byte[bb.remaining()];
            bb.duplicate().get(a);
            return a;
        }
        return null;
    }

    private static String text(Object v) {
        if (v == null) return null;
        if (v instanceof String s) return s;
        if (v instanceof Binary bin) return bin.toStringUsingUTF8();
        byte[] b = bytes(v);
        return b == null ? v.toString() : new String(b, java.nio.charset.StandardCharsets.UTF_8);
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

    static List<String> columnsOf(Path file) throws IOException {
        return ParquetReader.readMetadata(file.toFile()).getFileMetaData().getSchema().getFields().stream().map(Type::getName)
                .toList();
    }
}
