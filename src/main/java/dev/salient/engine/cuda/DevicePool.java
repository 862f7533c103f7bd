package dev.salient.engine.cuda;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;
import org.bytedeco.javacpp.FloatPointer;

/**
 * A size-bucketed free list of device blocks. Sizes are rounded up to one of four classes
 * per power of two (at most 25% slack), a freed block goes back to its class, and a request
 * takes a cached block of its class before asking the driver. When the driver is out of
 * memory the cache is returned to it and the request retried once. Thread-safe.
 */
final class DevicePool {
    private final Map<Long, ArrayDeque<FloatPointer>> cached = new HashMap<>();
    private final Map<Long, Block> live = new HashMap<>(); // address -> block

    private record Block(FloatPointer base, long sizeClass) {}
    private long liveFloats, cachedFloats;
    private boolean closed;

    /** Size class of a request of n floats: n rounded up to a multiple of 2^(floor(log2 n) - 2), at least 64. */
    static long sizeClass(long n) {
        long m = Math.max(n, 64);
        int hb = 63 - Long.numberOfLeadingZeros(m);
        long step = 1L << (hb - 2);
        return (m + step - 1) / step * step;
    }

    /** A device block of at least n floats, with capacity n. */
    synchronized FloatPointer allocate(long n) {
        if (closed) throw new IllegalStateException("cuda backend is closed");
        long cls = sizeClass(n);
        ArrayDeque<FloatPointer> q = cached.get(cls);
        FloatPointer p = q == null ? null : q.pollLast();
        if (p != null) {
            cachedFloats -= cls;
        } else {
            p = CudaNative.salient_cuda_malloc(cls);
            if (p == null || p.isNull()) {
                trim();
                p = CudaNative.salient_cuda_malloc(cls);
            }
            if (p == null || p.isNull()) {
                String msg = CudaNative.salient_cuda_last_error().getString();
                throw new DeviceOutOfMemoryException(msg.isEmpty() ? "cuda: out of device memory" : msg);
            }
        }
        live.put(p.address(), new Block(p, cls));
        liveFloats += cls;
        FloatPointer view = new FloatPointer(p);
        return view.capacity(n).limit(n);
    }

    /** Returns a block to its class (or to the driver once the pool is closed). Unknown addresses are ignored. */
    synchronized void release(FloatPointer p) {
        if (p == null || p.isNull()) return;
        Block b = live.remove(p.address());
        if (b == null) return; // freed already, or by close()
        liveFloats -= b.sizeClass();
        if (closed) {
            CudaNative.salient_cuda_free(b.base());
            return;
        }
        cached.computeIfAbsent(b.sizeClass(), k -> new ArrayDeque<>()).addLast(b.base());
        cachedFloats += b.sizeClass();
    }

    /** Gives every cached block back to the driver. */
    synchronized void trim() {
        for (ArrayDeque<FloatPointer> q : cached.values())
            for (FloatPointer p : q) CudaNative.salient_cuda_free(p);
        cached.clear();
        cachedFloats = 0;
    }

    synchronized long liveBytes() {
        return liveFloats * 4;
    }

    synchronized long cachedBytes() {
        return cachedFloats * 4;
    }

    synchronized boolean isClosed() {
        return closed;
    }

    /** Frees the cache and every live block; later releases are no-ops. */
    synchronized void close() {
        if (closed) return;
        trim();
        for (Block b : live.values()) CudaNative.salient_cuda_free(b.base());
        live.clear();
        liveFloats = 0;
        closed = true;
    }
}
