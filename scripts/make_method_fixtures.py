#!/usr/bin/python3
"""Golden fixtures for salient's attribution methods, computed in PyTorch from the definitions
of DESIGN.md (Captum / pytorch-grad-cam semantics, implemented here in plain torch).

Two small seeded models of different architectures:
  resnet: conv stem, two residual BasicBlocks with BatchNorm (non-trivial running stats) and
          residual Add, GlobalAveragePool, Gemm
  vgg:    conv-relu-maxpool stacks, Flatten, Linear-ReLU-Linear
Input (3,3,32,32): seeded normal noise plus a per-image colour offset, with the seed chosen so the
three images have different top-1 classes; 10 classes. Given targets [3, 8, 0] differ from top-1.

Writes src/test/resources/fixtures/methods/:
  manifest.json                    every case: method, options, target rule, resolved targets, files
  <model>/model.onnx               opset 13, eval, dynamic batch ("input" -> "logits")
  <model>/input.npy, logits.npy    the batch and its reference logits
  <model>/baseline_user.npy        the user baseline of the IG "npy" case
  <model>/noise.npy                (S,N,C,H,W) noise used by smoothgrad and vargrad
  <model>/<case>.npy               reference outputs (float32); IG cases also <case>_delta.npy

All references are computed in float64 from the float32 weights and float32 inputs, then stored
as float32. The script checks its own definitions (finite differences, IG completeness, CAM
identities) and the exported ONNX against a small numpy interpreter, and prints a summary.

Usage: /usr/bin/python3 scripts/make_method_fixtures.py [--out DIR]
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N, C, H, W, CLASSES = 3, 3, 32, 32, 10
GIVEN = [3, 8, 0]            # per-image class indices of the "given" target cases
IG_STEPS = 16
SG_SAMPLES, SG_NOISE_LEVEL = 4, 0.15
CONST_BASELINE = 0.5


# ---------------------------------------------------------------- ReLU with swappable backward

class _GuidedRelu(torch.autograd.Function):
    """Captum GuidedBackprop: grad_in = relu(grad_out) * (x > 0)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.clamp_min(0) * (x > 0).to(g.dtype)


class Relu(nn.Module):
    guided = False   # switched on for guided backprop (applies to every ReLU of the model)

    def forward(self, x):
        return _GuidedRelu.apply(x) if Relu.guided else F.relu(x)


# ---------------------------------------------------------------- models

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = Relu()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = Relu()
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu2(y + (x if self.down is None else self.down(x)))


