package dev.salient.engine;

import java.util.List;

/**
 * The compute device behind every array operation of salient. One method per
 * op and pass; the {@code cpu} implementation calls the C++ engine in
 * {@code native/}, the {@code cuda} one the kernels in {@code kernels/}.
 * Tensors passed to a backend must have been allocated by an engine of its kind.
 * Outputs are preallocated by the caller with the right shape; every
 * implementation checks its arguments with {@link OpChecks} (one set of checks
 * for all engines) and throws {@link SalientException} with one line on a mismatch.
 *
 * <p>Backends are thread-safe: ops may be called from several threads at once
 * on distinct output tensors.
 */
public interface Backend extends AutoCloseable {

    /** "cpu" or "cuda". */
    String name();

    // ---- memory

    /** Uninitialised tensor of the given shape. */
    Tensor allocate(long... shape);

    /** Tensor of zeros. */
    default Tensor zeros(long... shape) {
        Tensor t = allocate(shape);
        fill(t, 0f);
        return t;
    }

    /** Copies host data into a new tensor of this backend. */
    Tensor upload(float[] host, long... shape);

    /** Copies a tensor's contents into a new host array. */
    float[] download(Tensor t);

    /** Frees memory returned by this backend (called by {@link Tensor#close()}). */
    void free(org.bytedeco.javacpp.FloatPointer p);

    /** dst = src (same numel; shapes may differ, e.g. reshape). */
    void copy(Tensor src, Tensor dst);

    /** Copies {@code count} floats from src[srcOffset..] to dst[dstOffset..]. */
    void copyRange(Tensor src, long srcOffset, Tensor dst, long dstOffset, long count);

    void fill(Tensor t, float value);

    /** Waits for all queued work (no-op on cpu). */
    default void synchronize() {}

    @Override
    default void close() {}

    // ---- convolution (weights (k, c/groups, r, s); bias (k) or null)

    void conv2dForward(Tensor x, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g);

    /**
     * y = act(conv2d(x, w) + bias) for the activations a conv may carry in its epilogue
     * ({@link #fusesConvActivation}): the composed conv2dForward then activationForward in place,
     * unless a backend fuses them (the CPU applies the activation to each block of outputs while it
     * is still in cache). Only forward passes that keep no pre-activation tensor use it.
     */
    default void conv2dForwardActivation(Tensor x, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g,
            Activation kind, float alpha, float beta) {
        conv2dForward(x, w, bias, y, g);
        activationForward(kind, y, y, alpha, beta);
    }

    /** Whether {@link #conv2dForwardActivation} takes this activation (Relu and Clip). */
    static boolean fusesConvActivation(Activation kind) {
        return kind == Activation.RELU || kind == Activation.CLIP;
    }

    /**
     * y = act(conv2d(x, w) + bias + z), a residual block's Conv, Add and Relu in one step: the
     * composed conv2dForward, binary Add and activationForward (bit for bit), unless a backend
     * fuses them (the CPU adds z and applies the activation to each block of outputs while it is
     * still in cache). {@code kind} null means no activation, else a {@link #fusesConvActivation}
     * kind. z has y's shape; y may overlap neither x nor z. Only forward passes that keep neither
     * the conv's output nor the sum use it.
     */
    default void conv2dForwardSum(Tensor x, Tensor w, Tensor bias, Tensor z, Tensor y, Conv2dGeometry g,
            Activation kind, float alpha, float beta) {
        OpChecks.conv2dForwardSum(this, x, w, bias, z, y, g, kind);
        conv2dForward(x, w, bias, y, g);
        addThenActivate(this, y, z, kind, alpha, beta);
    }

    /**
     * One output channel per image: y[n, channels[n]] = act(conv2d(x, w)[n, channels[n]] + bias +
     * z[n, channels[n]]), and every other channel of image n is 0. Feature visualisation maximises
     * one channel of a layer per image; where the layer is a conv's output, the other channels are
     * never read, and this computes 1/k of the conv. Each output is one chain of FMAs over (c, r, s)
     * in order, the same on every engine (native/conv_channels.h), so an image gets the same bits
     * in any batch; they may differ in the last bits from {@link #conv2dForwardSum}, which sums in
     * other orders. z and bias may be null, {@code kind} null (no activation) or a
     * {@link #fusesConvActivation} kind; y may overlap neither x nor z.
     */
    void conv2dForwardChannels(Tensor x, Tensor w, Tensor bias, Tensor z, int[] channels, Tensor y, Conv2dGeometry g,
            Activation kind, float alpha, float beta);

