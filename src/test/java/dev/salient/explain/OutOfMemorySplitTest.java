package dev.salient.explain;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.OutOfDeviceMemoryException;
import dev.salient.engine.SalientException;
import dev.salient.engine.Shapes;
import dev.salient.engine.Tensor;
import dev.salient.explain.cam.GradCam;
import dev.salient.explain.gradient.IntegratedGradients;
import dev.salient.model.Model;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A backend that runs out of memory above a tensor size: the methods split their
 * chunks and give the same result; when one image cannot fit, one clear line.
 */
class OutOfMemorySplitTest {
    static final Path MODEL = Path.of("src/test/resources/fixtures/arch/resnet_basic_bn/model.onnx");

    /** The CPU engine, refusing any tensor of more than {@code limit} floats. */
    static Backend limited(long limit) {
        Backend cpu = Engine.cpu();
        Backend[] self = new Backend[1];
        self[0] = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, m, args) -> {
                    switch (m.getName()) {
                        case "allocate", "upload", "zeros" -> {
                            long[] shape = (long[]) args[args.length - 1];
                            // the caller's input upload always fits; working tensors are limited
                            if (!m.getName().equals("upload") && Shapes.numel(shape) > limit)
                                throw new OutOfDeviceMemoryException("test: " + Shapes.numel(shape) + " floats do not fit");
                            Tensor t = m.getName().equals("upload") ? cpu.upload((float[]) args[0], shape) : cpu.allocate(shape);
                            if (m.getName().equals("zeros")) cpu.fill(t, 0f);
                            return new Tensor(self[0], t.data(), shape);
                        }
                        case "equals" -> {
                            return proxy == args[0];
                        }
                        case "hashCode" -> {
                            return System.identityHashCode(proxy);
                        }
                        default -> {
                            try {
                                return m.invoke(cpu, args);
                            } catch (InvocationTargetException e) {
                                throw e.getCause();
                            }
                        }
                    }
                });
        return self[0];
    }

    private static float[] input(int n) {
        Random r = new Random(3);
        float[] x = new float[n * 3 * 64 * 64];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        return x;
    }

    @Test
    void igSplitsItsStepsWhenTheDeviceIsFull() {
        try (Model m = Model.load(MODEL)) {
            var o = IntegratedGradients.Options.steps(8);
            Attribution ref;
            try (Tensor x = Engine.cpu().upload(input(2), 2, 3, 64, 64)) {
                ref = new IntegratedGradients(m).explain(Engine.cpu(), x, Target.top1(), o);
            }
            // 16 rows (8 steps x 2 images) of 3x64x64 points do not fit: at most 3 rows at a time
            Backend small = limited(3L * 3 * 64 * 64);
            Attribution got;
            try (Tensor x = small.upload(input(2), 2, 3, 64, 64)) {
                got = new IntegratedGradients(m).explain(small, x, Target.top1(), o);
            }
            float[] a = ref.values(), b = got.values();
            for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-6f + 1e-5f * Math.abs(a[i]), "at " + i);
        }
    }

    @Test
    void oneImageThatCannotFitIsOneClearLine() {
        try (Model m = Model.load(MODEL)) {
            Backend tiny = limited(8L * 32 * 32 - 1); // below the largest activation (8,32,32) of one image
            try (Tensor x = tiny.upload(input(1), 1, 3, 64, 64)) {
                SalientException e = assertThrows(SalientException.class,
                        () -> new GradCam(m, "auto").explain(tiny, x, Target.top1()));
                assertTrue(e.getMessage().contains("does not fit"), e.getMessage());
            }
        }
    }
}
