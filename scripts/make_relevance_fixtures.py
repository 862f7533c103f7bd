#!/usr/bin/python3
"""Golden fixtures for salient's relevance methods (LRP), from a float64 PyTorch re-implementation
of Zennit's rules, composites and canonizers (zennit 0.5: rules.py, composites.py, canonizers.py;
see ../shared/PEERS.md section 5). Zennit itself is not needed: each rule is written as Zennit's
BasicHook computes it (input modifiers, parameter modifiers, gradient mapper R / stab(z), reducer),
applied in a custom autograd Function around each layer, and the attribution is the modified
gradient of the output with a one-hot attr_output (relevance 1 at the target).

Canonical form, as Zennit's ResNetCanonizer: every BatchNorm is merged into its conv
(W' = W g/sqrt(v+eps), b' = (b - mu) g/sqrt(v+eps) + beta) and the residual sum is a Sum module with
the Norm rule. Base layer map: ReLU -> Pass, Sum -> Norm, average pooling -> Norm, max pooling,
flatten and concatenation -> plain gradient.

Models: the two method fixture models (resnet, vgg; built by scripts/make_method_fixtures.py with
the same seeds, their model.onnx and input.npy reused) and 'nobias' here: a bias-free network with
a depthwise conv, a Concat, a residual Add, MaxPool, AveragePool and GlobalAveragePool, for the
conservation test.

Writes:
  src/test/resources/fixtures/methods/manifest-relevance.json   lrp cases on resnet and vgg
  src/test/resources/fixtures/methods/<model>/lrp_*.npy
  src/test/resources/fixtures/relevance/nobias/{model.onnx,input.npy,lrp_*.npy}, manifest.json
  src/test/resources/fixtures/relevance/softmax/model.onnx   a Softmax output, which LRP must refuse

Usage: /usr/bin/python3 scripts/make_relevance_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_method_fixtures as mf  # noqa: E402

REPO = mf.REPO
METHODS = os.path.join(REPO, "src/test/resources/fixtures/methods")
RELEVANCE = os.path.join(REPO, "src/test/resources/fixtures/relevance")
EPS = 1e-6
GAMMA = 0.25
LOW = [-2.5, -2.25, -2.0]
HIGH = [2.0, 2.25, 2.5]


# ---------------------------------------------------------------- Zennit's rules (BasicHook form)

def stab(z, eps=EPS):
    """Zennit's Stabilizer: z + eps * sign(z), sign(0) = +1."""
    return z + torch.where(z >= 0, torch.full_like(z, eps), torch.full_like(z, -eps))


def pos(t):
    return None if t is None else t.clamp(min=0)


def neg(t):
    return None if t is None else t.clamp(max=0)


def basic(layer, x, r, in_mods, param_mods, mapper, reducer):
    with torch.enable_grad():
        inputs = [m(x).detach().requires_grad_(True) for m in in_mods]
        outputs = [layer.fwd(i, *pm(layer.weight, layer.bias)) for i, pm in zip(inputs, param_mods)]
        grads = torch.autograd.grad(outputs, inputs, grad_outputs=mapper(r, outputs), allow_unused=True)
    grads = [torch.zeros_like(i) if g is None else g for i, g in zip(inputs, grads)]
    return reducer(inputs, grads)


ident = lambda t: t  # noqa: E731
no_mod = lambda w, b: (w, b)  # noqa: E731


def epsilon(layer, x, r):
    return basic(layer, x, r, [ident], [no_mod], lambda r, o: [r / stab(o[0])], lambda i, g: i[0] * g[0])


def zplus(layer, x, r):
    return basic(layer, x, r, [pos, neg], [lambda w, b: (pos(w), pos(b)), lambda w, b: (neg(w), None)],
                 lambda r, o: [r / stab(o[0] + o[1])] * 2, lambda i, g: i[0] * g[0] + i[1] * g[1])


def alpha_beta(alpha, beta):
    assert alpha - beta == 1

    def rule(layer, x, r):
        return basic(layer, x, r, [pos, neg, pos, neg],
                     [lambda w, b: (pos(w), pos(b)), lambda w, b: (neg(w), None),
                      lambda w, b: (neg(w), neg(b)), lambda w, b: (pos(w), None)],
                     lambda r, o: [r / stab(o[0] + o[1])] * 2 + [r / stab(o[2] + o[3])] * 2,
                     lambda i, g: alpha * (i[0] * g[0] + i[1] * g[1]) - beta * (i[2] * g[2] + i[3] * g[3]))
    return rule