    /**
     * y = act(conv2d(pre(x), w) + bias) for a {@link Conv2dGeometry#pointwise} conv, where pre(x) =
     * preKind(x * scale[c] + shift[c]) (shift may be null; preKind null: the plain map, else a
     * {@link #fusesConvActivation} kind): an unfoldable BatchNormalization and its Relu before a 1x1
     * conv (DenseNet's dense layers) in one step, bit for bit channelAffine (or
     * channelAffineActivation) then conv2dForward (or conv2dForwardActivation; kind null: no
     * activation). The composed passes through a temporary of x's shape, unless a backend fuses
     * them ({@link #fusesConvPrologue}: the CPU applies the map as it packs the conv's input). y may
     * not overlap x. Only forward passes that keep neither the map's output nor the conv's use it.
     */
    default void conv2dForwardPrologue(Tensor x, Tensor scale, Tensor shift, Activation preKind, float preAlpha,
            float preBeta, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g, Activation kind, float alpha, float beta) {
        OpChecks.conv2dForwardPrologue(this, x, scale, shift, preKind, w, bias, y, g, kind);
        composePrologue(this, x, scale, shift, preKind, preAlpha, preBeta, w, bias, y, g, kind, alpha, beta);
    }

    /** {@link #conv2dForwardPrologue} as its composed passes, through a temporary of x's shape (arguments checked). */
    static void composePrologue(Backend b, Tensor x, Tensor scale, Tensor shift, Activation preKind, float preAlpha,
            float preBeta, Tensor w, Tensor bias, Tensor y, Conv2dGeometry g, Activation kind, float alpha, float beta) {
        try (Tensor t = b.allocate(x.shape())) {
            if (preKind == null) b.channelAffine(x, scale, shift, t);
            else b.channelAffineActivation(x, scale, shift, t, preKind, preAlpha, preBeta);
            if (kind == null) b.conv2dForward(t, w, bias, y, g);
            else b.conv2dForwardActivation(t, w, bias, y, g, kind, alpha, beta);
        }
    }

    /** Whether {@link #conv2dForwardPrologue} runs in one pass here: plans fuse the map into the conv only then. */
    default boolean fusesConvPrologue() {
        return false;
    }

    /**
     * y = act2(depthwise(act1(pointwise(x, w1) + b1), w2) + b2): the {@link Conv2dGeometry#pointwise} conv
     * {@code pw} (c -> k channels) and the depthwise 3x3 conv {@code dw} that alone reads its output (k
     * channels, groups k, stride 1 or 2, pads 1, no dilation: MobileNetV2's expansion and depthwise
     * layers) in one step, bit for bit conv2dForward (or conv2dForwardActivation) of each in turn. The
     * composed passes through a temporary of the expanded tensor, unless a backend fuses them
     * ({@link #fusesPointwiseDepthwise}: the CPU makes the expanded rows a band at a time, in L2, and
     * never writes the expanded tensor). act1 and act2 null (none) or {@link #fusesConvActivation}
     * kinds; b1 and b2 may be null; y may not overlap x. Only forward passes that keep neither conv's
     * own output use it.
     */
    default void conv2dPointwiseDepthwise(Tensor x, Tensor w1, Tensor b1, Activation act1, float alpha1, float beta1,
            Tensor w2, Tensor b2, Tensor y, Conv2dGeometry pw, Conv2dGeometry dw, Activation act2, float alpha2,
            float beta2) {
        OpChecks.conv2dPointwiseDepthwise(this, x, w1, b1, act1, w2, b2, y, pw, dw, act2);
        composeConvPair(this, x, w1, b1, act1, alpha1, beta1, w2, b2, y, pw, dw, act2, alpha2, beta2);
    }

