// SLIC superpixels (Achanta et al., "SLIC Superpixels Compared to State-of-the-art Superpixel
// Methods", TPAMI 2012) exactly as scikit-image 0.19's skimage.segmentation.slic computes them
// for one 2-D image with its defaults (max_num_iter=10, sigma=0, spacing=1, no mask, no
// SLIC-zero, enforce_connectivity with min_size_factor=0.5 and max_size_factor=3), labels from 0
// (start_label=0):
//   1. the image is rescaled to [0,1] by its minimum and maximum over all channels;
//   2. three channels are converted from sRGB to CIE Lab (D65, 2 degrees; skimage.color.rgb2lab),
//      any other number of channels is used as is (one channel: intensity);
//   3. centres on skimage.util.regular_grid((1,H,W), N), colour features initialised to 0;
//   4. ten k-means iterations in a window of +-2 grid steps around each centre, distance
//      |d_yx|^2 / step^2 + |d_colour / compactness|^2, ties to the lower centre;
//   5. connected components relabelled in raster order, those under min_size merged into the
//      last neighbouring component seen, breadth-first search capped at max_size.
// Step 4 runs in parallel over image rows and sums the centres over fixed blocks of rows, so the
// result does not depend on the number of threads.
#include "common.h"
#include "salient.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

// skimage.util.regular_grid(shape, n): per dimension, (start, step) of the grid's slices;
// step 1 and start 0 for slice(None).
void regular_grid(const int64_t shape[3], int64_t n, int64_t start[3], int64_t step[3]) {
    const int nd = 3;
    // argsort (stable for three elements, as numpy's for short arrays) and its inverse
    int order[3] = {0, 1, 2};
    std::stable_sort(order, order + nd, [&](int a, int b) { return shape[a] < shape[b]; });
    double sorted[3];
    for (int i = 0; i < nd; i++) sorted[i] = (double)shape[order[i]];
    double space = sorted[0] * sorted[1] * sorted[2];
    if (space <= (double)n) {
        for (int i = 0; i < nd; i++) start[i] = 0, step[i] = 1;
        return;
    }
    double steps[3];
    for (int i = 0; i < nd; i++) steps[i] = std::pow(space / (double)n, 1.0 / nd);
    bool any = false;
    for (int i = 0; i < nd; i++) any |= sorted[i] < steps[i];
    if (any) {
        for (int dim = 0; dim < nd; dim++) {
            steps[dim] = sorted[dim];
            double rest = 1;
            for (int j = dim + 1; j < nd; j++) rest *= sorted[j];
            for (int j = dim + 1; j < nd; j++) steps[j] = std::pow(rest / (double)n, 1.0 / (nd - dim - 1));
            bool all = true;
            for (int j = 0; j < nd; j++) all &= sorted[j] >= steps[j];
            if (all) break;
        }
    }
    for (int i = 0; i < nd; i++) {
        // numpy: (stepsizes // 2).astype(int), np.round(stepsizes) (half to even)
        start[order[i]] = (int64_t)std::floor(steps[i] / 2);
        step[order[i]] = (int64_t)std::nearbyint(steps[i]);
    }
}

// skimage.color.rgb2lab (D65, observer 2) of one pixel in [0,1].
void rgb_to_lab(double r, double g, double b, double* out) {
    double c[3] = {r, g, b};
    for (double& v : c) v = v > 0.04045 ? std::pow((v + 0.055) / 1.055, 2.4) : v / 12.92;
    static const double m[3][3] = {{0.412453, 0.357580, 0.180423},
                                   {0.212671, 0.715160, 0.072169},
                                   {0.019334, 0.119193, 0.950227}};
    static const double white[3] = {0.95047, 1., 1.08883};
    double f[3];
    for (int i = 0; i < 3; i++) {
        double t = (m[i][0] * c[0] + m[i][1] * c[1] + m[i][2] * c[2]) / white[i];
        f[i] = t > 0.008856 ? std::cbrt(t) : 7.787 * t + 16. / 116.;
    }
    out[0] = 116. * f[1] - 16.;
    out[1] = 500.0 * (f[0] - f[1]);
    out[2] = 200.0 * (f[1] - f[2]);
}

constexpr int kRowBlock = 16;

}  // namespace

