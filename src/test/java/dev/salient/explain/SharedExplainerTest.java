package dev.salient.explain;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.model.Model;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * One explainer shared by threads while some of its calls split on out-of-memory:
 * the split shrinks a per-call budget, so the explainer's own budget never changes
 * and every thread gets the single-threaded result.
 */
class SharedExplainerTest {
    @Test
    void outOfMemorySplitsInOneThreadDoNotTouchTheSharedBudget() throws Exception {
        try (Model m = Model.load(Path.of("src/test/resources/fixtures/arch/resnet_basic_bn/model.onnx"))) {
            Random r = new Random(4);
            float[] x = new float[2 * 3 * 64 * 64];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            IntegratedGradients ig = new IntegratedGradients(m, IntegratedGradients.Options.steps(6));
            long budget = ig.memoryBudget();
            Attribution ref;
            try (Tensor xt = Engine.cpu().upload(x, 2, 3, 64, 64)) {
                ref = ig.explain(Engine.cpu(), xt, Target.top1());
            }
            Backend small = OutOfMemorySplitTest.limited(3L * 3 * 64 * 64);
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                List<Future<Attribution>> runs = new ArrayList<>();
                for (int k = 0; k < 4; k++) {
                    Backend b = k % 2 == 0 ? small : Engine.cpu();
                    runs.add(pool.submit(() -> {
                        try (Tensor xt = b.upload(x, 2, 3, 64, 64)) {
                            return ig.explain(b, xt, Target.top1());
                        }
                    }));
                }
                for (Future<Attribution> f : runs) {
                    float[] a = ref.values(), g = f.get().values();
                    for (int i = 0; i < a.length; i++) assertEquals(a[i], g[i], 1e-6f + 1e-5f * Math.abs(a[i]), "at " + i);
                }
            } finally {
                pool.shutdown();
            }
            assertEquals(budget, ig.memoryBudget(), "the shared budget is configuration, never mutated by a call");
        }
    }
}