    /**
     * Whether {@link #conv2dPointwiseDepthwise} runs the pair of these geometries without the expanded
     * tensor here: plans fuse the two convs only then (and keep the expanded tensor in their arena otherwise).
     */
    default boolean fusesPointwiseDepthwise(Conv2dGeometry pw, Conv2dGeometry dw) {
        return false;
    }

    /**
     * y = act2(pointwise(act1(depthwise(x, w1) + b1), w2) + b2): the depthwise 3x3 conv {@code dw} (c
     * channels, groups c, stride 1 or 2, pads 1, no dilation) and the {@link Conv2dGeometry#pointwise} conv
     * {@code pw} that alone reads its output (MobileNetV2's first block) in one step, bit for bit
     * conv2dForward (or conv2dForwardActivation) of each in turn. The composed passes through a temporary
     * of the depthwise conv's output, unless a backend fuses them ({@link #fusesDepthwisePointwise}: the CPU
     * makes the depthwise rows a band at a time, in L2). act1 and act2 null (none) or
     * {@link #fusesConvActivation} kinds; b1 and b2 may be null; y may not overlap x. Only forward passes
     * that keep neither conv's own output use it.
     */
    default void conv2dDepthwisePointwise(Tensor x, Tensor w1, Tensor b1, Activation act1, float alpha1, float beta1,
            Tensor w2, Tensor b2, Tensor y, Conv2dGeometry dw, Conv2dGeometry pw, Activation act2, float alpha2,
            float beta2) {
        OpChecks.conv2dDepthwisePointwise(this, x, w1, b1, act1, w2, b2, y, dw, pw, act2);
        composeConvPair(this, x, w1, b1, act1, alpha1, beta1, w2, b2, y, dw, pw, act2, alpha2, beta2);
    }

    /**
     * {@link #conv2dPointwiseDepthwise} or {@link #conv2dDepthwisePointwise} as its two convs, {@code g1} then
     * {@code g2}, through a temporary of the tensor between them (arguments checked).
     */
    static void composeConvPair(Backend b, Tensor x, Tensor w1, Tensor b1, Activation act1, float alpha1, float beta1,
            Tensor w2, Tensor b2, Tensor y, Conv2dGeometry g1, Conv2dGeometry g2, Activation act2, float alpha2,
            float beta2) {
        try (Tensor t = b.allocate(g1.outputShape())) {
            if (act1 == null) b.conv2dForward(x, w1, b1, t, g1);
            else b.conv2dForwardActivation(x, w1, b1, t, g1, act1, alpha1, beta1);
            if (act2 == null) b.conv2dForward(t, w2, b2, y, g2);
            else b.conv2dForwardActivation(t, w2, b2, y, g2, act2, alpha2, beta2);
        }
    }

    /**
     * Whether {@link #conv2dDepthwisePointwise} runs the pair of these geometries without the depthwise
     * output here: plans fuse the two convs only then.
     */
    default boolean fusesDepthwisePointwise(Conv2dGeometry dw, Conv2dGeometry pw) {
        return false;
    }

    /** y = act(y + z) (no activation when kind is null) in two passes: the composed tail of the fused sums. */
    static void addThenActivate(Backend b, Tensor y, Tensor z, Activation kind, float alpha, float beta) {
        b.binary(BinaryOp.ADD, y, z, y);
        if (kind != null) b.activationForward(kind, y, y, alpha, beta);
    }