// image: (C,H,W) as given; labels: (H,W) out, 0..count-1; count: out (the number of labels).
extern "C" int slic_cpu(const float* image, int c, int h, int w, int n_segments, double compactness, int32_t* labels,
                        int32_t* count) {
    SALIENT_CHECK_PTR(image);
    SALIENT_CHECK_PTR(labels);
    SALIENT_CHECK_PTR(count);
    SALIENT_CHECK(c > 0 && h > 0 && w > 0, "slic_cpu: bad image size (C,H,W) = (%d,%d,%d)", c, h, w);
    SALIENT_CHECK((int64_t)h * w <= (int64_t)1 << 30, "slic_cpu: image of %d x %d pixels is too large", h, w);
    SALIENT_CHECK(n_segments > 0, "slic_cpu: n_segments must be positive, got %d", n_segments);
    SALIENT_CHECK(compactness > 0 && std::isfinite(compactness), "slic_cpu: compactness must be positive, got %g",
                  compactness);
    const int64_t plane = (int64_t)h * w;
    for (int64_t i = 0; i < (int64_t)c * plane; i++)
        SALIENT_CHECK(std::isfinite(image[i]), "slic_cpu: the image has a non-finite value at %lld", (long long)i);

    // 1-2: rescale to [0,1], Lab for three channels; features (plane, nc) scaled by 1/compactness
    double lo = image[0], hi = image[0];
    for (int64_t i = 0; i < (int64_t)c * plane; i++) lo = std::min(lo, (double)image[i]), hi = std::max(hi, (double)image[i]);
    const double range = hi - lo;
    const int nc = c;
    const double ratio = 1.0 / compactness;
    std::vector<double> feat((size_t)plane * nc);
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < plane; p++) {
        double v[3];
        double* f = &feat[(size_t)p * nc];
        if (nc == 3) {
            for (int k = 0; k < 3; k++) {
                double x = image[k * plane + p] - lo;
                v[k] = range != 0 ? x / range : x;
            }
            rgb_to_lab(v[0], v[1], v[2], f);
            for (int k = 0; k < 3; k++) f[k] *= ratio;
        } else {
            for (int k = 0; k < nc; k++) {
                double x = image[k * plane + p] - lo;
                f[k] = (range != 0 ? x / range : x) * ratio;
            }
        }
    }

    // 3: the grid of centres
    const int64_t shape[3] = {1, h, w};
    int64_t start[3], step[3];
    regular_grid(shape, n_segments, start, step);
    std::vector<double> cy0, cx0;
    for (int64_t y = start[1]; y < h; y += step[1])
        for (int64_t x = start[2]; x < w; x += step[2]) cy0.push_back((double)y), cx0.push_back((double)x);
    const int64_t k_count = (int64_t)cy0.size();
    // the spatial normaliser: the largest grid step (as a C float, as skimage passes it)
    const float step_f = (float)std::max<int64_t>(std::max<int64_t>(step[0], step[1]), step[2]);
    const double spatial_weight = 1.0 / ((double)step_f * (double)step_f);
    // the search window: +-2 steps of the grid recomputed for the number of centres
    int64_t wstart[3], wstep[3];
    regular_grid(shape, k_count, wstart, wstep);
    const int64_t sy = wstep[1], sx = wstep[2];

    const int nf = 2 + nc;   // y, x, colour
    std::vector<double> centre((size_t)k_count * nf, 0.0);
    for (int64_t k = 0; k < k_count; k++) centre[k * nf] = cy0[k], centre[k * nf + 1] = cx0[k];
    std::vector<char> active(k_count, 1);
    std::vector<int64_t> nearest(plane, -1);
    std::vector<double> dist(plane);
    std::vector<int64_t> ylo(k_count), yhi(k_count), xlo(k_count), xhi(k_count);
    const int64_t blocks = (h + kRowBlock - 1) / kRowBlock;
    std::vector<double> partial((size_t)blocks * k_count * nf);
    std::vector<int64_t> partial_n((size_t)blocks * k_count);

    // 4: k-means (max_num_iter = 10); skimage stops early only when no pixel is in any window
    for (int iter = 0; iter < 10; iter++) {
        for (int64_t k = 0; k < k_count; k++) {
            const double cy = centre[k * nf], cx = centre[k * nf + 1];
            ylo[k] = (int64_t)std::max(cy - 2.0 * sy, 0.0);
            yhi[k] = (int64_t)std::min(cy + 2.0 * sy + 1, (double)h);
            xlo[k] = (int64_t)std::max(cx - 2.0 * sx, 0.0);
            xhi[k] = (int64_t)std::min(cx + 2.0 * sx + 1, (double)w);
        }
        int changed = 0;
#pragma omp parallel for schedule(dynamic, 4) reduction(| : changed)
        for (int64_t y = 0; y < h; y++) {
            double* d = &dist[y * w];
            int64_t* l = &nearest[y * w];
            std::fill(d, d + w, DBL_MAX);
            for (int64_t k = 0; k < k_count; k++) {
                if (!active[k] || y < ylo[k] || y >= yhi[k]) continue;
                const double* ck = &centre[k * nf];
                double dy = ck[0] - (double)y;
                dy *= dy;
                for (int64_t x = xlo[k]; x < xhi[k]; x++) {
                    double dx = ck[1] - (double)x;
                    dx *= dx;
                    double dc = (0.0 + dy + dx) * spatial_weight;
                    double colour = 0;
                    const double* f = &feat[(size_t)(y * w + x) * nc];
                    for (int j = 0; j < nc; j++) {
                        double t = f[j] - ck[2 + j];
                        colour += t * t;
                    }
                    dc += colour;
                    if (d[x] > dc) {
                        l[x] = k;
                        d[x] = dc;
                        changed = 1;
                    }
                }
            }
        }
        if (!changed) break;
        // the new centres: per-block sums in parallel, blocks added in order
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t bi = 0; bi < blocks; bi++) {
            double* s = &partial[(size_t)bi * k_count * nf];
            int64_t* sn = &partial_n[(size_t)bi * k_count];
            std::fill(s, s + k_count * nf, 0.0);
            std::fill(sn, sn + k_count, 0);
            for (int64_t y = bi * kRowBlock; y < std::min<int64_t>(h, (bi + 1) * kRowBlock); y++)
                for (int64_t x = 0; x < w; x++) {
                    int64_t k = nearest[y * w + x];
                    if (k < 0) continue;
                    double* sk = &s[k * nf];
                    sn[k]++;
                    sk[0] += (double)y;
                    sk[1] += (double)x;
                    const double* f = &feat[(size_t)(y * w + x) * nc];
                    for (int j = 0; j < nc; j++) sk[2 + j] += f[j];
                }
        }
        std::fill(centre.begin(), centre.end(), 0.0);
        std::vector<int64_t> n(k_count, 0);
        for (int64_t bi = 0; bi < blocks; bi++)
            for (int64_t k = 0; k < k_count; k++) {
                n[k] += partial_n[(size_t)bi * k_count + k];
                for (int j = 0; j < nf; j++) centre[k * nf + j] += partial[((size_t)bi * k_count + k) * nf + j];
            }
        for (int64_t k = 0; k < k_count; k++) {
            // an empty cluster (0/0 in skimage) is never nearest again
            if (n[k] == 0) {
                active[k] = 0;
                continue;
            }
            for (int j = 0; j < nf; j++) centre[k * nf + j] /= (double)n[k];
        }
    }

    // 5: connectivity (skimage's _enforce_label_connectivity_cython on one plane)
    const double segment_size = (double)plane / (double)k_count;
    const int64_t min_size = (int64_t)(0.5 * segment_size);
    const int64_t max_size = std::max<int64_t>(1, (int64_t)(3 * segment_size));
    std::vector<int64_t> out(plane, -1);
    std::vector<int64_t> queue(max_size);
    const int ddx[4] = {1, -1, 0, 0}, ddy[4] = {0, 0, 1, -1};
    int64_t next = 0;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) {
            const int64_t p0 = y * w + x;
            if (nearest[p0] == -1 || out[p0] > -1) continue;
            int64_t adjacent = next;
            const int64_t label = nearest[p0];
            out[p0] = next;
            int64_t size = 1, visited = 0;
            queue[0] = p0;
            while (visited < size && size < max_size) {
                const int64_t qy = queue[visited] / w, qx = queue[visited] % w;
                for (int i = 0; i < 4; i++) {
                    const int64_t yy = qy + ddy[i], xx = qx + ddx[i];
                    if (xx < 0 || xx >= w || yy < 0 || yy >= h) continue;
                    const int64_t q = yy * w + xx;
                    if (nearest[q] == label && out[q] == -1) {
                        out[q] = next;
                        queue[size++] = q;
                        if (size >= max_size) break;
                    } else if (out[q] > -1 && out[q] != next) {
                        adjacent = out[q];
                    }
                }
                visited++;
            }
            if (size < min_size)
                for (int64_t i = 0; i < size; i++) out[queue[i]] = adjacent;
            else
                next++;
        }
    int64_t m = 0;
    for (int64_t p = 0; p < plane; p++) {
        labels[p] = (int32_t)out[p];
        m = std::max(m, out[p] + 1);
    }
    *count = (int32_t)m;
    return SALIENT_OK;
}
