package dev.salient.model;

import dev.salient.engine.Parity;

import static dev.salient.model.OnnxBuilder.in;
import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The executor: liveness-based buffer reuse, fetching intermediates, concurrency and flat memory. */
class ExecutorTest {
    @TempDir
    Path dir;
    final Backend cpu = Engine.cpu();

    /** A chain of 8 elementwise nodes over (1,16,32,32): y = relu(x*2+1) ... */
    Path chain() throws Exception {
        OnnxBuilder b = new OnnxBuilder().input("x", -1, 16, 32, 32).output("y", -1, 16, 32, 32)
                .init("two", new float[] {2}, 1).init("one", new float[] {1}, 1);
        String prev = "x";
        for (int i = 0; i < 4; i++) {
            b.node("Mul", "mul" + i, in(prev, "two"), in("m" + i));
            String next = i == 3 ? "y" : "r" + i;
            b.node(i % 2 == 0 ? "Sub" : "Add", "addsub" + i, in("m" + i, "one"), in(next));
            prev = next;
        }
        return b.write(dir, "chain.onnx");
    }

    static float[] reference(float[] x) {
        float[] y = x.clone();
        for (int i = 0; i < 4; i++) for (int j = 0; j < y.length; j++) y[j] = y[j] * 2 + (i % 2 == 0 ? -1 : 1);
        return y;
    }

    @Test
    void buffersAreReusedByLiveness() throws Exception {
        try (Model m = Model.load(chain())) {
            Plan p = m.plan(Map.of("x", new long[] {1, 16, 32, 32}), Set.of("y"));
            assertEquals(8, p.steps().size());
            // 7 elementwise intermediates in a chain run in place in one buffer; y is owned by the caller
            assertEquals(1, p.bufferCount());
            assertEquals(16L * 32 * 32, p.bufferFloats());
            Plan q = m.plan(Map.of("x", new long[] {3, 16, 32, 32}), Set.of("m0", "y"));
            assertEquals(1, q.bufferCount(), "a fetched tensor is not part of the pool");
            assertEquals(3L * 16 * 32 * 32, q.bufferFloats());
        }
        // a chain of convolutions cannot run in place: two buffers alternate
        Random r = new Random(9);
        OnnxBuilder b = new OnnxBuilder().input("x", 1, 4, 8, 8).output("y");
        String prev = "x";
        for (int i = 0; i < 5; i++) {
            b.init("w" + i, OnnxBuilder.random(r, 4 * 4 * 9, 0.2f), 4, 4, 3, 3);
            String next = i == 4 ? "y" : "c" + i;
            b.node("Conv", "conv" + i, in(prev, "w" + i), in(next), OnnxBuilder.attrs("pads", 1, 1, 1, 1));
            prev = next;
        }
        try (Model m = Model.load(b.write(dir, "convs.onnx"))) {
            Plan p = m.plan(Map.of("x", new long[] {1, 4, 8, 8}), Set.of("y"));
            assertEquals(2, p.bufferCount());
            assertEquals(2L * 4 * 8 * 8, p.bufferFloats());
        }
    }

    @Test
    void fetchesIntermediatesAndOutputs() throws Exception {
        float[] x = OnnxBuilder.random(new Random(5), 2 * 16 * 32 * 32, 1f);
        try (Model m = Model.load(chain()); Tensor xt = cpu.upload(x, 2, 16, 32, 32)) {
            Map<String, Tensor> r = m.run(cpu, Map.of("x", xt), Set.of("m0", "r1", "y", "x", "two"));
            try (Tensor m0 = r.get("m0"); Tensor r1 = r.get("r1"); Tensor y = r.get("y"); Tensor xc = r.get("x");
                    Tensor two = r.get("two")) {
                float[] a = m0.toArray();
                for (int i = 0; i < 100; i++) assertEquals(2 * x[i], a[i], 1e-6);
                float[] b = r1.toArray();
                for (int i = 0; i < 100; i++) assertEquals((2 * x[i] - 1) * 2 + 1, b[i], 1e-5);
                Parity.assertClose("y", y.toArray(), reference(x), 1e-5, 1e-5);
                assertArrayEquals(x, xc.toArray());
                assertNotSame(xt, xc, "the caller gets a copy of an input");
                assertArrayEquals(new float[] {2}, two.toArray());
            }
            assertThrows(dev.salient.engine.SalientException.class, () -> m.run(cpu, Map.of("x", xt), Set.of("nope")));
        }
    }