    /** dx = conv2d^T(dy, w): the data gradient; dx is overwritten. */
    void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g);

    /**
     * {@link #conv2dBackwardData}, then the backward of the Relu whose output {@code reluOut} (the
     * conv's input shape) is the conv's input: dx = 0 where reluOut ≤ 0 (NaN passes), as
     * {@link #activationBackward} with RELU writes it, the same floats. With {@code sum} (dx's shape,
     * or null) the Relu's output gradient is the data gradient plus sum (a backward walk's other
     * contributions, {@link #axpby}'s sum of the two), masked. The CPU applies the sum and the mask
     * as the product writes each part of dx; CUDA runs the kernels one after another.
     */
    void conv2dBackwardDataRelu(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g, Tensor reluOut, Tensor sum);

    // ---- pooling

    void maxPool2dForward(Tensor x, Tensor y, Pool2dGeometry g);

    /** dx = routed dy to the first max of each window (PyTorch's tie rule); dx is overwritten. */
    void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g);

    /**
     * {@link #maxPool2dBackward}, then the backward of the Relu whose output x is: dx = 0 where
     * x ≤ 0 (NaN passes), as {@link #activationBackward} with RELU writes it, the same floats.
     * The CPU skips the windows whose winner is ≤ 0; CUDA runs the two kernels.
     */
    void maxPool2dBackwardRelu(Tensor x, Tensor dy, Tensor dx, Pool2dGeometry g);

    void avgPool2dForward(Tensor x, Tensor y, Pool2dGeometry g);

    void avgPool2dBackward(Tensor dy, Tensor dx, Pool2dGeometry g);

    // ---- 3-D convolution and pooling: volumes (n,c,d,h,w), weights (k, c/groups, kd, kh, kw), bias (k) or null

    void conv3dForward(Tensor x, Tensor w, Tensor bias, Tensor y, Conv3dGeometry g);

    /**
     * y = act(conv3d(x, w) + bias + z): {@link #conv2dForwardSum} for volumes; composed unless a
     * backend fuses it.
     */
    default void conv3dForwardSum(Tensor x, Tensor w, Tensor bias, Tensor z, Tensor y, Conv3dGeometry g,
            Activation kind, float alpha, float beta) {
        OpChecks.conv3dForwardSum(this, x, w, bias, z, y, g, kind);
        conv3dForward(x, w, bias, y, g);
        addThenActivate(this, y, z, kind, alpha, beta);
    }

    /** y = act(conv3d(x, w) + bias) for {@link #fusesConvActivation} kinds; composed unless a backend fuses it. */
    default void conv3dForwardActivation(Tensor x, Tensor w, Tensor bias, Tensor y, Conv3dGeometry g,
            Activation kind, float alpha, float beta) {
        conv3dForward(x, w, bias, y, g);
        activationForward(kind, y, y, alpha, beta);
    }

    /** dx = conv3d^T(dy, w): the data gradient; dx is overwritten. */
    void conv3dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv3dGeometry g);

    void maxPool3dForward(Tensor x, Tensor y, Pool3dGeometry g);

    /** dx = dy routed to the first max of each window (depth-row-column scan, PyTorch's tie rule); overwritten. */
    void maxPool3dBackward(Tensor x, Tensor dy, Tensor dx, Pool3dGeometry g);

    void avgPool3dForward(Tensor x, Tensor y, Pool3dGeometry g);

    void avgPool3dBackward(Tensor dy, Tensor dx, Pool3dGeometry g);

    // ---- elementwise

    void activationForward(Activation kind, Tensor x, Tensor y, float alpha, float beta);

    /** dx = dy * act'(x). */
    void activationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx, float alpha, float beta);

    /** y = x >= 0 ? x : slope * x, slope broadcast to x (numpy rules). */
    void preluForward(Tensor x, Tensor slope, Tensor y);

    /** dx = dy * (x > 0 ? 1 : slope). */
    void preluBackward(Tensor x, Tensor slope, Tensor dy, Tensor dx);

    /** y = a op b with numpy broadcasting; y has the broadcast shape. */
    void binary(BinaryOp op, Tensor a, Tensor b, Tensor y);

    /** dst = src summed over the axes along which dst (right-aligned) was broadcast. */
    void reduceSumTo(Tensor src, Tensor dst);

    /** y[n,c,...] = x[n,c,...] * scale[c] + shift[c] (shift may be null); channel axis 1. */
    void channelAffine(Tensor x, Tensor scale, Tensor shift, Tensor y);

    /**
     * y = act(x * scale[c] + shift[c]) for a {@link #fusesConvActivation} kind: an unfoldable
     * BatchNormalization (DenseNet's, before each conv) and its Relu in one pass; bit for bit
     * channelAffine then activationForward.
     */
    default void channelAffineActivation(Tensor x, Tensor scale, Tensor shift, Tensor y, Activation kind, float alpha,
            float beta) {
        OpChecks.channelAffineActivation(this, x, scale, shift, y, kind);
        channelAffine(x, scale, shift, y);
        activationForward(kind, y, y, alpha, beta);
    }

    /** y = alpha * x + beta * y (same numel). */
    void axpby(float alpha, Tensor x, float beta, Tensor y);

    // ---- dense

    /**
     * Y = alpha * op(A) op(B) + beta * C, A and B 2-D, C null or broadcastable to
     * (M,N) (ONNX Gemm).
     */
    void gemm(Tensor a, Tensor b, Tensor c, Tensor y, boolean transA, boolean transB, float alpha, float beta);

    /** Numpy matmul with batch broadcasting (ONNX MatMul); 1-D operands are promoted as numpy does. */
    void matmul(Tensor a, Tensor b, Tensor y);

    /** Softmax over the middle axis of x viewed as (outer, dim, inner). */
    void softmaxForward(Tensor x, Tensor y, long outer, long dim, long inner);

    /** dx = y * (dy - sum(dy * y)) over the same view. */
    void softmaxBackward(Tensor y, Tensor dy, Tensor dx, long outer, long dim, long inner);

    /** y = concat(xs, axis). */
    void concat(List<Tensor> xs, int axis, Tensor y);

    /** dst = src[..., offset : offset + dst.dim(axis), ...] along axis (the VJP of concat). */
    void sliceAxis(Tensor src, int axis, long offset, Tensor dst);

    // ---- CAM family and resizes

    /** w: (N,K) channel weights from activations a and gradients g, both (N,K,h,w). */
    void gradcamWeights(CamWeighting kind, Tensor a, Tensor g, Tensor w);

    /**
     * cam: (N,h,w) channel combination of a: (N,K,h,w); {@code wg} is the weights
     * (N,K) for {@link CamCombine#WEIGHTED}, else the gradients (N,K,h,w).
     */
    void camCombine(CamCombine mode, Tensor a, Tensor wg, Tensor cam);

    /**
     * pytorch-grad-cam's finish: out (N,H,W) = minmax(relu(resize(minmax(relu(cam))))),
     * min-max as (m - min) / (1e-7 + max(m - min)), bilinear with half-pixel
     * centres. {@code cam} (N,h,w) is overwritten.
     */
    void camFinish(Tensor cam, Tensor out);

    /** y: (N,C,H,W) bilinear resize of x: (N,C,h,w), half-pixel centres (align_corners=False). */
    void bilinearResize(Tensor x, Tensor y);

    /** y: (N,C,H,W) nearest resize of x: (N,C,h,w), as torch's mode='nearest' (src = floor(dst*h/H)). */
    void nearestResize(Tensor x, Tensor y);

    // ---- primitives: general array operations that methods are composed from

    /**
     * Masked blend {@code y = b + m ⊙ (x − b)} for every mask: x (N, ...), b x's shape or
     * (1, ...) (one baseline for all), m (S, ...) whose rows of dm values tile x's rows
     * (element j of a row takes m[s, j mod dm]: dm = 1 a scalar per mask, dm = H·W a plane
     * shared by the channels, dm = C·H·W a full mask), y (S·N, ...) with row s·N + n.
     * Serves IG's path points, occlusion, RISE and LIME masks, deletion curves.
     */
    void maskedBlend(Tensor x, Tensor b, Tensor m, Tensor y);

    /**
     * Whether this backend evaluates a model's first conv under coalition masks by the conv's
     * linearity ({@link #coalitionConvPrepare}, {@link #coalitionConv}); where it does not, the
     * coalition methods blend their inputs and run the whole model.
     */
    default boolean fusesCoalitionConv() {
        return false;
    }

    /**
     * The per-image terms of a conv under coalition masks, whose input is b + m ⊙ (x − b) with m
     * constant over each segment of a label map: for one image x (C,H,W), its baseline b (x's shape;
     * null for zeros) and its labels (H·W, each ≥ 0), {@code bout} (K,OH,OW) = conv(b) + bias and
     * {@code part} (slots,K,OH,OW), where part[t,k,p] is the conv's sum at output position p of
     * w·(x − b) over the taps whose label is {@code segs[t·OH·OW + p]} (−1: none, part 0). Every
     * label under position p's window must be one of its slots. g: the conv (one image, groups 1,
     * dilation 1); w (K,C,R,S), bias (K) or null.
     */
    default void coalitionConvPrepare(Tensor x, Tensor b, int[] labels, Tensor w, Tensor bias, Conv2dGeometry g, int[] segs,
            int slots, Tensor part, Tensor bout) {
        throw new UnsupportedOperationException(name() + " has no coalition conv");
    }

    /**
     * The conv of {@link #coalitionConvPrepare} for {@code count} coalitions, then its activation and
     * max pool: row {@code first + e·step} of y (each row K planes of the pooled size, or of OH×OW
     * without a pool) = pool(act(bout[k,p] + Σ_t design[e·m + segs[t,p]] · part[t,k,p])) for
     * coalition e, with the segments' keep values design (count, m) and each sum one chain in slot
     * order, so a row's bits depend on nothing but its coalition. act: null, RELU or CLIP(lo, hi);
     * pool: null or (kh, kw, sh, sw, padTop, padLeft, outH, outW) of a max pool.
     */
    default void coalitionConv(int[] segs, int slots, Tensor part, Tensor bout, float[] design, int m, int count,
            Activation act, float lo, float hi, int[] pool, Tensor y, long first, long step) {
        throw new UnsupportedOperationException(name() + " has no coalition conv");
    }

    /**
     * Weighted sum along the leading axis: {@code acc += Σ_s w[s] · g[s]}, g viewed as
     * (S, acc.numel()); every element adds its terms in s order, so sums built chunk by
     * chunk are the same bytes as one call.
     */
    void weightedSum(Tensor g, float[] w, Tensor acc);

    /** y (R values) = the reduction of each row of x viewed as (R, L); MAX and MIN ignore NaN. */
    void reduceRows(Reduction op, Tensor x, Tensor y);

    /**
     * The secant backward of a pointwise function over paired rows (DeepLIFT's Rescale rule, as
     * Captum's DeepLift): x, y (the function's output), dy and dx hold the same number 2h of
     * elements, the second half the references of the first, element i paired with h+i. Where
     * {@code |x[i] − x[h+i]| ≥ eps} both halves become {@code dy·(y[i] − y[h+i])/(x[i] − x[h+i])}
     * (the product first, as Captum); elsewhere the function's own gradient: dx as it came when
     * {@code own} is null (the caller ran the op's backward into dx), or Relu's, computed here, when
     * {@code own} is {@link Activation#RELU} (dx need hold nothing on entry). Other kinds are refused.
     */
    void secantBackward(Tensor x, Tensor y, Tensor dy, Tensor dx, float eps, Activation own);

    /**
     * The input half of {@link #secantBackward} for a Relu (own = RELU) when both halves of dy are
     * equal: dy and dx hold the h elements of the input rows; x and y hold those, then the
     * references, as 2h elements in pairs (as there) or compactly, one reference row for every
     * {@code repeat} consecutive input rows (x's first axis counts the input and reference rows;
     * repeat = h / (x.numel() − h)). dx becomes the first half of what secantBackward writes on the
     * paired layout given dy in both halves. Returns 0 only when the reference half would come out
     * equal to dx bit for bit (DeepLIFT's walk over the input rows goes on), else a positive number
     * (the CPU counts the elements with |Δx| < eps whose input and reference lie on either side of 0).
     */
    long secantReluHalf(Tensor x, Tensor y, Tensor dy, Tensor dx, float eps);

    /**
     * LRP's stabilised quotient, as Zennit's stabilizer forms the denominator:
     * {@code y = r / (z + sign(z)·eps)} elementwise with sign(0) = +1 (−0 too), one rounding for
     * the sum and one for the quotient; a NaN z gives NaN. r, z and y hold the same number of
     * elements; y may be r or z.
     */
    void stabilizedDivide(Tensor r, Tensor z, Tensor y, float eps);

    /**
     * LRP's Norm rule through a sum of two tensors of one shape: with {@code s = a + b} and
     * {@code g = r / (s + sign(s)·eps)} (sign(0) = +1), {@code da = g·a} and {@code db = g·b},
     * elementwise, each step one rounding: bit for bit an Add, {@link #stabilizedDivide} and two
     * products, in one pass. a, b, r, da and db hold the same number of elements; da or db may be
     * null (not wanted), not both; they may not alias a, b or r.
     */
    void normShares(Tensor a, Tensor b, Tensor r, Tensor da, Tensor db, float eps);

    /**
     * Standard normal values: element i of y is element {@code offset + i} of the
     * counter-based Philox4x32-10 stream of {@code seed}, the same numbers on every engine
     * and whatever the split of the work.
     */
    void randomNormal(long seed, long offset, Tensor y);

    /**
     * Row argsort, descending and stable: for x viewed as (R, L), {@code order[r, k]} is the
     * index of the k-th largest element of row r (equal values by ascending index, NaN last),
     * and {@code rank[r, i]} is the position of element i in that order (the inverse
     * permutation). Indices are floats, exact for L ≤ 2^24. The first k entries of a row of
     * {@code order} are its top-k; ranks against a threshold give the masks of deletion,
     * insertion and pixel-flipping curves.
     */
    void argsortRows(Tensor x, Tensor order, Tensor rank);

    // ---- feature visualisation: the transforms' geometry and the optimiser

    /**
     * Per-image crop/pad window: {@code y[n,c,i,j] = x[n,c,i+oy_n,j+ox_n]} where that lies inside x, else
     * {@code fill}; x (N,C,h,w), y (N,C,H,W), {@code offsets} (oy, ox) integers per image (2N values).
     * Negative offsets pad, positive ones crop. Its adjoint is itself with the offsets negated and fill 0.
     */
    void cropPad(Tensor x, int[] offsets, float fill, Tensor y);

    /**
     * y (N,C,H,W): x (N,C,h,w) sampled bilinearly, zeros outside, at the point
     * {@code (sx, sy) = (t0·j + t1·i + t2, t3·j + t4·i + t5)} of output pixel (i, j), pixel centres at
     * integers; {@code theta} holds 6 values per image.
     */
    void affineResampleForward(Tensor x, float[] theta, Tensor y);

    /** dx (N,C,h,w) = the adjoint of {@link #affineResampleForward} applied to dy (N,C,H,W); dx is overwritten. */
    void affineResampleBackward(Tensor dy, float[] theta, Tensor dx);

    /**
     * The orthonormal complex DFT along axis 1 of x (P, H, 2, K), planes of H rows of K complex
     * values stored split (row j of plane p: the real parts x[p, j, 0, :], then the imaginary parts
     * x[p, j, 1, :]): {@code y[p, m] = H^(-1/2) Σ_j x[p, j] e^(±2πi·jm/H)}, with + when
     * {@code inverse} (numpy's ifft with norm="ortho") and − otherwise (its fft), for each column.
     * The two are each other's adjoint (transpose) in this real layout. Feature visualisation's
     * inverse FFT along H, and its backward. y (x's shape) may not overlap x.
     */
    void dftRows(Tensor x, Tensor y, boolean inverse);

    /**
     * One Adam step (as torch.optim.Adam, no weight decay) in place on p, m and v (same numel as g):
     * {@code m = b1·m + (1−b1)·g; v = b2·v + (1−b2)·g²; p −= lr/(1−b1^t) · m / (√v/√(1−b2^t) + eps)}.
     */
    void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, int step);

    /**
     * Lucid's redirected ReLU gradient (lucid/misc/redirected_relu_grad.py) of a Relu with input x
     * (rows along dim 0), from dy into dx (all of x's shape): with relu_grad = dy where x ≥ 0, else 0,
     * a row where some |relu_grad| > 0 gets relu_grad; any other row gets dy, except 0 where x &lt; 0
     * and dy &gt; 0 (a negative input pushed lower). NaN in x counts as negative; a NaN relu_grad does
     * not count as nonzero.
     */
    void redirectedReluBackward(Tensor x, Tensor dy, Tensor dx);
}