def gamma_rule(gamma):
    def gp(t):
        return None if t is None else t + gamma * t.clamp(min=0)

    def gn(t):
        return None if t is None else t + gamma * t.clamp(max=0)

    def rule(layer, x, r):
        return basic(layer, x, r, [pos, neg, pos, neg, ident],
                     [lambda w, b: (gp(w), gp(b)), lambda w, b: (gn(w), None),
                      lambda w, b: (gn(w), gn(b)), lambda w, b: (gp(w), None), no_mod],
                     lambda r, o: [r * (o[4] > 0) / stab(o[0] + o[1])] * 2 + [r * (o[4] < 0) / stab(o[2] + o[3])] * 2
                     + [torch.zeros_like(r)],
                     lambda i, g: i[0] * g[0] + i[1] * g[1] + i[2] * g[2] + i[3] * g[3])
    return rule


def flat(layer, x, r):
    return basic(layer, x, r, [torch.ones_like], [lambda w, b: (torch.ones_like(w), None)],
                 lambda r, o: [r / stab(o[0])], lambda i, g: g[0])


def wsquare(layer, x, r):
    # Zennit's WSquare modifies every parameter (ParamMod with param_keys=None): the bias is squared too
    return basic(layer, x, r, [torch.ones_like], [lambda w, b: (w * w, None if b is None else b * b)],
                 lambda r, o: [r / stab(o[0])], lambda i, g: g[0])


def zbox(low, high):
    def rule(layer, x, r):
        lo = torch.tensor(low, dtype=x.dtype)[None, :, None, None].expand_as(x)
        hi = torch.tensor(high, dtype=x.dtype)[None, :, None, None].expand_as(x)
        return basic(layer, x, r, [ident, lambda t: lo, lambda t: hi],
                     [no_mod, lambda w, b: (pos(w), pos(b)), lambda w, b: (neg(w), neg(b))],
                     lambda r, o: [r / stab(o[0] - o[1] - o[2])] * 3,
                     lambda i, g: i[0] * g[0] - i[1] * g[1] - i[2] * g[2])
    return rule


class RuleFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, layer, rule):
        ctx.layer, ctx.rule = layer, rule
        ctx.save_for_backward(x)
        return layer.fwd(x, layer.weight, layer.bias)

    @staticmethod
    def backward(ctx, r):
        (x,) = ctx.saved_tensors
        return ctx.rule(ctx.layer, x, r), None, None


class PassFn(torch.autograd.Function):
    """Zennit's Pass on a ReLU: relevance through unchanged."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, r):
        return r


class NormSumFn(torch.autograd.Function):
    """Zennit's Sum module (ResNetCanonizer) with the Norm rule: R_k = x_k R / stab(sum)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a + b

    @staticmethod
    def backward(ctx, r):
        a, b = ctx.saved_tensors
        g = r / stab(a + b)
        return a * g, b * g


class NormPoolFn(torch.autograd.Function):
    """Norm on an average pooling: R_in = x * pool^T(R / stab(pool(x)))."""

    @staticmethod
    def forward(ctx, x, pool):
        ctx.pool = pool
        ctx.save_for_backward(x)
        return pool(x)

    @staticmethod
    def backward(ctx, r):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xi = x.detach().requires_grad_(True)
            y = ctx.pool(xi)
            (g,) = torch.autograd.grad(y, xi, grad_outputs=r / stab(y))
        return x * g, None


class Lin:
    """A linear layer in canonical form (BN merged): conv or dense."""

    def __init__(self, weight, bias, conv=None):
        self.weight, self.bias, self.conv = weight, bias, conv

    def fwd(self, x, w, b):
        if self.conv is None:
            return F.linear(x, w, b)
        return F.conv2d(x, w, b, stride=self.conv.stride, padding=self.conv.padding, groups=self.conv.groups)

    @property
    def is_conv(self):
        return self.conv is not None


def merge(conv, bn):
    """Zennit's merge_batch_norm: W' = W g/sqrt(v+eps), b' = (b - mu) g/sqrt(v+eps) + beta."""
    w, b = conv.weight.detach(), conv.bias.detach() if conv.bias is not None else None
    if bn is None:
        return Lin(w, b, conv if isinstance(conv, nn.Conv2d) else None)
    s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    b0 = torch.zeros_like(bn.running_mean) if b is None else b
    return Lin(w * s[:, None, None, None], (b0 - bn.running_mean) * s + bn.bias.detach(), conv)


