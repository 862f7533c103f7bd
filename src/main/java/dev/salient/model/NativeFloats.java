package dev.salient.model;

import dev.salient.engine.CpuNative;
import dev.salient.engine.SalientException;
import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;

/**
 * Float values held off the Java heap: one 64-byte aligned block of host memory from the CPU
 * engine ({@code salient_host_alloc}), outside its block cache. A model's weights live here, so
 * that the Java heap never holds them and the CPU backend reads them in place, without a copy.
 * Once filled the block is sealed read-only ({@code salient_host_seal}), so the engine keys what
 * it derives from the values (Winograd's transformed filters) by address until the block is freed.
 *
 * <p>Lifetime: every {@link Model} that holds the block {@link #retain}s it and {@link #release}s
 * it when closed; the last release frees the memory at once. A block no model ever held (a graph
 * read but never loaded into a model) is freed when it becomes unreachable. Reading freed values
 * is a {@link SalientException}, never a crash.
 */
final class NativeFloats {
    private static final Cleaner CLEANER = Cleaner.create();
    private static final AtomicLong LIVE_BYTES = new AtomicLong();

    /** The memory, shared with the cleaner's action (which must not reach the NativeFloats). */
    private static final class Block implements Runnable {
        private FloatPointer p;
        private final long bytes;

        Block(FloatPointer p, long bytes) {
            this.p = p;
            this.bytes = bytes;
        }

        @Override
        public synchronized void run() {
            if (p == null) return;
            CpuNative.salient_host_free(p);
            p = null;
            LIVE_BYTES.addAndGet(-bytes);
        }

        synchronized boolean live() {
            return p != null;
        }
    }

    private final long count;
    private final Block block;
    private final Cleaner.Cleanable cleanable;
    private final FloatBuffer values; // read-only view of the block, native order
    private int owners;

    private NativeFloats(long count) {
        if (count <= 0 || count > Integer.MAX_VALUE - 8)
            throw new SalientException("off-heap constant of " + count + " floats is out of range");
        FloatPointer p = CpuNative.salient_host_alloc(count);
        if (p == null || p.isNull()) throw new SalientException(CpuNative.salient_last_error().getString());
        p.capacity(count);
        this.count = count;
        this.block = new Block(p, count * 4);
        LIVE_BYTES.addAndGet(count * 4);
        this.cleanable = CLEANER.register(this, block);
        this.values = p.asBuffer().asReadOnlyBuffer();
    }

    /** A new block of {@code count} floats, written once by {@code fill} through a native-order byte view. */
    static NativeFloats filled(long count, java.util.function.Consumer<ByteBuffer> fill) {
        NativeFloats n = new NativeFloats(count);
        try {
            ByteBuffer b = new BytePointer(n.block.p).capacity(count * 4).asByteBuffer().order(ByteOrder.nativeOrder());
            fill.accept(b);
            // read-only from here on: the engine may key what it derives from the values by address
            if (CpuNative.salient_host_seal(n.block.p, count) != 0)
                throw new SalientException(CpuNative.salient_last_error().getString());
        } catch (RuntimeException e) {
            n.cleanable.clean();
            throw e;
        }
        return n;
    }

    long count() {
        return count;
    }

    /** The values, read-only (a fresh view: its position is the caller's). Throws once freed. */
    FloatBuffer values() {
        checkLive();
        return values.duplicate();
    }

    /** The memory, for the CPU backend to read in place (the model keeps it alive). Throws once freed. */
    FloatPointer pointer() {
        synchronized (block) {
            if (block.p == null) throw freed();
            return block.p;
        }
    }

    boolean isLive() {
        return block.live();
    }

    private void checkLive() {
        if (!block.live()) throw freed();
    }

    private static SalientException freed() {
        return new SalientException("constant values were freed (the model that held them is closed)");
    }

    /** A model takes a hold on the values. */
    synchronized void retain() {
        checkLive();
        owners++;
    }

    /** A model lets go of the values; the last hold frees them. */
    synchronized void release() {
        if (owners <= 0) throw new IllegalStateException("release without retain");
        if (--owners == 0) cleanable.clean();
    }

    /** Frees the values now if no model holds them (values a load read and then rewrote away). */
    synchronized void freeIfUnheld() {
        if (owners == 0) cleanable.clean();
    }

    /** Bytes of off-heap constants not yet freed, over all models. */
    static long liveBytes() {
        return LIVE_BYTES.get();
    }
}
