package dev.salient.explain.gradient;

import static org.junit.jupiter.api.Assertions.*;

import dev.salient.engine.SalientException;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class IntegrationRuleTest {
    @Test
    void gaussLegendreMatchesNumpyLeggauss() {
        double[][] gl5 = IntegrationRule.gaussLegendre(5);
        double[] x = {-0.906179845938664, -0.5384693101056831, 0.0, 0.5384693101056831, 0.906179845938664};
        double[] w = {0.23692688505618942, 0.4786286704993662, 0.568888888888889, 0.4786286704993662, 0.23692688505618942};
        assertArrayEquals(x, gl5[0], 1e-14);
        assertArrayEquals(w, gl5[1], 1e-14);
        double[][] gl50 = IntegrationRule.gaussLegendre(50);
        assertEquals(-0.998866404420071, gl50[0][0], 1e-14);
        assertEquals(0.0029086225531578685, gl50[1][0], 1e-14);
        assertEquals(-0.031098338327188876, gl50[0][24], 1e-14);
        assertEquals(0.062176616655347, gl50[1][24], 1e-14);
    }

    @Test
    void captumRiemannRules() {
        assertArrayEquals(new double[] {0, 0.25, 0.5, 0.75}, IntegrationRule.RIEMANN_LEFT.alphas(4), 1e-15);
        assertArrayEquals(new double[] {0.25, 0.5, 0.75, 1}, IntegrationRule.RIEMANN_RIGHT.alphas(4), 1e-15);
        assertArrayEquals(new double[] {0.125, 0.375, 0.625, 0.875}, IntegrationRule.RIEMANN_MIDDLE.alphas(4), 1e-15);
        assertArrayEquals(new double[] {0, 1 / 3.0, 2 / 3.0, 1}, IntegrationRule.RIEMANN_TRAPEZOID.alphas(4), 1e-15);
        // Captum's trapezoid: 1/n steps, halved at both ends (sums to (n-1)/n)
        assertArrayEquals(new double[] {0.125, 0.25, 0.25, 0.125}, IntegrationRule.RIEMANN_TRAPEZOID.weights(4), 1e-15);
        assertArrayEquals(new double[] {0.25, 0.25, 0.25, 0.25}, IntegrationRule.RIEMANN_LEFT.weights(4), 1e-15);
        assertEquals(1.0, Arrays.stream(IntegrationRule.GAUSS_LEGENDRE.weights(7)).sum(), 1e-13);
    }

    @Test
    void gaussLegendreIntegratesPolynomialsExactly() {
        // n points integrate degree 2n-1 exactly: int_0^1 t^5 dt = 1/6 with n = 3
        double[] a = IntegrationRule.GAUSS_LEGENDRE.alphas(3), w = IntegrationRule.GAUSS_LEGENDRE.weights(3);
        double s = 0;
        for (int i = 0; i < 3; i++) s += w[i] * Math.pow(a[i], 5);
        assertEquals(1 / 6.0, s, 1e-14);
    }

    @Test
    void tooFewStepsIsAClearError() {
        SalientException e = assertThrows(SalientException.class, () -> IntegrationRule.RIEMANN_LEFT.alphas(1));
        assertTrue(e.getMessage().contains("at least 2 steps"), e.getMessage());
        assertThrows(SalientException.class, () -> IntegrationRule.parse("simpson"));
        assertEquals(IntegrationRule.RIEMANN_MIDDLE, IntegrationRule.parse("riemann_middle"));
    }
}
