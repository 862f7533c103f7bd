package dev.salient.explain.cam;

/**
 * DBSCAN (Ester et al. 1996) on a precomputed distance matrix, with scikit-learn's
 * semantics: a point's neighbourhood is every point at distance ≤ eps, itself included; a
 * core point has at least {@code minSamples} neighbours; clusters grow from core points in
 * index order, so a border point reachable from two clusters joins the one whose first core
 * point comes first; unreached points are noise (-1).
 */
final class Dbscan {
    private Dbscan() {}

    /**
     * @param dist (n, n) symmetric distances, row-major
     * @return labels 0..K-1 per point, -1 for noise
     */
    static int[] labels(double[] dist, int n, double eps, int minSamples) {
        boolean[] core = new boolean[n];
        for (int i = 0; i < n; i++) {
            int cnt = 0;
            for (int j = 0; j < n; j++) if (dist[i * n + j] <= eps) cnt++;
            core[i] = cnt >= minSamples;
        }
        int[] label = new int[n];
        java.util.Arrays.fill(label, -1);
        int[] stack = new int[n];
        int next = 0;
        for (int i = 0; i < n; i++) {
            if (label[i] != -1 || !core[i]) continue;
            int top = 0;
            label[i] = next;
            stack[top++] = i;
            while (top > 0) {
                int q = stack[--top];
                if (!core[q]) continue;
                for (int j = 0; j < n; j++) {
                    if (label[j] == -1 && dist[q * n + j] <= eps) {
                        label[j] = next;
                        stack[top++] = j;
                    }
                }
            }
            next++;
        }
        return label;
    }
}