    @Test
    void concurrentCallsAgree() throws Exception {
        try (Model m = Model.load(chain())) {
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<Boolean>> fs = new ArrayList<>();
                for (int t = 0; t < 16; t++) {
                    final int seed = t, n = 1 + t % 3;
                    fs.add(pool.submit(() -> {
                        float[] x = OnnxBuilder.random(new Random(seed), n * 16 * 32 * 32, 1f);
                        try (Tensor xt = cpu.upload(x, n, 16, 32, 32); Tensor y = m.forward(cpu, xt)) {
                            Parity.assertClose("thread " + seed, y.toArray(), reference(x), 1e-5, 1e-5);
                        }
                        return true;
                    }));
                }
                for (Future<Boolean> f : fs) assertTrue(f.get());
            } finally {
                pool.shutdown();
            }
        }
    }

    /**
     * A backend that counts live native tensors: every tensor it hands out is
     * re-bound to it, so closing one passes through {@code free}.
     */
    static final class Counting implements java.lang.reflect.InvocationHandler {
        final Backend delegate;
        final java.util.concurrent.atomic.AtomicLong live = new java.util.concurrent.atomic.AtomicLong(), bytes = new java.util.concurrent.atomic.AtomicLong();
        Backend proxy;

        Counting(Backend delegate) {
            this.delegate = delegate;
        }

        static Counting wrap(Backend b) {
            Counting c = new Counting(b);
            c.proxy = (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, c);
            return c;
        }

        @Override
        public Object invoke(Object p, java.lang.reflect.Method m, Object[] args) throws Throwable {
            if (m.getName().equals("free")) {
                live.decrementAndGet();
                return m.invoke(delegate, args);
            }
            if (m.getName().equals("hashCode")) return System.identityHashCode(p);
            if (m.getName().equals("equals")) return p == args[0];
            Object r;
            try {
                r = m.invoke(delegate, args);
            } catch (java.lang.reflect.InvocationTargetException e) {
                throw e.getCause();
            }
            if (r instanceof Tensor t && t.backend() == delegate) {
                live.incrementAndGet();
                bytes.addAndGet(t.numel() * 4);
                return new Tensor(proxy, t.data(), t.shape()); // the wrapper now owns the memory
            }
            return r;
        }
    }

    @Test
    void tenThousandForwardsKeepMemoryFlat() throws Exception {
        Counting c = Counting.wrap(cpu);
        Backend b = c.proxy;
        try (Model m = Model.load(chain()); Tensor x = b.upload(new float[16 * 32 * 32], 1, 16, 32, 32)) {
            for (int i = 0; i < 100; i++) m.forward(b, x).close();
            long liveBefore = c.live.get(), allocatedBefore = c.bytes.get();
            System.gc();
            long rssBefore = Pointer.physicalBytes();
            for (int i = 0; i < 10_000; i++) m.forward(b, x).close();
            System.gc();
            long grown = Pointer.physicalBytes() - rssBefore;
            // exact: no native tensor outlives its call (the weights and one buffer set stay, uploaded once)
            assertEquals(liveBefore, c.live.get(), "live native tensors after 10,000 forwards");
            // per call only the caller-owned output is allocated: the intermediates reuse the plan's buffers
            assertEquals(10_000L * 16 * 32 * 32 * 4, c.bytes.get() - allocatedBefore);
            // and the process does not grow with the calls (a leaked output alone would be 640 MB)
            assertTrue(grown < 128L << 20, "resident memory grew by " + (grown >> 20) + " MiB over 10,000 forwards");
        }
        assertEquals(0, c.live.get(), "closing the model frees its weights and buffers");
    }
}