# ---------------------------------------------------------------- composites

def composite_rules(name, low=None, high=None):
    """(first-layer rule or None, first-layer kinds, conv rule, dense rule), Zennit's composites;
    'epsilon-plus+wsquare-first' is EpsilonPlus with W^2 on the first conv (a user layer map)."""
    if name == "epsilon-plus+wsquare-first":
        return wsquare, "conv", zplus, epsilon
    conv = {"epsilon-plus": zplus, "epsilon-plus-flat": zplus, "epsilon-gamma-box": gamma_rule(GAMMA),
            "epsilon-alpha2-beta1": alpha_beta(2.0, 1.0), "epsilon-alpha2-beta1-flat": alpha_beta(2.0, 1.0),
            "epsilon": epsilon}[name]
    first = {"epsilon-plus-flat": (flat, "linear"), "epsilon-alpha2-beta1-flat": (flat, "linear"),
             "epsilon-gamma-box": (zbox(low, high), "conv")}.get(name, (None, None))
    return first[0], first[1], conv, epsilon


class LrpNet:
    """A model as an ordered list of canonical layers and a forward that applies the composite."""

    def __init__(self, model, composite, low=None, high=None):
        self.model = model
        self.first_rule, self.first_kind, self.conv_rule, self.dense_rule = composite_rules(composite, low, high)
        self.first_done = False

    def lin(self, layer, x):
        rule = self.conv_rule if layer.is_conv else self.dense_rule
        if self.first_rule is not None and not self.first_done and (self.first_kind == "linear" or layer.is_conv):
            rule, self.first_done = self.first_rule, True
        return RuleFn.apply(x, layer, rule)


def relu(x):
    return PassFn.apply(x)


def forward_resnet(m, net, x):
    y = relu(net.lin(merge(m.stem[0], m.stem[1]), x))
    for blk in (m.block1, m.block2):
        z = relu(net.lin(merge(blk.conv1, blk.bn1), y))
        z = net.lin(merge(blk.conv2, blk.bn2), z)
        idt = y if blk.down is None else net.lin(merge(blk.down[0], blk.down[1]), y)
        y = relu(NormSumFn.apply(z, idt))
    y = NormPoolFn.apply(y, m.pool).flatten(1)
    return net.lin(merge(m.fc, None), y)


def forward_vgg(m, net, x):
    b1 = m.block1
    y = relu(net.lin(merge(b1[0], None), x))
    y = F.max_pool2d(relu(net.lin(merge(b1[2], None), y)), 2)
    y = relu(net.lin(merge(m.block2[0], None), y))
    y = F.max_pool2d(y, 2).flatten(1)
    cl = m.classifier
    y = relu(net.lin(merge(cl[1], None), y))
    return net.lin(merge(cl[3], None), y)


