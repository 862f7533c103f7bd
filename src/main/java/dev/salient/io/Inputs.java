package dev.salient.io;

import dev.salient.engine.SalientException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.stream.Stream;

/**
 * The inputs of a CLI run: one {@code .npy}, one image, or a folder of them,
 * checked against the model's declared input shape and cut into batches.
 *
 * <p>A folder contributes its {@code *.png, *.jpg, *.jpeg, *.npy} files (not
 * recursive) in sorted name order. An NPY holds (N,C,H,W), or (C,H,W) for a
 * single sample; an image gives one sample. Samples are batched in file order,
 * an NPY's rows possibly split across batches. Files are read lazily, one batch
 * at a time.
 *
 * <pre>{@code
 * Inputs in = Inputs.open(Path.of("images/"), new long[] {-1, 3, 224, 224}, Preprocess.defaults());
 * for (Inputs.Batch b : in.batches(32)) { ... b.input() ... }
 * }</pre>
 */
public final class Inputs {
    private final List<Path> files;
    private final long[] modelShape;
    private final Preprocess preprocess;

    /**
     * One batch: the stacked input (N,...), the source of each row
     * ("file" or "file[i]") and, for rows that came from images, the cropped RGB
     * (3,H,W) in [0,1] (null for rows from NPY files).
     */
    public record Batch(NdArray input, List<String> sources, List<NdArray> rgb) {}

    private Inputs(List<Path> files, long[] modelShape, Preprocess preprocess) {
        this.files = files;
        this.modelShape = modelShape == null ? null : modelShape.clone();
        this.preprocess = preprocess;
    }

    /**
     * @param input      a file or a folder
     * @param modelShape the model's declared input shape, -1 for dynamic dims; null when
     *                   the model does not declare its input rank (NPY inputs then go in unchecked)
     */
    public static Inputs open(Path input, long[] modelShape, Preprocess preprocess) {
        return new Inputs(list(input), modelShape, preprocess);
    }

    /** The files of an input argument: the file itself, or a folder's inputs in sorted order. */
    public static List<Path> list(Path input) {
        if (Files.isDirectory(input)) {
            List<Path> out;
            try (Stream<Path> s = Files.list(input)) {
                out = s.filter(p -> Files.isRegularFile(p) && (isNpy(p) || Images.isImage(p) || Nifti.isNifti(p)))
                        .sorted((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()))
                        .toList();
            } catch (IOException e) {
                throw new SalientException(input + ": cannot list folder: " + Npy.oneLine(e));
            }
            if (out.isEmpty()) throw new SalientException(input + ": folder has no .png, .jpg, .jpeg, .npy, .nii or .nii.gz files");
            return out;
        }
        if (!Files.exists(input)) throw new SalientException(input + ": no such file");
        // a FIFO, device or socket would block a read forever or stream without end
        if (!Files.isRegularFile(input)) throw new SalientException(input + ": not a regular file or a folder");
        if (!isNpy(input) && !Images.isImage(input) && !Nifti.isNifti(input))
            throw new SalientException(input + ": unknown input type (expected .npy, .png, .jpg, .jpeg, .nii or .nii.gz)");
        return List.of(input);
    }

