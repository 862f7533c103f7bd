package dev.salient.batch;

import dev.salient.engine.SalientException;
import dev.salient.io.Images;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * The images of a batch run, in a fixed order: item {@code i} is always the same
 * image, so shards (runs of consecutive items) mean the same thing on every resume.
 *
 * <ul>
 *   <li>a folder: its PNG/JPEG files, recursively, sorted by relative path; in
 *       ImageFolder layout (every image one level down, in a class folder) the class
 *       folders, sorted, are the labels 0, 1, ...;
 *   <li>a list file: one image path per line (relative to the list's folder; blank
 *       lines and lines starting with # are skipped);
 *   <li>a Parquet file: a {@code path} column (string), or a {@code bytes} /
 *       {@code content} column (binary, the encoded image; {@code content} is what
 *       Spark's binaryFile source writes), and an optional integer {@code label}.
 * </ul>
 * A labels CSV ({@code path,label} per line, paths as the source lists them) sets or
 * replaces the labels.
 */
public interface BatchSource {
    /** One image: its position, its name (a path), its label (or null), and its bytes when the source holds them. */
    record Item(long index, String path, Integer label, byte[] bytes) {}

    /** How many items. */
    long size();

    /** Items in order, starting at {@code from}. */
    Iterator<Item> items(long from);

    /** What the source is, for the manifest (kind and path). */
    Map<String, Object> describe();

    /** The class names behind the labels (ImageFolder), or an empty list. */
    default List<String> classes() {
        return List.of();
    }

    /** Opens a folder, a list file or a Parquet file, with an optional labels CSV. */
    static BatchSource open(Path input, Path labelsCsv) {
        if (!Files.exists(input)) throw new SalientException(input + ": no such file or folder");
        BatchSource s;
        if (Files.isDirectory(input)) s = folder(input);
        else if (input.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".parquet")) s = ParquetSource.open(input);
        else s = listFile(input);
        if (labelsCsv != null) s = withLabels(s, labelsCsv);
        return s;
    }

    /** A folder tree of images (ImageFolder labels when the layout is class/image). */
    static BatchSource folder(Path root) {
        List<Path> files;
        try (Stream<Path> w = Files.walk(root)) {
            files = w.filter(p -> Files.isRegularFile(p) && Images.isImage(p)).map(root::relativize)
                    .sorted((a, b) -> a.toString().compareTo(b.toString())).toList();
        } catch (IOException | java.io.UncheckedIOException e) {
            throw new SalientException(root + ": cannot list folder: " + e.getMessage());
        }
        if (files.isEmpty()) throw new SalientException(root + ": folder has no .png, .jpg or .jpeg files (searched recursively)");
        boolean imageFolder = files.stream().allMatch(p -> p.getNameCount() == 2);
        List<String> classes = List.of();
        List<Integer> labels = null;
        if (imageFolder) {
            classes = List.copyOf(new TreeSet<>(files.stream().map(p -> p.getName(0).toString()).toList()));
            Map<String, Integer> id = new HashMap<>();
            for (int i = 0; i < classes.size(); i++) id.put(classes.get(i), i);
            labels = files.stream().map(p -> id.get(p.getName(0).toString())).toList();
        }
        Path abs = root.toAbsolutePath().normalize();
        List<String> paths = files.stream().map(p -> abs.resolve(p).toString()).toList();
        return new PathList("folder", abs, paths, labels, classes);
    }

    /** A text file with one image path per line. */
    static BatchSource listFile(Path list) {
        List<String> lines;
        try {
            lines = Files.readAllLines(list, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new SalientException(list + ": cannot read list file: " + e.getMessage());
        }
        Path base = list.toAbsolutePath().normalize().getParent();
        List<String> paths = new ArrayList<>();
        for (String l : lines) {
            String t = l.strip();
            if (t.isEmpty() || t.startsWith("#")) continue;
            if (t.indexOf('\0') >= 0) throw new SalientException(list + ": not a text list of image paths");
            paths.add(base.resolve(t).normalize().toString());
        }
        if (paths.isEmpty()) throw new SalientException(list + ": list file names no images");
        return new PathList("list", list.toAbsolutePath().normalize(), paths, null, List.of());
    }

    /** The same items with labels from a {@code path,label} CSV (a header line is allowed). */
    static BatchSource withLabels(BatchSource s, Path csv) {
        Map<String, Integer> byPath = new HashMap<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new SalientException(csv + ": no such labels file");
        } catch (IOException e) {
            throw new SalientException(csv + ": cannot read labels: " + e.getMessage());
        }
        Path base = csv.toAbsolutePath().normalize().getParent();
        for (int i = 0; i < lines.size(); i++) {
            String l = lines.get(i).strip();
            if (l.isEmpty() || l.startsWith("#")) continue;
            int c = l.lastIndexOf(',');
            if (c < 0) throw new SalientException(csv + ":" + (i + 1) + ": expected path,label, got '" + l + "'");
            String p = l.substring(0, c).strip(), v = l.substring(c + 1).strip();
            int label;
            try {
                label = Integer.parseInt(v);
            } catch (NumberFormatException e) {
                if (i == 0 || byPath.isEmpty()) continue; // a header line
                throw new SalientException(csv + ":" + (i + 1) + ": label '" + v + "' is not an integer");
            }
            if (label < 0) throw new SalientException(csv + ":" + (i + 1) + ": label " + label + " is negative");
            byPath.put(p, label);
            byPath.put(base.resolve(p).normalize().toString(), label);
        }
        BatchSource inner = s;
        return new BatchSource() {
            public long size() {
                return inner.size();
            }

            public Iterator<Item> items(long from) {
                Iterator<Item> it = inner.items(from);
                return new Iterator<>() {
                    public boolean hasNext() {
                        return it.hasNext();
                    }

                    public Item next() {
                        Item x = it.next();
                        Integer l = byPath.get(x.path());
                        return new Item(x.index(), x.path(), l != null ? l : x.label(), x.bytes());
                    }
                };
            }

            public Map<String, Object> describe() {
                Map<String, Object> d = new java.util.LinkedHashMap<>(inner.describe());
                try {
                    d.put("labels_sha256", AtomicFiles.sha256(csv));
                } catch (IOException e) {
                    throw new SalientException(csv + ": cannot read labels: " + e.getMessage());
                }
                return d;
            }

            public List<String> classes() {
                return inner.classes();
            }
        };
    }

    /** Items named by paths, read from disk when decoded. */
    final class PathList implements BatchSource {
        private final String kind;
        private final Path where;
        private final List<String> paths;
        private final List<Integer> labels;
        private final List<String> classes;

        PathList(String kind, Path where, List<String> paths, List<Integer> labels, List<String> classes) {
            this.kind = kind;
            this.where = where;
            this.paths = paths;
            this.labels = labels;
            this.classes = classes;
        }

        public long size() {
            return paths.size();
        }

        public Iterator<Item> items(long from) {
            return new Iterator<>() {
                int i = (int) Math.min(from, paths.size());

                public boolean hasNext() {
                    return i < paths.size();
                }

                public Item next() {
                    int k = i++;
                    return new Item(k, paths.get(k), labels == null ? null : labels.get(k), null);
                }
            };
        }

        public Map<String, Object> describe() {
            var md = AtomicFiles.sha256();
            for (int i = 0; i < paths.size(); i++) {
                md.update(paths.get(i).getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
                md.update(String.valueOf(labels == null ? null : labels.get(i)).getBytes(StandardCharsets.UTF_8));
                md.update((byte) '\n');
            }
            Map<String, Object> d = new java.util.LinkedHashMap<>();
            d.put("kind", kind);
            d.put("path", where.toString());
            d.put("items", paths.size());
            d.put("items_sha256", java.util.HexFormat.of().formatHex(md.digest()));
            return d;
        }

        public List<String> classes() {
            return classes;
        }

        @Override
        public String toString() {
            return kind + " " + where + " (" + paths.size() + " images" + (labels != null ? ", " + classes.size() + " classes" : "")
                    + ")" + (classes.isEmpty() ? "" : " " + Arrays.toString(classes.toArray()));
        }
    }
}