class NoBiasNet(nn.Module):
    """conv3x3(3->8) ReLU; [identity, depthwise conv3x3(8) ReLU] Concat -> 16; conv1x1(16->16) + the
    Concat (residual Add) ReLU; MaxPool2; AveragePool2; conv3x3(16->16) ReLU; GAP; conv1x1(16->10); Flatten.
    No biases anywhere: LRP-epsilon conserves relevance on it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.pw = nn.Conv2d(16, 16, 1, bias=False)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.fc = nn.Conv2d(16, mf.CLASSES, 1, bias=False)   # a bias-free nn.Linear exports as Transpose+MatMul

    def forward(self, x):
        a = F.relu(self.conv1(x))
        c = torch.cat([a, F.relu(self.dw(a))], 1)
        y = F.relu(self.pw(c) + c)
        y = F.avg_pool2d(F.max_pool2d(y, 2), 2)
        y = F.relu(self.conv2(y))
        return self.fc(F.adaptive_avg_pool2d(y, 1)).flatten(1)


def forward_nobias(m, net, x):
    a = relu(net.lin(merge(m.conv1, None), x))
    c = torch.cat([a, relu(net.lin(merge(m.dw, None), a))], 1)
    y = relu(NormSumFn.apply(net.lin(merge(m.pw, None), c), c))
    y = NormPoolFn.apply(F.max_pool2d(y, 2), lambda t: F.avg_pool2d(t, 2))
    y = relu(net.lin(merge(m.conv2, None), y))
    y = NormPoolFn.apply(y, lambda t: F.adaptive_avg_pool2d(t, 1))
    return net.lin(merge(m.fc, None), y).flatten(1)


FORWARD = {"resnet": forward_resnet, "vgg": forward_vgg, "nobias": forward_nobias}


def lrp(name, model, x, targets, composite, low=None, high=None):
    """Relevance at the input from relevance 1 at each row's target (Zennit's one-hot attr_output)."""
    net = LrpNet(model, composite, low, high)
    xi = x.detach().clone().requires_grad_(True)
    y = FORWARD[name](model, net, xi)
    onehot = torch.zeros_like(y)
    onehot[torch.arange(len(targets)), targets] = 1
    (r,) = torch.autograd.grad(y, xi, grad_outputs=onehot)
    return r.detach(), y.detach()



# ---------------------------------------------------------------- DeepLIFT (Captum's DeepLift, Rescale rule)

DL_EPS = 1e-10
_relu, _max_pool2d = F.relu, F.max_pool2d


class RescaleFn(torch.autograd.Function):
    """Captum's `nonlinear` hook on a batch [inputs; references]: g * dy/dx where |dx| >= 1e-10, else the
    gradient (deep_lift.py, nonlinear)."""

    @staticmethod
    def forward(ctx, x, f):
        y = f(x)
        ctx.f = f
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        with torch.enable_grad():
            xi = x.detach().requires_grad_(True)
            (plain,) = torch.autograd.grad(ctx.f(xi), xi, g)
        xa, xr = x.chunk(2)
        ya, yr = y.chunk(2)
        dx, dy = torch.cat(2 * [xa - xr]), torch.cat(2 * [ya - yr])
        return torch.where(dx.abs() < DL_EPS, plain, g * dy / dx), None


class MaxPoolRescaleFn(torch.autograd.Function):
    """Captum's `maxpool` hook: the cross maximum of the two halves' outputs, unpooled with each row's own
    indices (max_unpool2d), both halves summed, divided by dx; the gradient where |dx| < 1e-10."""

    @staticmethod
    def forward(ctx, x, k, s, p):
        y, idx = _max_pool2d(x, k, s, p, return_indices=True)
        ctx.k, ctx.s, ctx.p = k, s, p
        ctx.save_for_backward(x, y, idx)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y, idx = ctx.saved_tensors
        xa, xr = x.chunk(2)
        o, orf = y.chunk(2)
        dx = torch.cat(2 * [xa - xr])
        m = torch.max(o, orf)
        dout = torch.cat([m - orf, o - m])
        unpool = lambda t: F.max_unpool2d(t, idx, ctx.k, ctx.s, ctx.p, output_size=x.shape[-2:])  # noqa: E731
        ua, ur = unpool(g * dout).chunk(2)
        return torch.where(dx.abs() < DL_EPS, unpool(g), torch.cat(2 * [ua + ur]) / dx), None, None, None


def rescale_relu(x, inplace=False):
    return RescaleFn.apply(x, _relu)


def rescale_max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    assert dilation in (1, (1, 1)) and not ceil_mode and not return_indices
    return MaxPoolRescaleFn.apply(x, kernel_size, kernel_size if stride is None else stride, padding)


class Rescale:
    """Every ReLU and max pooling of the model takes the Rescale rule, whether a module (reused or not) or
    functional: F.relu and F.max_pool2d are swapped while the context is open."""

    def __enter__(self):
        F.relu, F.max_pool2d = rescale_relu, rescale_max_pool2d

    def __exit__(self, *a):
        F.relu, F.max_pool2d = _relu, _max_pool2d


def deeplift(model, x, base, targets):
    """Captum's DeepLift: one batch [x; x'], the target on both halves, attr = (x - x') * multipliers."""
    with Rescale():
        xx = torch.cat([x, base]).detach().requires_grad_(True)
        y = model(xx)
        (g,) = torch.autograd.grad(y.gather(1, torch.cat([targets, targets])[:, None]).sum(), xx)
    return (x - base) * g[:len(x)]


def deeplift_shap(model, x, baselines, targets):
    """Captum's DeepLiftShap: every input against every baseline (repeat_interleave / repeat), the mean."""
    n, m = len(x), len(baselines)
    attr = deeplift(model, x.repeat_interleave(m, 0), baselines.repeat(n, 1, 1, 1), targets.repeat_interleave(m))
    return attr.view(n, m, *x.shape[1:]).mean(1)


def deeplift_cases(name, model64, model32, x32, top1, given, root, rel_prefix, repo_prefix, failures):
    """deeplift against zeros (top1) and the per-image user baseline (given), deepliftshap against the
    user baselines as a distribution of M images (top1); summation to delta checked in float64."""
    x = x32.double()
    user32 = torch.from_numpy(np.load(os.path.join(root, "baseline_user.npy")))
    user = user32.double()
    cases = []
    with torch.no_grad():
        fx = model64(x)
    runs = [("deeplift_zeros_top1", "deeplift", top1, {"rule": "top1"}, {"--baseline": "zeros"}, torch.zeros_like(x)),
            ("deeplift_npy_given", "deeplift", given, {"rule": "given", "classes": given.tolist()},
             {"--baseline": repo_prefix + "baseline_user.npy"}, user),
            ("deepliftshap_top1", "deepliftshap", top1, {"rule": "top1"}, {"--baselines": repo_prefix + "baseline_user.npy"},
             None)]
    for cid, method, t, target, cli, base in runs:
        if method == "deeplift":
            r = deeplift(model64, x, base, t)
            r32 = deeplift(model32, x32, base.float(), t)
            with torch.no_grad():
                fb = model64(base).gather(1, t[:, None])[:, 0]
        else:
            r = deeplift_shap(model64, x, user, t)
            r32 = deeplift_shap(model32, x32, user32, t)
            with torch.no_grad():
                fb = model64(user)[:, t].mean(0)
        want = fx.gather(1, t[:, None])[:, 0] - fb
        gap = (r.flatten(1).sum(1) - want).abs().max().item()
        if gap > 1e-8 * (1 + fx.abs().max().item()):
            failures.append(f"{name} {cid}: summation to delta off by {gap:.2e}")
        scale = r.abs().max().item()
        err32 = (r32.double() - r).abs().max().item() / scale
        fn = f"{cid}.npy"
        np.save(os.path.join(root, fn), r.numpy().astype(np.float32))
        cases.append({"id": f"{name}/{cid}", "method": method, "options": {k.lstrip("-"): v for k, v in cli.items()},
                      "cli": cli, "target": target, "targets": t.tolist(), "output": rel_prefix + fn,
                      "shape": list(r.shape), "sum_minus_delta": gap, "ref_max_abs": scale,
                      "float32_torch_rel_err": err32})
        print(f"  {name} {cid:34s} |sum - delta| {gap:.1e}  float32 torch rel err {err32:.1e}")
    return cases

# ---------------------------------------------------------------- fixture writing

COMPOSITES = ["epsilon-plus", "epsilon-plus-flat", "epsilon-gamma-box", "epsilon-alpha2-beta1",
              "epsilon-alpha2-beta1-flat", "epsilon"]


def cli_options(comp, scale=None):
    o = {"--composite": comp}
    if comp == "epsilon-gamma-box":
        o["--low"] = ",".join(str(v) for v in LOW)
        o["--high"] = ",".join(str(v) for v in HIGH)
    if scale:
        o["--lrp-scale"] = scale
    return o


def cases_for(name, model64, model32, x32, targets, given, root, rel_prefix, failures):
    x = x32.double()
    cases = []
    with torch.no_grad():
        logits = model64(x)
    for comp in COMPOSITES:
        for rule, t in (("top1", targets), ("given", given)) if comp == "epsilon-plus" else (("top1", targets),):
            low, high = (LOW, HIGH) if comp == "epsilon-gamma-box" else (None, None)
            r, y = lrp(name, model64, x, t, comp, low, high)
            err_fwd = (y - logits).abs().max().item()
            if err_fwd > 1e-9:
                failures.append(f"{name}: canonical forward differs from the model by {err_fwd:.2e}")
            r32, _ = lrp(name, model32, x32, t, comp, low, high)
            scale = r.abs().max().item()
            err32 = (r32.double() - r).abs().max().item() / scale
            cid = f"lrp_{comp}_{rule}"
            fn = f"{cid}.npy"
            np.save(os.path.join(root, fn), r.numpy().astype(np.float32))
            sums = r.flatten(1).sum(1)
            case = {"id": f"{name}/{cid}", "method": "lrp", "options": {"composite": comp}, "cli": cli_options(comp),
                    "target": {"rule": "top1"} if rule == "top1" else {"rule": "given", "classes": given.tolist()},
                    "targets": t.tolist(), "output": rel_prefix + fn, "shape": list(r.shape),
                    "relevance_sums": sums.tolist(), "ref_max_abs": scale, "float32_torch_rel_err": err32}
            cases.append(case)
            print(f"  {name} {cid:34s} sums {', '.join(f'{v:+.4f}' for v in sums.tolist())}  "
                  f"float32 torch rel err {err32:.1e}")
    # Captum's scale: relevance times the logit
    r, y = lrp(name, model64, x, targets, "epsilon-plus")
    r = r * y.gather(1, targets[:, None])[:, :, None, None]
    fn = "lrp_epsilon-plus_logit_top1.npy"
    np.save(os.path.join(root, fn), r.numpy().astype(np.float32))
    cases.append({"id": f"{name}/lrp_epsilon-plus_logit_top1", "method": "lrp",
                  "options": {"composite": "epsilon-plus", "lrp_scale": "logit"},
                  "cli": cli_options("epsilon-plus", "logit"), "target": {"rule": "top1"}, "targets": targets.tolist(),
                  "output": rel_prefix + fn, "shape": list(r.shape)})
    return cases


# ---------------------------------------------------------------- GradientSHAP (Captum's GradientShap, salient's draws)

M64 = (1 << 64) - 1
GS_SAMPLES, GS_SEED = 4, 7


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def gs_draw(seed, image, sample, m):
    """salient's seeded draw of (image, sample): SplitMix64 of seed ^ image*C1 ^ sample*C2 (GradientShap.draw)."""
    key = (seed ^ ((image * 0xD1B54A32D192ED03) & M64) ^ ((sample * 0x9E3779B97F4A7C15) & M64)) & M64
    u1 = (mix64((key + 0x9E3779B97F4A7C15) & M64) >> 11) * 2.0 ** -53
    u2 = (mix64((key + 2 * 0x9E3779B97F4A7C15) & M64) >> 11) * 2.0 ** -53
    return min(m - 1, int(u1 * m)), float(np.float32(u2))


def gradient_shap(model, x, baselines, targets, samples, seed):
    """Captum's GradientShap (stdevs=0): mean over samples of (x - b) * grad f(b + a (x - b))."""
    total = torch.zeros_like(x)
    for s in range(samples):
        idx, alpha = zip(*(gs_draw(seed, i, s, len(baselines)) for i in range(len(x))))
        b = baselines[list(idx)]
        a = torch.tensor(alpha, dtype=x.dtype)[:, None, None, None]
        total += (x - b) * mf.grad_wrt_input(model, b + a * (x - b), targets)
    return total / samples


def gradientshap_cases(name, model64, model32, x32, top1, root, rel_prefix, repo_prefix):
    user32 = torch.from_numpy(np.load(os.path.join(root, "baseline_user.npy")))
    r = gradient_shap(model64, x32.double(), user32.double(), top1, GS_SAMPLES, GS_SEED)
    r32 = gradient_shap(model32, x32, user32, top1, GS_SAMPLES, GS_SEED)
    scale = r.abs().max().item()
    err32 = (r32.double() - r).abs().max().item() / scale
    fn = "gradientshap_top1.npy"
    np.save(os.path.join(root, fn), r.numpy().astype(np.float32))
    cli = {"--baselines": repo_prefix + "baseline_user.npy", "--samples": str(GS_SAMPLES), "--seed": str(GS_SEED)}
    print(f"  {name} gradientshap_top1                  float32 torch rel err {err32:.1e}")
    return [{"id": f"{name}/gradientshap_top1", "method": "gradientshap",
             "options": {"baselines": cli["--baselines"], "samples": GS_SAMPLES, "seed": GS_SEED}, "cli": cli,
             "target": {"rule": "top1"}, "targets": top1.tolist(), "output": rel_prefix + fn, "shape": list(r.shape),
             "ref_max_abs": scale, "float32_torch_rel_err": err32}]


# ---------------------------------------------------------------- layer attributions (Captum's layer methods)

def layer_conductance(model, x, base, targets, steps):
    """Captum's LayerConductance at the CAM layer (model.features): n+1 Gauss-Legendre points
    x_k = x' + a_k (x - x'), sum_{k<n} (h(x_{k+1}) - h(x_k)) * dy_t/dh(x_k)."""
    alphas, _ = mf.ig_alphas_weights("gausslegendre", steps + 1)
    hs, gs = [], []
    for a in alphas:
        h, g = mf.layer_act_grad(model, base + float(a) * (x - base), targets)
        hs.append(h)
        gs.append(g)
    return sum((hs[k + 1] - hs[k]) * gs[k] for k in range(steps))


def layer_cases(name, model64, model32, x32, top1, given, root, rel_prefix, repo_prefix):
    import onnx
    x = x32.double()
    user32 = torch.from_numpy(np.load(os.path.join(root, "baseline_user.npy")))
    cases = []
    layer, _ = mf.cam_tensor_name(onnx.load(os.path.join(root, "model.onnx")).graph, name)
    runs = [("layergradxact_top1", "layergradxact", top1, {"rule": "top1"}, {"--layer": "auto"}),
            ("layergradxact_given", "layergradxact", given, {"rule": "given", "classes": given.tolist()}, {"--layer": "auto"}),
            ("layerconductance_top1", "layerconductance", top1, {"rule": "top1"}, {"--layer": "auto"}),
            ("layerconductance_npy_8_given", "layerconductance", given, {"rule": "given", "classes": given.tolist()},
             {"--layer": "auto", "--steps": "8", "--baseline": repo_prefix + "baseline_user.npy"})]
    runs = [(cid, method, t, target, {**cli, "--layer": layer}) for cid, method, t, target, cli in runs]
    for cid, method, t, target, cli in runs:
        def run(model, xx, base):
            if method == "layergradxact":
                h, g = mf.layer_act_grad(model, xx, t)
                return h * g
            return layer_conductance(model, xx, base, t, int(cli.get("--steps", 50)))
        base = user32 if "--baseline" in cli else torch.zeros_like(x32)
        r = run(model64, x, base.double())
        r32 = run(model32, x32, base)
        scale = r.abs().max().item()
        err32 = (r32.double() - r).abs().max().item() / scale
        fn = f"{cid}.npy"
        np.save(os.path.join(root, fn), r.numpy().astype(np.float32))
        cases.append({"id": f"{name}/{cid}", "method": method, "options": {k.lstrip("-"): v for k, v in cli.items()},
                      "cli": cli, "target": target, "targets": t.tolist(), "output": rel_prefix + fn,
                      "shape": list(r.shape), "ref_max_abs": scale, "float32_torch_rel_err": err32})
        print(f"  {name} {cid:34s} float32 torch rel err {err32:.1e}")
    return cases


def wsquare_case(model64, x32, top1, failures):
    """A user rule map over EpsilonPlus on vgg: W^2 on the first conv, whose bias Zennit squares too."""
    import onnx
    root = os.path.join(METHODS, "vgg")
    first = [n.name for n in onnx.load(os.path.join(root, "model.onnx")).graph.node if n.op_type == "Conv"][0]
    with open(os.path.join(root, "rulemap_wsquare.json"), "w") as f:
        json.dump({first: "wsquare"}, f)
        f.write("\n")
    r, _ = lrp("vgg", model64, x32.double(), top1, "epsilon-plus+wsquare-first")
    np.save(os.path.join(root, "lrp_rulemap_wsquare_top1.npy"), r.numpy().astype(np.float32))
    print(f"  vgg rule map {{{first!r}: 'wsquare'}} over epsilon-plus")
    return {"id": "vgg/lrp_rulemap_wsquare_top1", "method": "lrp",
            "options": {"composite": "epsilon-plus", "rule_map": {first: "wsquare"}},
            "cli": {"--composite": "epsilon-plus",
                    "--rule-map": "src/test/resources/fixtures/methods/vgg/rulemap_wsquare.json"},
            "target": {"rule": "top1"}, "targets": top1.tolist(), "output": "vgg/lrp_rulemap_wsquare_top1.npy",
            "shape": list(r.shape)}


def main():
    torch.set_num_threads(2)
    failures = []
    manifest = {"generator": "scripts/make_relevance_fixtures.py",
                "reference": "float64 re-implementation of Zennit's rules and composites (zennit 0.5) on the canonical "
                             "form (BN merged, residual Sum with Norm), relevance 1 at the target; and of Captum's "
                             "DeepLift and DeepLiftShap (Rescale rule, max-pool rule) on every ReLU and max pooling, and "
                             "GradientShap with salient's seeded draws (GradientShap.draw); Captum's LayerGradientXActivation and "
                             "LayerConductance at the CAM layer",
                "models": {}}
    for name, seed in (("resnet", 11), ("vgg", 23)):
        print(f"== {name}")
        model32 = mf.build(name, seed)
        model64 = mf.build(name, seed).double()
        x32 = torch.from_numpy(np.load(os.path.join(METHODS, name, "input.npy")))
        with torch.no_grad():
            top1 = model64(x32.double()).argmax(1)
        cases = cases_for(name, model64, model32, x32, top1, torch.tensor(mf.GIVEN), os.path.join(METHODS, name),
                          f"{name}/", failures)
        cases += deeplift_cases(name, model64, model32, x32, top1, torch.tensor(mf.GIVEN), os.path.join(METHODS, name),
                                f"{name}/", f"src/test/resources/fixtures/methods/{name}/", failures)
        cases += gradientshap_cases(name, model64, model32, x32, top1, os.path.join(METHODS, name), f"{name}/",
                                    f"src/test/resources/fixtures/methods/{name}/")
        cases += layer_cases(name, model64, model32, x32, top1, torch.tensor(mf.GIVEN), os.path.join(METHODS, name),
                             f"{name}/", f"src/test/resources/fixtures/methods/{name}/")
        if name == "vgg":
            cases.append(wsquare_case(model64, x32, top1, failures))
        manifest["models"][name] = {"model": f"{name}/model.onnx", "input": f"{name}/input.npy", "cases": cases}
    with open(os.path.join(METHODS, "manifest-relevance.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")

    print("== nobias")
    out = os.path.join(RELEVANCE, "nobias")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(5)
    m32 = NoBiasNet().eval()
    for p in m32.parameters():
        nn.init.kaiming_normal_(p, nonlinearity="relu") if p.dim() > 1 else None
    g = torch.Generator().manual_seed(6)
    x32 = torch.randn(2, 3, 16, 16, generator=g)
    mf.export_onnx(m32, x32, os.path.join(out, "model.onnx"))
    np.save(os.path.join(out, "input.npy"), x32.numpy())
    m64 = NoBiasNet().double().eval()
    m64.load_state_dict({k: v.double() for k, v in m32.state_dict().items()})
    with torch.no_grad():
        top1 = m64(x32.double()).argmax(1)
    cases = cases_for("nobias", m64, m32, x32, top1, torch.tensor([3, 8]), out, "nobias/", failures)
    # a user rule map over EpsilonPlus: W^2 on the first conv (ONNX node of conv1)
    import onnx
    first = [n.name for n in onnx.load(os.path.join(out, "model.onnx")).graph.node if n.op_type == "Conv"][0]
    with open(os.path.join(out, "rulemap_wsquare.json"), "w") as f:
        json.dump({first: "wsquare"}, f)
        f.write("\n")
    r, _ = lrp("nobias", m64, x32.double(), top1, "epsilon-plus+wsquare-first")
    np.save(os.path.join(out, "lrp_rulemap_wsquare_top1.npy"), r.numpy().astype(np.float32))
    cases.append({"id": "nobias/lrp_rulemap_wsquare_top1", "method": "lrp",
                  "options": {"composite": "epsilon-plus", "rule_map": {first: "wsquare"}},
                  "cli": {"--composite": "epsilon-plus",
                          "--rule-map": "src/test/resources/fixtures/relevance/nobias/rulemap_wsquare.json"},
                  "target": {"rule": "top1"}, "targets": top1.tolist(), "output": "nobias/lrp_rulemap_wsquare_top1.npy",
                  "shape": list(r.shape)})
    print(f"  nobias rule map {{{first!r}: 'wsquare'}} over epsilon-plus: sums "
          f"{', '.join(f'{v:+.4f}' for v in r.flatten(1).sum(1).tolist())}")
    for c in cases:
        if c["options"]["composite"] == "epsilon" and "relevance_sums" in c:
            worst = max(abs(s - 1) for s in c["relevance_sums"])
            print(f"  nobias epsilon conservation: max |sum R - 1| = {worst:.2e}")
            if worst > 1e-3:
                failures.append(f"nobias epsilon does not conserve: {worst}")
    # an op LRP has no rule for (Softmax on the logits): the method must refuse it by name
    sm = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Softmax(dim=1)).eval()
    os.makedirs(os.path.join(RELEVANCE, "softmax"), exist_ok=True)
    mf.export_onnx(sm, x32, os.path.join(RELEVANCE, "softmax", "model.onnx"))
    with open(os.path.join(RELEVANCE, "manifest.json"), "w") as f:
        json.dump({"generator": "scripts/make_relevance_fixtures.py", "models": {
            "nobias": {"model": "nobias/model.onnx", "input": "nobias/input.npy", "cases": cases}}}, f, indent=1)
        f.write("\n")
    if failures:
        print("FAILED:", *failures, sep="\n  ")
        sys.exit(1)
    print("all self-checks passed")


if __name__ == "__main__":
    main()
