package dev.salient.visualize;

import dev.salient.engine.Backend;
import dev.salient.engine.Engine;
import dev.salient.engine.Tensor;
import dev.salient.io.NdArray;
import org.junit.jupiter.api.Test;

/** Adam on the engine against torch.optim.Adam(lr=0.05) over three steps (scripts/make_featviz_fixtures.py). */
class AdamTest {
    @Test
    void matchesTorchAdam() {
        Backend b = Engine.cpu();
        NdArray p0 = Fixtures.npy("adam_p0"), grads = Fixtures.npy("adam_grads");
        try (Tensor p = p0.upload(b); Adam adam = new Adam(b, p, 0.05f)) {
            for (int s = 0; s < 3; s++)
                try (Tensor g = grads.sliceFirst(s, s + 1).upload(b); Tensor gv = b.allocate(p.shape())) {
                    b.copy(g, gv);
                    adam.step(p, gv);
                }
            Fixtures.assertClose("adam", Fixtures.npy("adam_p").data(), p.toArray(), 1e-6, 1e-5);
        }
    }
}
