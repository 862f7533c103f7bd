package dev.salient.explain;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.SalientException;
import org.junit.jupiter.api.Test;

class TargetTest {
    private final float[] logits = {0.1f, 2f, -1f, 3f, /* image 1 */ 5f, 1f, 5f, 0f};

    @Test
    void resolvesTop1TopKIndexAndPerImage() {
        assertArrayEquals(new int[][] {{3}, {0}}, Target.top1().resolve(logits, 2, 4));
        assertArrayEquals(new int[][] {{3, 1}, {0, 2}}, Target.topK(2).resolve(logits, 2, 4));
        assertArrayEquals(new int[][] {{2}, {2}}, Target.index(2).resolve(logits, 2, 4));
        assertArrayEquals(new int[][] {{1}, {3}}, Target.perImage(1, 3).resolve(logits, 2, 4));
        assertArrayEquals(new int[][] {{1}, {3}}, Target.parse("1,3").resolve(logits, 2, 4));
        assertEquals(3, Target.parse("top3").mapsPerImage());
    }

    @Test
    void outOfRangeTargetsAreClearErrors() {
        SalientException e = assertThrows(SalientException.class, () -> Target.index(4).resolve(logits, 2, 4));
        assertTrue(e.getMessage().contains("out of range"), e.getMessage());
        assertThrows(SalientException.class, () -> Target.perImage(1).resolve(logits, 2, 4));
        assertThrows(SalientException.class, () -> Target.topK(5).resolve(logits, 2, 4));
        assertThrows(SalientException.class, () -> Target.parse("best"));
    }
}