class SmallResNet(nn.Module):
    """stem conv3x3(3->16)+BN+ReLU, BasicBlock(16->16), BasicBlock(16->32, stride 2), GAP, Gemm.
    CAM layer: output of the last block's ReLU (32,16,16), the input of GlobalAveragePool."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), Relu())
        self.block1 = BasicBlock(16, 16, 1)
        self.block2 = BasicBlock(16, 32, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(32, CLASSES)

    def features(self, x):          # x -> CAM layer activation A
        return self.block2(self.block1(self.stem(x)))

    def head(self, a):              # A -> logits
        return self.fc(self.flatten(self.pool(a)))

    def forward(self, x):
        return self.head(self.features(x))


class SmallVgg(nn.Module):
    """[conv3x3(3->16) ReLU conv3x3(16->16) ReLU MaxPool2] [conv3x3(16->32) ReLU MaxPool2]
    Flatten Linear(2048->64) ReLU Linear(64->10).
    CAM layer: output of the last ReLU before the final MaxPool (32,16,16)."""

    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), Relu(),
                                    nn.Conv2d(16, 16, 3, padding=1), Relu(), nn.MaxPool2d(2))
        self.block2 = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), Relu())
        self.pool = nn.MaxPool2d(2)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 8 * 8, 64), Relu(), nn.Linear(64, CLASSES))

    def features(self, x):
        return self.block2(self.block1(x))

    def head(self, a):
        return self.classifier(self.pool(a))

    def forward(self, x):
        return self.head(self.features(x))


def build(name, seed):
    torch.manual_seed(seed)
    model = SmallResNet() if name == "resnet" else SmallVgg()
    g = torch.Generator().manual_seed(seed + 1)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):   # He init keeps logits O(1) (default init shrinks them)
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                m.bias.data = 0.1 * torch.randn(m.bias.shape, generator=g)
        if isinstance(m, nn.BatchNorm2d):   # non-trivial affine and running statistics
            k = m.num_features
            m.weight.data = 0.5 + torch.rand(k, generator=g)
            m.bias.data = 0.2 * torch.randn(k, generator=g)
            m.running_mean.data = 0.3 * torch.randn(k, generator=g)
            m.running_var.data = 0.5 + 1.5 * torch.rand(k, generator=g)
    return model.eval()


# ---------------------------------------------------------------- ONNX export and a numpy check

def export_onnx(model, x, path):
    torch.onnx.export(model, x, path, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return m


def cam_tensor_name(graph, name):
    """resnet: the input of GlobalAveragePool; vgg: the input of the last MaxPool (a Relu output)."""
    nodes = list(graph.node)
    producer = {o: n for n in nodes for o in n.output}
    if name == "resnet":
        pool = [n for n in nodes if n.op_type == "GlobalAveragePool"][-1]
    else:
        pool = [n for n in nodes if n.op_type == "MaxPool"][-1]
    t = pool.input[0]
    assert producer[t].op_type == "Relu", producer[t].op_type
    return t, producer[t].name


def _conv_np(x, w, b, strides, pads, dil, group):
    n, c, h, wd = x.shape
    k, _, kh, kw = w.shape
    assert group == 1 and dil == [1, 1]
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (xp.shape[2] - kh) // strides[0] + 1
    ow = (xp.shape[3] - kw) // strides[1] + 1
    out = np.zeros((n, k, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + strides[0] * oh:strides[0], j:j + strides[1] * ow:strides[1]]
            out += np.einsum("nchw,kc->nkhw", patch, w[:, :, i, j])
    return out if b is None else out + b[None, :, None, None]


def run_onnx_numpy(model, x):
    """A minimal float64 interpreter for the ops these fixtures use, to check the export."""
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    env[model.graph.input[0].name] = x.astype(np.float64)
    for node in model.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Conv":
            y = _conv_np(ins[0], ins[1], ins[2] if len(ins) > 2 else None, list(a.get("strides", [1, 1])),
                         list(a.get("pads", [0, 0, 0, 0])), list(a.get("dilations", [1, 1])), a.get("group", 1))
        elif op == "BatchNormalization":
            s, bb, mu, var = (v[None, :, None, None] for v in ins[1:5])
            y = (ins[0] - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * s + bb
        elif op == "Relu":
            y = np.maximum(ins[0], 0)
        elif op == "Add":
            y = ins[0] + ins[1]
        elif op == "MaxPool":
            k, st = a["kernel_shape"], a.get("strides", a["kernel_shape"])
            assert k == [2, 2] and st == [2, 2] and not any(a.get("pads", [0]))
            n, c, h, w = ins[0].shape
            y = ins[0].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
        elif op == "GlobalAveragePool":
            y = ins[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif op == "Gemm":
            A, B = ins[0], ins[1]
            A = A.T if a.get("transA", 0) else A
            B = B.T if a.get("transB", 0) else B
            y = a.get("alpha", 1.0) * A @ B + (a.get("beta", 1.0) * ins[2] if len(ins) > 2 else 0)
        else:
            raise RuntimeError(f"numpy check: op {op} not handled")
        env[node.output[0]] = y
    return env[model.graph.output[0].name]


# ---------------------------------------------------------------- method definitions

def grad_wrt_input(model, x, targets):
    """dy_t/dx for each image (targets: LongTensor (N,)); the target is the raw logit."""
    x = x.detach().clone().requires_grad_(True)
    y = model(x)
    sel = y.gather(1, targets[:, None]).sum()
    (g,) = torch.autograd.grad(sel, x)
    return g


def logits_of(model, x):
    with torch.no_grad():
        return model(x)


def ig_alphas_weights(rule, n):
    if rule == "gausslegendre":
        p, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (p + 1), 0.5 * w
    if rule == "riemann_left":
        return np.linspace(0, 1 - 1 / n, n), np.full(n, 1 / n)
    if rule == "riemann_right":
        return np.linspace(1 / n, 1, n), np.full(n, 1 / n)
    if rule == "riemann_middle":
        return np.linspace(1 / (2 * n), 1 - 1 / (2 * n), n), np.full(n, 1 / n)
    if rule == "riemann_trapezoid":
        w = np.full(n, 1 / n)
        w[0] /= 2
        w[-1] /= 2
        return np.linspace(0, 1, n), w
    raise ValueError(rule)


def integrated_gradients(model, x, baseline, targets, rule, n):
    alphas, weights = ig_alphas_weights(rule, n)
    total = torch.zeros_like(x)
    for a, w in zip(alphas, weights):
        total += float(w) * grad_wrt_input(model, baseline + float(a) * (x - baseline), targets)
    attr = (x - baseline) * total
    fx = logits_of(model, x).gather(1, targets[:, None])[:, 0]
    fb = logits_of(model, baseline).gather(1, targets[:, None])[:, 0]
    delta = attr.flatten(1).sum(1) - (fx - fb)
    return attr, delta, alphas, weights


def layer_act_grad(model, x, targets):
    """A = CAM layer activation (N,K,h,w) and G = dy_t/dA."""
    a = model.features(x).detach().requires_grad_(True)
    y = model.head(a)
    (g,) = torch.autograd.grad(y.gather(1, targets[:, None]).sum(), a)
    return a.detach(), g


def cam_raw(method, A, G):
    """Channel-weighted map (N,h,w) before ReLU, per pytorch-grad-cam."""
    if method == "gradcam":
        w = G.mean(dim=(2, 3))
    elif method == "gradcam++":
        # Equation 19 in arXiv:1710.11063, as pytorch-grad-cam computes it
        g2 = G ** 2
        g3 = g2 * G
        s = A.sum(dim=(2, 3))[:, :, None, None]
        aij = g2 / (2 * g2 + s * g3 + 1e-6)
        aij = torch.where(G != 0, aij, torch.zeros_like(aij))
        w = (G.clamp_min(0) * aij).sum(dim=(2, 3))
    elif method == "xgradcam":
        s = A.sum(dim=(2, 3))[:, :, None, None]
        w = (G * A / (s + 1e-7)).sum(dim=(2, 3))
    elif method == "layercam":
        return (G.clamp_min(0) * A).sum(dim=1)
    elif method == "hirescam":
        return (G * A).sum(dim=1)
    else:
        raise ValueError(method)
    return (w[:, :, None, None] * A).sum(dim=1)


def minmax(cam):
    """Per image: cam - min, then / (1e-7 + max)."""
    flat = cam.flatten(1)
    flat = flat - flat.min(dim=1, keepdim=True).values
    flat = flat / (1e-7 + flat.max(dim=1, keepdim=True).values)
    return flat.view_as(cam)


def cam_postprocess(raw, size):
    cam = minmax(raw.clamp_min(0))
    cam = F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return minmax(cam.clamp_min(0))


def cam_method(model, x, targets, method):
    A, G = layer_act_grad(model, x, targets)
    raw = cam_raw(method, A, G)
    return cam_postprocess(raw, x.shape[2:]), raw


def guided_backprop(model, x, targets):
    Relu.guided = True
    try:
        return grad_wrt_input(model, x, targets)
    finally:
        Relu.guided = False


def guided_gradcam(model, x, targets):
    """Captum GuidedGradCam: guided backprop * nearest-upsampled raw Grad-CAM (ReLU, not normalised)."""
    A, G = layer_act_grad(model, x, targets)
    cam = cam_raw("gradcam", A, G).clamp_min(0)[:, None]
    up = F.interpolate(cam, size=x.shape[2:], mode="nearest")
    return guided_backprop(model, x, targets) * up


# ---------------------------------------------------------------- fixture writing

class Writer:
    def __init__(self, root, model_name):
        self.root, self.model_name = root, model_name
        self.bytes = 0

    def save(self, fname, arr):
        rel = f"{self.model_name}/{fname}"
        arr = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
        np.save(os.path.join(self.root, rel), arr)
        self.bytes += os.path.getsize(os.path.join(self.root, rel))
        return rel


def check(cond, msg, failures):
    print(("  ok    " if cond else "  FAIL  ") + msg)
    if not cond:
        failures.append(msg)


def make_input(model, seed):
    """Normal noise plus a per-image, per-channel offset (images with different colour casts). Seeded
    models tend to send every random input to one class, so the first seed from seed+100 on that
    gives three different top-1 classes is taken: per-image targets then differ in every case."""
    for k in range(1000):
        g = torch.Generator().manual_seed(seed + 100 + k)
        x = torch.randn(N, C, H, W, generator=g) + torch.randn(N, C, 1, 1, generator=g)
        if len(set(logits_of(model, x).argmax(1).tolist())) == N:
            return x, seed + 100 + k
    raise RuntimeError("no input seed gives distinct top-1 classes")


def make_model_fixtures(name, seed, root, failures):
    print(f"== {name}")
    os.makedirs(os.path.join(root, name), exist_ok=True)
    model32 = build(name, seed)
    x32, input_seed = make_input(model32, seed)
    onnx_path = os.path.join(root, name, "model.onnx")
    m = export_onnx(model32, x32, onnx_path)
    layer, layer_node = cam_tensor_name(m.graph, name)
    model = build(name, seed).double()   # same weights, float64 arithmetic
    x = x32.double()
    w = Writer(root, name)

    logits = logits_of(model, x)
    onnx_logits = run_onnx_numpy(m, x32.numpy().astype(np.float64))
    err = np.abs(onnx_logits - logits.numpy()).max()
    check(err < 1e-9, f"ONNX export (numpy interpreter) matches torch logits, max err {err:.2e}", failures)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"  ONNX ops {ops}; CAM layer tensor '{layer}' (node '{layer_node}')")

    top1 = logits.argmax(1)
    given = torch.tensor(GIVEN)
    top2 = logits.topk(2, dim=1).indices
    check(len(set(top1.tolist())) == N and all(a != b for a, b in zip(top1.tolist(), GIVEN)),
          f"top-1 classes {top1.tolist()} are distinct and differ from the given classes {GIVEN} "
          f"(input seed {input_seed})", failures)
    files = {"model": f"{name}/model.onnx", "input": w.save("input.npy", x32),
             "logits": w.save("logits.npy", logits)}
    cases = []

    def target_entry(rule):
        if rule == "top1":
            return {"rule": "top1"}, top1
        return {"rule": "given", "classes": GIVEN}, given

    def add(cid, method, options, rule, out, extra=None):
        tgt, t = target_entry(rule) if isinstance(rule, str) else rule
        entry = {"id": f"{name}/{cid}", "method": method, "options": options, "target": tgt,
                 "targets": t.tolist(), "output": w.save(f"{cid}.npy", out.numpy()),
                 "shape": list(out.shape)}
        entry.update(extra or {})
        cases.append(entry)
        return entry

    # ---- definitions cross-checked before anything is saved
    g = grad_wrt_input(model, x, top1)
    gen_fd = torch.Generator().manual_seed(seed + 7)
    idx = [tuple(int(torch.randint(s, (1,), generator=gen_fd)) for s in (N, C, H, W)) for _ in range(12)]
    fd_err = 0.0
    for (n_, c_, h_, w_) in idx:
        e = torch.zeros_like(x)
        e[n_, c_, h_, w_] = 1e-6
        fp = logits_of(model, x + e)[n_, top1[n_]]
        fm = logits_of(model, x - e)[n_, top1[n_]]
        fd = (fp - fm) / 2e-6
        fd_err = max(fd_err, abs(fd - g[n_, c_, h_, w_]).item() / (1e-3 + abs(fd).item()))
    check(fd_err < 1e-5, f"dy/dx matches central finite differences at 12 points (rel err {fd_err:.1e})", failures)

    A, G = layer_act_grad(model, x, top1)
    lin = (G * A).sum(dim=(1, 2, 3))
    if name == "resnet":   # logit is linear in A through GAP+Gemm: sum(G*A) = y_t - b_t, and gradcam == hirescam
        bias = model.fc.bias[top1]
        e1 = (lin - (logits.gather(1, top1[:, None])[:, 0] - bias)).abs().max().item()
        check(e1 < 1e-10, f"sum(G*A) == logit - bias through GAP+Gemm (err {e1:.1e})", failures)
        e2 = (cam_raw("gradcam", A, G) - cam_raw("hirescam", A, G)).abs().max().item()
        check(e2 < 1e-12, f"raw gradcam == raw hirescam for a GAP head (err {e2:.1e})", failures)

    # ---- gradient methods
    for rule in ("top1", "given"):
        _, t = target_entry(rule)
        gr = grad_wrt_input(model, x, t)
        add(f"saliency_{rule}", "saliency", {}, rule, gr.abs())
        add(f"inputxgradient_{rule}", "inputxgradient", {}, rule, x * gr)
        gb = guided_backprop(model, x, t)
        add(f"guidedbackprop_{rule}", "guidedbackprop", {}, rule, gb)
        add(f"guidedgradcam_{rule}", "guidedgradcam", {"layer": layer}, rule, guided_gradcam(model, x, t),
            {"layer": layer})
        gap = (gb - gr).abs().max().item()
        check(gap > 1e-6, f"guided backprop differs from the plain gradient ({rule}, max diff {gap:.2e})", failures)

    # ---- integrated gradients
    gen_b = torch.Generator().manual_seed(seed + 200)
    user_b32 = 0.1 * torch.randn(N, C, H, W, generator=gen_b)
    files["baseline_user"] = w.save("baseline_user.npy", user_b32)
    # riemann_left and riemann_trapezoid evaluate the gradient AT the baseline (alpha = 0). At a
    # spatially constant input every interior max-pool window is an exact tie, where the gradient is
    # not defined and which subgradient a float32 engine picks depends on GEMM rounding; those two
    # rules are therefore checked with the non-constant user baseline.
    ig_runs = [("gausslegendre", IG_STEPS, "zeros", "top1"), ("gausslegendre", 50, "zeros", "top1"),
               ("riemann_left", IG_STEPS, "npy", "top1"), ("riemann_right", IG_STEPS, "zeros", "top1"),
               ("riemann_middle", IG_STEPS, "zeros", "top1"), ("riemann_trapezoid", IG_STEPS, "npy", "top1"),
               ("gausslegendre", IG_STEPS, "constant", "top1"), ("gausslegendre", IG_STEPS, "npy", "given")]
    deltas = {}
    for rule_, steps, bkind, trule in ig_runs:
        _, t = target_entry(trule)
        if bkind == "zeros":
            base, bspec = torch.zeros_like(x), {"kind": "zeros"}
        elif bkind == "constant":
            base, bspec = torch.full_like(x, CONST_BASELINE), {"kind": "constant", "value": CONST_BASELINE}
        else:
            base, bspec = user_b32.double(), {"kind": "npy", "file": files["baseline_user"]}
        attr, delta, alphas, weights = integrated_gradients(model, x, base, t, rule_, steps)
        cid = f"ig_{rule_}_{steps}_{bkind}_{trule}"
        fx = logits_of(model, x).gather(1, t[:, None])[:, 0]
        fb = logits_of(model, base).gather(1, t[:, None])[:, 0]
        add(cid, "ig", {"integration": rule_, "steps": steps, "baseline": bspec, "multiply_by_inputs": True},
            trule, attr,
            {"delta": w.save(f"{cid}_delta.npy", delta.numpy()), "delta_values": delta.tolist(),
             "f_input": fx.tolist(), "f_baseline": fb.tolist(),
             "alphas": alphas.tolist(), "weights": weights.tolist()})
        deltas[(rule_, steps, bkind)] = delta.abs().max().item()
        print(f"  ig {rule_:18s} steps {steps:2d} baseline {bkind:8s} target {trule}: "
              f"max|delta| {deltas[(rule_, steps, bkind)]:.3e}  (|f(x)-f(x')| up to {(fx - fb).abs().max():.3f})")
    # A ReLU network is piecewise linear, so the IG integrand (the gradient along the path) is piecewise
    # constant in alpha: quadrature error falls with the number of steps only on trend, not monotonically
    # (16 -> 50 can grow). The check compares steps an order of magnitude apart.
    d16, d50 = deltas[("gausslegendre", IG_STEPS, "zeros")], deltas[("gausslegendre", 50, "zeros")]
    _, dl256, _, _ = integrated_gradients(model, x, torch.zeros_like(x), top1, "gausslegendre", 256)
    d256 = dl256.abs().max().item()
    ladder = {"16": d16, "50": d50, "256": d256}
    check(d256 < d16, f"IG completeness: gausslegendre max|delta| shrinks with steps "
                      f"({d16:.2e} @16, {d50:.2e} @50, {d256:.2e} @256)", failures)

    # ---- smoothgrad / vargrad with injected noise
    noise_std = SG_NOISE_LEVEL * (x32.max() - x32.min()).item()
    gen_n = torch.Generator().manual_seed(seed + 300)
    noise32 = noise_std * torch.randn(SG_SAMPLES, N, C, H, W, generator=gen_n)
    files["noise"] = w.save("noise.npy", noise32)
    grads = torch.stack([grad_wrt_input(model, x + noise32[s].double(), top1) for s in range(SG_SAMPLES)])
    mean = grads.mean(0)
    var = (grads ** 2).mean(0) - mean ** 2
    nspec = {"samples": SG_SAMPLES, "noise": files["noise"], "noise_std": noise_std,
             "noise_level": SG_NOISE_LEVEL, "noise_rule": "noise_std = noise_level * (max(x) - min(x)) of the batch"}
    add("smoothgrad_top1", "smoothgrad", nspec, "top1", mean)
    add("vargrad_top1", "vargrad", nspec, "top1", var)
    check((var >= -1e-12).all().item(), "vargrad is non-negative", failures)

    # ---- CAM methods
    for rule in ("top1", "given"):
        _, t = target_entry(rule)
        for meth in ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam"):
            cam, raw = cam_method(model, x, t, meth)
            rawmax = raw.clamp_min(0).flatten(1).max(1).values
            e = add(f"{meth.replace('++', 'pp')}_{rule}", meth, {"layer": layer}, rule, cam,
                    {"layer": layer, "raw_relu_max": rawmax.tolist()})
            ok = bool(((cam >= 0) & (cam <= 1)).all()) and bool((rawmax > 1e-4).all())
            check(ok, f"{e['id']}: map in [0,1], raw map non-trivial (relu max per image "
                      f"{', '.join(f'{v:.3g}' for v in rawmax.tolist())})", failures)
    # top-k (k=2) Grad-CAM: one map per (image, class), classes by descending logit
    maps = torch.stack([cam_method(model, x, top2[:, j], "gradcam")[0] for j in range(2)], dim=1)
    add("gradcam_top2", "gradcam", {"layer": layer}, ({"rule": "topk", "k": 2}, top2), maps,
        {"layer": layer, "layout": "(N,K,H,W): [n,j] is the map of the j-th highest logit of image n; "
                                   "contiguous, so also (N*K,H,W) image-major"})

    size = w.bytes + os.path.getsize(onnx_path)
    print(f"  {len(cases)} cases, {size / 1024:.0f} KiB")
    return {"model": files["model"], "architecture": name, "description": model.__class__.__doc__.strip(),
            "input_name": "input", "output_name": "logits", "input": files["input"], "logits": files["logits"],
            "input_shape": [N, C, H, W], "input_seed": input_seed, "classes": CLASSES, "top1": top1.tolist(), "given": GIVEN,
            "top2": top2.tolist(), "cam_layer": layer, "cam_layer_node": layer_node,
            "baseline_user": files["baseline_user"], "noise": files["noise"],
            "ig_gausslegendre_zeros_top1_max_abs_delta_by_steps": ladder, "cases": cases}, size


def replay_case(case, model, x, root):
    """Recomputes one case from its manifest entry alone (in the dtype of model and x)."""
    def load(rel):
        return torch.from_numpy(np.load(os.path.join(root, rel))).to(x.dtype)
    meth, opt = case["method"], case["options"]
    t = torch.tensor(case["targets"])
    if meth == "saliency":
        return grad_wrt_input(model, x, t).abs()
    if meth == "inputxgradient":
        return x * grad_wrt_input(model, x, t)
    if meth == "guidedbackprop":
        return guided_backprop(model, x, t)
    if meth == "guidedgradcam":
        return guided_gradcam(model, x, t)
    if meth == "ig":
        b = opt["baseline"]
        base = (torch.zeros_like(x) if b["kind"] == "zeros" else
                torch.full_like(x, b["value"]) if b["kind"] == "constant" else load(b["file"]))
        return integrated_gradients(model, x, base, t, opt["integration"], opt["steps"])[0]
    if meth in ("smoothgrad", "vargrad"):
        noise = load(opt["noise"])
        grads = torch.stack([grad_wrt_input(model, x + noise[k], t) for k in range(opt["samples"])])
        mean = grads.mean(0)
        return mean if meth == "smoothgrad" else (grads ** 2).mean(0) - mean ** 2
    if t.dim() == 2:   # top-k: (N,K,H,W)
        return torch.stack([cam_method(model, x, t[:, j], meth)[0] for j in range(t.shape[1])], dim=1)
    return cam_method(model, x, t, meth)[0]


def stability_analysis(name, seed, entry, root, failures):
    """ReLU and MaxPool make every gradient piecewise constant: an evaluation point whose
    pre-activation lies within rounding error of a kink gives a gradient that float32 arithmetic
    may land on either side of (IG with many steps evaluates the most points, so it is hit most).
    Each case is replayed from its manifest entry alone (which also proves the entry complete) in
    float32 and in float64 with the input perturbed by 2e-7 relative, about float32 rounding (two seeds). Output elements
    that move by more than 1e-5 * max|ref| (1e-5 for CAM maps) in any replay are kink-sensitive:
    they are saved as <case>_unstable.npy (1.0 where sensitive) and counted in the manifest, so a
    golden test can tell a kink flip from a wrong result. Everything else is stable to ~1e-6."""
    model32 = build(name, seed)
    model64 = build(name, seed).double()
    x = torch.from_numpy(np.load(os.path.join(root, entry["input"])))
    total = 0
    for case in entry["cases"]:
        ref = np.load(os.path.join(root, case["output"])).astype(np.float64)
        scale = float(np.abs(ref).max())
        thr = 1e-5 if case["method"] in CAM_METHODS else 1e-5 * scale
        got32 = replay_case(case, model32, x, root).detach().numpy().astype(np.float64)
        err32 = np.abs(got32 - ref)
        unstable = err32 > thr
        for k in range(2):
            g = torch.Generator().manual_seed(seed + 500 + k)
            xp = x.double() * (1 + 2e-7 * torch.randn(x.shape, generator=g, dtype=torch.float64))
            got = replay_case(case, model64, xp, root).detach().numpy().astype(np.float64)
            unstable |= np.abs(got - ref) > thr
        count = int(unstable.sum())
        total += count
        case["ref_max_abs"] = scale
        case["float32_torch_max_abs_err"] = float(err32.max())
        case["float32_torch_max_abs_err_stable"] = float(err32[~unstable].max())
        case["unstable_elements"] = count
        if count:
            case["unstable"] = os.path.relpath(
                os.path.join(root, case["output"][:-4] + "_unstable.npy"), root)
            np.save(os.path.join(root, case["unstable"]), unstable.astype(np.float32))
            print(f"  {case['id']}: {count} kink-sensitive elements of {unstable.size} "
                  f"(float32 replay max err {err32.max():.1e}, {err32[~unstable].max():.1e} elsewhere)")
        if count > 0.2 * unstable.size:   # a wrong manifest entry would move nearly everything
            failures.append(f"{case['id']}: {count} of {unstable.size} elements move under a 2e-7 perturbation")
    worst = max(c["float32_torch_max_abs_err_stable"] / max(c["ref_max_abs"], 1e-30) for c in entry["cases"])
    print(f"  {name}: {len(entry['cases'])} cases replayed from the manifest; {total} kink-sensitive elements in all; "
          f"float32 replay on the stable elements: worst max-abs-err / max|ref| = {worst:.1e}")


CAM_METHODS = ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "src/test/resources/fixtures/methods"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    failures = []
    models, total = {}, 0
    for name, seed in (("resnet", 11), ("vgg", 23)):
        models[name], size = make_model_fixtures(name, seed, args.out, failures)
        total += size
    print("== stability of every case (replayed from the manifest)")
    for name, seed in (("resnet", 11), ("vgg", 23)):
        stability_analysis(name, seed, models[name], args.out, failures)
    manifest = {
        "generator": "scripts/make_method_fixtures.py",
        "precision": "references computed in float64 from the float32 weights and inputs, stored as float32",
        "target": "raw logit of the class; 'top1' = argmax of the logits of the clean input",
        "tolerance": {"rule": "|got - ref| <= atol + rtol*|ref|", "rtol": 1e-4, "cam_atol": 1e-4},
        "unstable": "per case, <case>_unstable.npy (1.0 = element within rounding of a ReLU/MaxPool kink at "
                    "some evaluation point: it moved by > 1e-5*max|ref| under float32 or a 2e-7 relative input "
                    "perturbation); 'unstable_elements' counts them, absent file = none",
        "cam_postprocess": "relu; per image min-max (x - min) / (1e-7 + max); bilinear resize to input HxW "
                           "(align_corners=False); relu; min-max again",
        "models": models,
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    ncases = sum(len(m["cases"]) for m in models.values())
    print(f"== {ncases} cases in {args.out}, {total / 1024:.0f} KiB of fixtures")
    if failures:
        print(f"{len(failures)} self-check(s) FAILED:")
        for f_ in failures:
            print("  " + f_)
        sys.exit(1)
    print("all self-checks passed")


if __name__ == "__main__":
    main()
