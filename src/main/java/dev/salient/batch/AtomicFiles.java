package dev.salient.batch;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Files that exist whole or not at all: content goes to a temporary name in the
 * same folder ({@code .NAME.tmp}), is fsynced, then renamed over the final name,
 * and the folder is fsynced so the rename itself survives a power cut. A reader
 * (or a resumed run) never sees a half-written file under a final name.
 *
 * <p>Two test hooks, read from system properties, make the failure cases
 * reproducible: {@code salient.batch.test.pauseBeforeRename=NAME} prints
 * {@code hook: renaming NAME} on stderr and sleeps a minute before renaming that
 * file (so a test can SIGKILL the run mid-commit), and
 * {@code salient.batch.test.quotaBytes=N} fails a commit with "No space left on
 * device" when the files in the target's folder would pass N bytes (for machines
 * where a test cannot mount a small file system).
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    static final String PAUSE_PROPERTY = "salient.batch.test.pauseBeforeRename";
    static final String QUOTA_PROPERTY = "salient.batch.test.quotaBytes";

    /** The temporary name a file is written under before {@link #commit}. */
    public static Path temporary(Path target) {
        return target.resolveSibling("." + target.getFileName() + ".tmp");
    }

    /** Writes {@code bytes} to {@code target} atomically (temporary name, fsync, rename, folder fsync). */
    public static void write(Path target, byte[] bytes) throws IOException {
        Path tmp = temporary(target);
        try (OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            out.write(bytes);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        commit(tmp, target);
    }

    /**
     * Fsyncs a finished temporary file and renames it to {@code target}; on failure the
     * temporary file is removed and {@code target} is left as it was.
     */
    public static void commit(Path tmp, Path target) throws IOException {
        try {
            checkQuota(tmp, target);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ch.force(true);
            }
            if (target.getFileName().toString().equals(System.getProperty(PAUSE_PROPERTY))) {
                System.err.println("hook: renaming " + target.getFileName());
                System.err.flush();
                try {
                    Thread.sleep(60_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        syncFolder(target.toAbsolutePath().getParent());
    }

    private static void checkQuota(Path tmp, Path target) throws IOException {
        long quota = Long.getLong(QUOTA_PROPERTY, -1);
        if (quota < 0) return;
        long used = Files.size(tmp);
        try (var s = Files.list(tmp.toAbsolutePath().getParent())) {
            for (Path p : s.toList())
                if (!p.getFileName().equals(tmp.getFileName()) && !p.getFileName().equals(target.getFileName())
                        && Files.isRegularFile(p))
                    used += Files.size(p);
        }
        if (used > quota) throw new IOException(target + ": No space left on device (test quota of " + quota + " bytes)");
    }

    /** Fsyncs a folder's entry list (where the platform allows opening a folder). */
    public static void syncFolder(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // not supported on this platform or file system: the rename is still atomic
        }
    }

    /** Hex SHA-256 of a file's bytes. */
    public static String sha256(Path file) throws IOException {
        MessageDigest md = sha256();
        byte[] buf = new byte[1 << 16];
        try (var in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** Hex SHA-256 of bytes. */
    public static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(sha256().digest(bytes));
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
