package dev.salient.cli;

import com.google.gson.GsonBuilder;
import dev.salient.engine.SalientException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Where a run writes, and how it keeps what it wrote: the checks before a run
 * (never overwrite a file that is not an NPY, nor the input; never mix two runs'
 * outputs in one folder), files replaced by an atomic rename, and JSON with
 * {@code null} for non-finite numbers.
 */
final class RunOutput {
    private RunOutput() {}

    static final String REPORT = "report.json", ATTRIBUTIONS = "attributions.npy", OVERVIEW = "overview.png";
    /** The overlays a run writes: {@code 0007_name_method_c3.png}. */
    static final Pattern OVERLAY = Pattern.compile("\\d{4,}_.*\\.png");
    private static final byte[] NPY_MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};

    /**
     * Checks an {@code --out X.npy} before the run: not a folder, not one of the
     * inputs (or the model), and if it exists, an NPY (a run never overwrites
     * another kind of file).
     */
    static void checkNpyOut(Path out, Collection<Path> inputs) {
        if (Files.isDirectory(out)) throw new SalientException("--out " + out + " is a folder");
        if (!Files.exists(out)) return;
        if (!Files.isRegularFile(out)) throw new SalientException("--out " + out + " exists and is not a regular file");
        for (Path in : inputs)
            if (sameFile(out, in)) throw new SalientException("--out " + out + " is also an input; write the output elsewhere");
        if (!isNpy(out))
            throw new SalientException("--out " + out + " exists and is not an NPY file; not overwriting it");
    }

    /**
     * Prepares an output folder: creates it, and refuses the folder of the input
     * files, or one that holds another run's outputs (report.json,
     * attributions.npy, overlays) unless {@code overwrite}, which deletes those
     * files first (and nothing else).
     */
    static void prepareFolder(Path out, boolean overwrite, Collection<Path> inputs) throws IOException {
        if (Files.exists(out) && !Files.isDirectory(out)) throw new SalientException("--out " + out + " exists and is not a folder");
        for (Path in : inputs)
            if (Files.exists(out) && sameFile(out, in.toAbsolutePath().getParent()))
                throw new SalientException("--out " + out + " is the inputs' folder; write the output elsewhere");
        Files.createDirectories(out);
        List<Path> previous = previousOutputs(out);
        if (previous.isEmpty()) return;
        if (!overwrite)
            throw new SalientException("--out " + out + " holds another run's outputs (" + previous.size() + " files, e.g. "
                    + previous.get(0).getFileName() + "); give --overwrite to replace them, or another folder");
        for (Path p : previous) Files.deleteIfExists(p);
    }

    /** Removes a stale contact sheet before a new one is written. */
    static void deleteOverview(Path dir) throws IOException {
        Files.deleteIfExists(dir.resolve(OVERVIEW));
    }

    static List<Path> previousOutputs(Path dir) throws IOException {
        List<Path> found = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s.sorted()::iterator) {
                String n = p.getFileName().toString();
                if (n.equals(REPORT) || n.equals(ATTRIBUTIONS) || n.equals(OVERVIEW) || n.equals(SegmentOutput.FILE)
                        || OVERLAY.matcher(n).matches() || n.endsWith(".partial"))
                    found.add(p);
            }
        }
        return found;
    }

    /** Where the skipped inputs of a run writing {@code X.npy} are recorded: {@code X.skipped.json}. */
    static Path skippedSidecar(Path npy) {
        String n = npy.getFileName().toString();
        return npy.resolveSibling(n.substring(0, n.length() - 4) + ".skipped.json");
    }

    /** Writes the skipped inputs next to an NPY output (or removes a stale record when none was skipped). */
    static void writeSkipped(Path npy, Path input, List<Map<String, Object>> failures, boolean complete) throws IOException {
        Path side = skippedSidecar(npy);
        if (failures.isEmpty()) {
            Files.deleteIfExists(side);
            return;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("input", input.toString());
        m.put("output", npy.getFileName().toString());
        m.put("complete", complete);
        m.put("skipped", failures);
        writeJson(side, m);
    }

    /**
     * Writes JSON through a temporary file and an atomic rename. Non-finite
     * numbers (not JSON) are written as {@code null}; returns how many there were.
     */
    static int writeJson(Path file, Map<String, Object> value) throws IOException {
        int[] nonFinite = {0};
        Object clean = finite(value, nonFinite);
        String json = new GsonBuilder().setPrettyPrinting().serializeNulls().create().toJson(clean);
        writeAtomically(file, json.getBytes(StandardCharsets.UTF_8));
        return nonFinite[0];
    }

    /** Counts the non-finite numbers {@link #writeJson} would write as null. */
    static int countNonFinite(Object v) {
        int[] n = {0};
        finite(v, n);
        return n[0];
    }

    private static Object finite(Object v, int[] count) {
        if (v instanceof Double d && !Double.isFinite(d) || v instanceof Float f && !Float.isFinite(f)) {
            count[0]++;
            return null;
        }
        if (v instanceof Map<?, ?> m) {
            Map<Object, Object> out = new LinkedHashMap<>();
            for (var e : m.entrySet()) out.put(e.getKey(), finite(e.getValue(), count));
            return out;
        }
        if (v instanceof Collection<?> c) {
            List<Object> out = new ArrayList<>(c.size());
            for (Object o : c) out.add(finite(o, count));
            return out;
        }
        return v;
    }

    /** Replaces {@code file} by {@code bytes}: written to a sibling {@code .partial}, synced, renamed. */
    static void writeAtomically(Path file, byte[] bytes) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".partial");
        Files.write(tmp, bytes);
        moveAtomically(tmp, file);
    }

    static void moveAtomically(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The non-finite values of an array: how many, and whether any is NaN. */
    static long countNonFinite(float[] v) {
        long n = 0;
        for (float x : v) if (!Float.isFinite(x)) n++;
        return n;
    }

    private static boolean isNpy(Path p) {
        try (InputStream in = Files.newInputStream(p)) {
            byte[] head = in.readNBytes(NPY_MAGIC.length);
            return java.util.Arrays.equals(head, NPY_MAGIC);
        } catch (IOException e) {
            return false;
        }
    }

    private static boolean sameFile(Path a, Path b) {
        if (b == null) return false;
        try {
            return Files.exists(a) && Files.exists(b) && Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    /** The input files of a run, for the output checks (the model and an NPY baseline too). */
    static List<Path> inputsOf(List<Path> files, Path... more) {
        List<Path> all = new ArrayList<>(files);
        for (Path p : more) if (p != null) all.add(p);
        return all;
    }
}