    public static boolean isNpy(Path p) {
        return p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".npy");
    }

    public List<Path> files() {
        return files;
    }

    /** Reads all inputs as one batch. */
    public Batch all() {
        List<Batch> parts = new ArrayList<>();
        for (Batch b : batches(Integer.MAX_VALUE)) parts.add(b);
        return merge(parts);
    }

    /** Batches of at most {@code size} samples each, read lazily. */
    public Iterable<Batch> batches(int size) {
        if (size <= 0) throw new SalientException("--batch must be positive, got " + size);
        return () -> new Iterator<>() {
            int file = 0;
            NdArray pending; // rows of the current NPY not yet handed out
            Path pendingFile;
            long pendingOffset;

            @Override
            public boolean hasNext() {
                return pending != null || file < files.size();
            }

            @Override
            public Batch next() {
                if (!hasNext()) throw new NoSuchElementException();
                List<NdArray> rows = new ArrayList<>();
                List<String> sources = new ArrayList<>();
                List<NdArray> rgb = new ArrayList<>();
                long count = 0;
                while (count < size && (pending != null || file < files.size())) {
                    if (pending == null) {
                        Path f = files.get(file++);
                        if (isNpy(f)) {
                            pending = readNpy(f);
                            pendingFile = f;
                            pendingOffset = 0;
                        } else if (Nifti.isNifti(f)) {
                            rows.add(readNifti(f));
                            sources.add(f.toString());
                            rgb.add(null);
                            count++;
                            continue;
                        } else {
                            Images.Loaded img = Images.load(f, resolved());
                            rows.add(img.input());
                            sources.add(f.toString());
                            rgb.add(img.rgb());
                            count++;
                            continue;
                        }
                    }
                    long take = Math.min(size - count, pending.dim(0) - pendingOffset);
                    rows.add(take == pending.dim(0) ? pending : pending.sliceFirst(pendingOffset, pendingOffset + take));
                    for (long i = 0; i < take; i++) {
                        sources.add(pendingFile + "[" + (pendingOffset + i) + "]");
                        rgb.add(null);
                    }
                    count += take;
                    pendingOffset += take;
                    if (pendingOffset >= pending.dim(0)) pending = null;
                }
                return new Batch(NdArray.concatFirst(rows), sources, rgb);
            }
        };
    }

    private Preprocess.Resolved resolved;
    private Volumes.Window window;
    private final java.util.Map<String, Nifti.Volume> niftis = new java.util.LinkedHashMap<>();

    /** The CT-style window applied to NIfTI volumes before the resize (null: none). */
    public Inputs window(Volumes.Window w) {
        this.window = w;
        return this;
    }

    /** The NIfTI volumes read so far, by source (their header fields and the data as read, scaled). */
    public java.util.Map<String, Nifti.Volume> niftiVolumes() {
        return java.util.Collections.unmodifiableMap(niftis);
    }

    /** One NIfTI volume as a model input (1,C,D,H,W): window, trilinear resize, mean and std (one value each, default 0 and 1). */
    NdArray readNifti(Path f) {
        if (modelShape == null || modelShape.length != 5)
            throw new SalientException(f + ": a NIfTI volume needs a model with a 5-D (N,C,D,H,W) input, this one's is "
                    + (modelShape == null ? "undeclared" : shapeStr(modelShape)));
        Nifti.Volume v = Nifti.read(f);
        niftis.put(f.toString(), v);
        float[] m = preprocess.mean(), sd = preprocess.std();
        if (m != null && m.length != 1 || sd != null && sd.length != 1)
            throw new SalientException("--mean and --std take one value each for a volume");
        return Volumes.prepare(v.data(), v.shape(), modelShape, window, m == null ? 0f : m[0], sd == null ? 1f : sd[0]);
    }

    private Preprocess.Resolved resolved() {
        if (resolved == null) {
            if (modelShape == null || modelShape.length != 4)
                throw new SalientException("2-D images need a model with a 4-D (N,C,H,W) input, this one's is "
                        + (modelShape == null ? "undeclared" : shapeStr(modelShape)));
            if (modelShape[1] <= 0)
                throw new SalientException("the model's input channel count is dynamic; images need 1 or 3 channels");
            resolved = preprocess.resolve(modelShape[1], modelShape[2], modelShape[3]);
        }
        return resolved;
    }

    /** Reads an NPY input, adds a batch axis if it holds one sample, checks shape and finiteness. */
    NdArray readNpy(Path f) {
        NdArray a = Npy.read(f);
        if (a.rank() == 0) throw new SalientException(f + ": holds a scalar, expected a batch of inputs");
        if (modelShape != null && a.rank() == modelShape.length - 1) {
            long[] s = new long[a.rank() + 1];
            s[0] = 1;
            System.arraycopy(a.shape(), 0, s, 1, a.rank());
            a = new NdArray(s, a.data());
        }
        if (modelShape != null) checkShape(f.toString(), a.shape(), modelShape);
        if (a.dim(0) == 0) throw new SalientException(f + ": holds no samples (shape " + shapeStr(a.shape()) + ")");
        int bad = a.firstNonFinite();
        if (bad >= 0)
            throw new SalientException(f + ": input contains " + (Float.isNaN(a.data()[bad]) ? "NaN" : "infinite")
                    + " values (first at flat index " + bad + ")");
        return a;
    }

    /** Throws a one-line error naming expected vs got if {@code got} does not fit the declared shape. */
    public static void checkShape(String name, long[] got, long[] declared) {
        if (got.length != declared.length)
            throw new SalientException(name + ": expected input shape " + shapeStr(declared) + ", got " + shapeStr(got));
        if (declared.length == 4 && declared[1] > 0 && got[1] != declared[1])
            throw new SalientException(name + ": the model expects " + declared[1] + " input channels, got " + got[1]
                    + " (input shape " + shapeStr(got) + ", expected " + shapeStr(declared) + ")");
        for (int i = 1; i < got.length; i++)
            if (declared[i] > 0 && got[i] != declared[i])
                throw new SalientException(name + ": expected input shape " + shapeStr(declared) + ", got " + shapeStr(got));
    }

    /** (N,3,224,224)-style rendering, "N" for a dynamic batch and "?" for other dynamic dims. */
    public static String shapeStr(long[] s) {
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < s.length; i++) {
            if (i > 0) b.append(',');
            b.append(s[i] >= 0 ? Long.toString(s[i]) : i == 0 ? "N" : "?");
        }
        return b.append(')').toString();
    }

    private static Batch merge(List<Batch> parts) {
        List<NdArray> xs = new ArrayList<>();
        List<String> src = new ArrayList<>();
        List<NdArray> rgb = new ArrayList<>();
        for (Batch b : parts) {
            xs.add(b.input());
            src.addAll(b.sources());
            rgb.addAll(b.rgb());
        }
        return new Batch(NdArray.concatFirst(xs), src, rgb);
    }

    @Override
    public String toString() {
        return "Inputs" + files + " for " + Arrays.toString(modelShape);
    }
}
