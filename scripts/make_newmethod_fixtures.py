#!/usr/bin/python3
"""Golden fixtures for the CAM-family methods added after the first twelve, computed in PyTorch
(float64) from the definitions of PEERS.md, on the two seeded models of make_method_fixtures.py
(their model.onnx and input.npy are reused, and checked to be the ones this script rebuilds).

Methods and their exact definitions (A: layer activation (N,C,h,w), G = dy_t/dA, y_t the raw logit):
  cam                 raw = sum_k W[t,k] A_k, W the Gemm after GlobalAveragePool -> Flatten (resnet only)
  gradcamelementwise  raw = sum_k relu(G_k * A_k)                       (pytorch-grad-cam GradCAMElementWise)
  eigencam            raw = M v, M = A as (h*w, C) centred by column mean, v its first right singular vector
  eigengradcam        the same for G*A
                      sign: v is flipped so that the projection of the UNcentred rows, sum_i (A v)_i, is >= 0
                      (the projection of the centred M sums to 0 by construction, so it cannot decide the sign)
  attention           raw = sum_c |A_c|^p                                (Zagoruyko & Komodakis 2017)
  counterfactual      gradcam / gradcam++ / layercam / gradcamelementwise with G replaced by -G
  all of the above go through the CAM pipeline: relu, min-max, bilinear resize (half-pixel), relu, min-max
  fullgrad            pytorch-grad-cam FullGrad: |x * dy/dx| and, for every conv/BN bias b, |b_c * G_c| at that
                      layer's output; each (image, channel) map min-maxed then resized to HxW; all summed; min-max
  cfcam               the CF-CAM authors' cfcam.py (PEERS.md 1.2), per image of the batch; bilinear upsample,
                      divided by its max (no min-max)
  activation          the layer tensor itself (Captum LayerActivation)
  deconvnet           Captum Deconvolution: the input gradient with every Relu's backward relu(dy)

Writes src/test/resources/fixtures/newmethods/manifest.json and <model>/<case>.npy. A case with "error" (cam on
vgg, whose head is not GlobalAveragePool -> Gemm) has no output: the method must refuse it with that text.
Usage: /usr/bin/python3 scripts/make_newmethod_fixtures.py [--out DIR]
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_method_fixtures as base  # noqa: E402

REPO = base.REPO
METHODS_ROOT = os.path.join(REPO, "src/test/resources/fixtures/methods")
SEEDS = (("resnet", 11), ("vgg", 23))
CF_DEFAULTS = {"split_percentile": 75.0, "eps_percentile": 25.0, "min_samples_fraction": 0.05,
               "sigma_spatial": 5.0, "sigma_range": 0.1}


# ---------------------------------------------------------------- activations and gradients at any module

def act_grad(model, x, targets, module):
    """A = output of `module`, G = d(sum_n y[n, t_n])/dA, and dy/dx."""
    store = {}

    def hook(_m, _i, out):
        out.retain_grad()
        store["a"] = out

    h = module.register_forward_hook(hook)
    try:
        xx = x.detach().clone().requires_grad_(True)
        y = model(xx)
        y.gather(1, targets[:, None]).sum().backward()
    finally:
        h.remove()
    return store["a"].detach(), store["a"].grad.detach(), xx.grad.detach()


def multi_grad(model, x, targets, modules):
    """Outputs and output gradients of several modules plus dy/dx, from one forward and one backward."""
    store = []

    def hook(_m, _i, out):
        out.retain_grad()
        store.append(out)

    hs = [m.register_forward_hook(hook) for m in modules]
    try:
        xx = x.detach().clone().requires_grad_(True)
        y = model(xx)
        y.gather(1, targets[:, None]).sum().backward()
    finally:
        for h in hs:
            h.remove()
    assert len(store) == len(modules), "a bias module ran more than once"
    return [(o.detach(), o.grad.detach()) for o in store], xx.grad.detach()


# ---------------------------------------------------------------- CAM raw maps

def eigen_projection(M3):
    """pytorch-grad-cam get_2d_projection on (N,C,h,w) with the deterministic sign rule."""
    out, gaps = [], []
    for a in M3:
        c, h, w = a.shape
        m = a.reshape(c, h * w).T                       # (hw, C)
        mc = m - m.mean(dim=0)
        _u, s, vt = torch.linalg.svd(mc, full_matrices=True)
        v = vt[0]
        s_unc = (m @ v).sum()
        if s_unc < 0 or (s_unc == 0 and v[v.abs().argmax()] < 0):
            v = -v
        out.append((mc @ v).reshape(h, w))
        gaps.append(float((s[0] - s[1]) / s[0]) if s.numel() > 1 else 1.0)
    return torch.stack(out), gaps


def attention_raw(A, p):
    return (A.abs() ** p).sum(dim=1)


# ---------------------------------------------------------------- CF-CAM, the authors' algorithm per image

def percentile(v, q):
    return float(np.percentile(np.asarray(v, dtype=np.float64), q))   # linear interpolation, as numpy's default


def dbscan_sklearn(D, eps, min_samples):
    """sklearn DBSCAN on a precomputed distance matrix (neighbourhood: d <= eps, self included)."""
    from sklearn.cluster import DBSCAN
    return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit(D).labels_


def bilateral_kernel_filter(g, sigma_spatial, sigma_range):
    """cfcam.py _bilateral_filter: one (h,w) kernel s*r/(sum s*r + 1e-6), centre (h/2, w/2),
    range term from the map itself, then conv2d with padding='same' (zero padding)."""
    h, w = g.shape
    u = torch.arange(h, dtype=g.dtype)[:, None]
    v = torch.arange(w, dtype=g.dtype)[None, :]
    s = torch.exp(-((u - h / 2) ** 2 + (v - w / 2) ** 2) / (2 * sigma_spatial ** 2))
    r = torch.exp(-(g - g.mean()) ** 2 / (2 * sigma_range ** 2))
    k = s * r
    k = k / (k.sum() + 1e-6)
    return F.conv2d(g[None, None], k[None, None], padding="same")[0, 0]


def cfcam_image(a, g, opt, noise=None):
    """One image: a, g (C,h,w) -> (h,w) map before upsampling, plus margins and cluster facts."""
    c, h, w = a.shape
    f = a.reshape(c, h * w)
    if noise is not None:
        g = g + noise
    norms = f.norm(dim=1)
    tau = percentile(norms.numpy(), opt["split_percentile"])
    important = norms >= tau
    rest = torch.nonzero(~important)[:, 0]
    fr = f[rest]
    d = torch.cdist(fr, fr).numpy()
    n_r = len(rest)
    off = d[~np.eye(n_r, dtype=bool)]
    eps = max(percentile(off, opt["eps_percentile"]), 1e-5)
    min_samples = max(2, int(opt["min_samples_fraction"] * n_r))
    labels = dbscan_sklearn(d, eps, min_samples) if n_r > 0 else np.zeros(0, dtype=int)
    weights = torch.zeros(c, dtype=a.dtype)
    valid = important.clone()
    weights[important] = g[important].mean(dim=(1, 2))
    for j in sorted(set(labels.tolist()) - {-1}):
        members = rest[torch.from_numpy(labels == j)]
        gm = g[members].mean(dim=0)
        wj = bilateral_kernel_filter(gm, opt["sigma_spatial"], opt["sigma_range"]).mean()
        weights[members] = wj
        valid[members] = True
    alpha = torch.softmax(weights[valid], dim=0)
    cam = F.relu((alpha[:, None, None] * a[valid]).sum(dim=0))
    # how far the decisions are from flipping (relative): distances vs eps, norms vs tau
    dm = np.abs(off - eps)
    dm = dm[dm > 0]
    nm = np.abs(norms.numpy() - tau)
    nm = nm[nm > 0]
    facts = {"important": int(important.sum()), "remaining": n_r, "eps": eps, "min_samples": min_samples,
             "clusters": int(len(set(labels.tolist()) - {-1})), "noise_channels": int((labels == -1).sum()),
             "eps_margin_rel": float(dm.min() / eps) if dm.size else 1.0,
             "split_margin_rel": float(nm.min() / tau) if nm.size else 1.0}
    return cam, facts


def cfcam(A, G, size, opt):
    maps, facts = [], []
    for a, g in zip(A, G):
        cam, fa = cfcam_image(a, g, opt)
        maps.append(cam)
        facts.append(fa)
    up = F.interpolate(torch.stack(maps)[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    mx = up.flatten(1).max(dim=1).values
    up = torch.where(mx[:, None, None] > 0, up / mx.clamp_min(1e-300)[:, None, None], up)
    return up, facts


# ---------------------------------------------------------------- FullGrad

def bias_modules(model):
    out = []
    for m in model.modules():
        if type(m) in (nn.Conv2d, nn.BatchNorm2d) and m.bias is not None:
            out.append(m)
    return out


def bias_of(m):
    if isinstance(m, nn.BatchNorm2d):
        return m.bias - m.running_mean * m.weight / torch.sqrt(m.running_var + m.eps)
    return m.bias


def scale_per_channel(t, size):
    """pytorch-grad-cam scale_accross_batch_and_channels: per (n,c) min-max, then resize."""
    n, c = t.shape[:2]
    flat = base.minmax(t.reshape(n * c, *t.shape[2:]))
    if tuple(flat.shape[1:]) != tuple(size):
        flat = F.interpolate(flat[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    return flat.reshape(n, c, *size)


def fullgrad(model, x, targets):
    mods = bias_modules(model)
    outs, gx = multi_grad(model, x, targets, mods)
    size = tuple(x.shape[2:])
    total = scale_per_channel((gx * x).abs(), size).sum(dim=1)
    for m, (_a, g) in zip(mods, outs):
        b = bias_of(m).detach()[None, :, None, None]
        total = total + scale_per_channel((b * g).abs(), size).sum(dim=1)
    return base.minmax(total), len(mods)


# ---------------------------------------------------------------- Deconvnet

class _DeconvRelu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, g):
        return g.clamp_min(0)


def deconvnet(model, x, targets):
    orig = base.Relu.forward
    base.Relu.forward = lambda self, t: _DeconvRelu.apply(t)
    try:
        return base.grad_wrt_input(model, x, targets)
    finally:
        base.Relu.forward = orig


# ---------------------------------------------------------------- cases

def layer_modules(model, name):
    """ONNX tensor name of a module's output -> module (the names the exporter gives)."""
    if name == "resnet":
        return {"/block2/relu2/Relu_output_0": model.block2.relu2, "/block1/relu2/Relu_output_0": model.block1.relu2,
                "/stem/stem.2/Relu_output_0": model.stem[2]}
    return {"/block2/block2.1/Relu_output_0": model.block2[1], "/block1/block1.3/Relu_output_0": model.block1[3],
            "/block1/block1.1/Relu_output_0": model.block1[1]}


def compute_case(case, model, x):
    """Recomputes a case from its manifest entry (model and x in the same dtype)."""
    meth, opt = case["method"], case["options"]
    t = torch.tensor(case["targets"])
    size = tuple(x.shape[2:])
    if meth == "deconvnet":
        return deconvnet(model, x, t)
    if meth == "fullgrad":
        return fullgrad(model, x, t)[0]
    mod = layer_modules(model, case["model"])[opt["layer"]]
    A, G, _ = act_grad(model, x, t, mod)
    if opt.get("counterfactual"):
        G = -G
    if meth == "activation":
        return A
    if meth == "cfcam":
        return cfcam(A, G, size, opt["cf"])[0]
    if meth == "cam":
        raw = (model.fc.weight[t][:, :, None, None] * A).sum(dim=1)
    elif meth == "gradcamelementwise":
        raw = F.relu(G * A).sum(dim=1)
    elif meth == "eigencam":
        raw = eigen_projection(A)[0]
    elif meth == "eigengradcam":
        raw = eigen_projection(G * A)[0]
    elif meth == "attention":
        raw = attention_raw(A, opt["power"])
    else:
        raw = base.cam_raw(meth, A, G)
    return base.cam_postprocess(raw.detach(), size)


def make(name, seed, root, failures):
    print(f"== {name}")
    os.makedirs(os.path.join(root, name), exist_ok=True)
    model32 = base.build(name, seed)
    x32, _ = base.make_input(model32, seed)
    stored = np.load(os.path.join(METHODS_ROOT, name, "input.npy"))
    base.check(np.array_equal(stored, x32.numpy()), f"{name}: input.npy of the methods fixtures is reproduced", failures)
    mdl = onnx.load(os.path.join(METHODS_ROOT, name, "model.onnx"))
    lg = base.run_onnx_numpy(mdl, stored.astype(np.float64))
    model = base.build(name, seed).double()
    x = x32.double()
    err = np.abs(lg - base.logits_of(model, x).numpy()).max()
    base.check(err < 1e-9, f"{name}: the committed model.onnx is this model (max logit err {err:.1e})", failures)
    with torch.no_grad():
        top1 = model(x).argmax(1)
    given = torch.tensor(base.GIVEN)
    cases = []
    layers = list(layer_modules(model, name))
    cam_layer, mid_layer = layers[0], layers[1]

    def add(cid, method, options, rule, extra=None):
        t = top1 if rule == "top1" else given
        tgt = {"rule": "top1"} if rule == "top1" else {"rule": "given", "classes": base.GIVEN}
        case = {"id": f"{name}/{cid}", "model": name, "method": method, "options": options, "target": tgt,
                "targets": t.tolist()}
        out = compute_case(case, model, x)
        rel = f"{name}/{cid}.npy"
        np.save(os.path.join(root, rel), np.ascontiguousarray(out.detach().numpy().astype(np.float32)))
        case.update({"output": rel, "shape": list(out.shape)})
        case.update(extra or {})
        cases.append(case)
        return case, out

    for rule in ("top1", "given"):
        if name == "resnet":
            add(f"cam_{rule}", "cam", {"layer": cam_layer}, rule)
        add(f"gradcamelementwise_{rule}", "gradcamelementwise", {"layer": cam_layer}, rule)
        add(f"eigengradcam_{rule}", "eigengradcam", {"layer": cam_layer}, rule)
        add(f"fullgrad_{rule}", "fullgrad", {}, rule)
        add(f"deconvnet_{rule}", "deconvnet", {}, rule)
        add(f"cfcam_{rule}", "cfcam", {"layer": cam_layer, "cf": CF_DEFAULTS}, rule)
    add("eigencam_top1", "eigencam", {"layer": cam_layer}, "top1")
    add("eigencam_mid_top1", "eigencam", {"layer": mid_layer}, "top1")
    add("cfcam_mid_top1", "cfcam", {"layer": mid_layer, "cf": CF_DEFAULTS}, "top1")
    add("cfcam_mid_options_top1", "cfcam", {"layer": mid_layer, "cf": {
        "split_percentile": 60.0, "eps_percentile": 40.0, "min_samples_fraction": 0.2,
        "sigma_spatial": 2.0, "sigma_range": 0.5}}, "top1")
    add("attention_top1", "attention", {"layer": cam_layer, "power": 2}, "top1")
    add("attention_p1_mid_top1", "attention", {"layer": mid_layer, "power": 1}, "top1")
    add("attention_p4_top1", "attention", {"layer": cam_layer, "power": 4}, "top1")
    add("activation_top1", "activation", {"layer": cam_layer}, "top1")
    add("activation_mid_top1", "activation", {"layer": layers[2]}, "top1")
    for meth in ("gradcam", "gradcam++", "layercam", "gradcamelementwise", "eigengradcam"):
        add(f"{meth.replace('++', 'pp')}_counterfactual_given", meth, {"layer": cam_layer, "counterfactual": True}, "given")

    if name == "vgg":   # no GlobalAveragePool -> Gemm head: cam must refuse the model in one line
        cases.append({"id": f"{name}/cam_refused", "model": name, "method": "cam", "options": {"layer": cam_layer},
                      "target": {"rule": "top1"}, "targets": top1.tolist(),
                      "error": "cam needs the layer to feed GlobalAveragePool -> (Flatten) -> Gemm -> logits"})

    # ---- checks of the definitions
    A, G, _ = act_grad(model, x, top1, layer_modules(model, name)[cam_layer])
    if name == "resnet":
        e = (base.cam_raw("gradcam", A, G) * A.shape[2] * A.shape[3]
             - (model.fc.weight[top1][:, :, None, None] * A).sum(dim=1)).abs().max().item()
        base.check(e < 1e-10, f"CAM == Grad-CAM * h*w for a GAP -> Gemm head (err {e:.1e})", failures)
    gx = base.grad_wrt_input(model, x, top1)
    outs, _ = multi_grad(model, x, top1, bias_modules(model))
    comp = (gx * x).flatten(1).sum(1)
    for m, (_a, g) in zip(bias_modules(model), outs):
        comp = comp + (bias_of(m).detach()[None, :, None, None] * g).flatten(1).sum(1)
    y = base.logits_of(model, x).gather(1, top1[:, None])[:, 0]
    lin_bias = model.fc.bias[top1] if name == "resnet" else model.classifier[3].bias[top1]
    if name == "resnet":   # full-gradient completeness: y = x.dx + sum_b b.db + fc bias (ReLU network)
        e = (comp + lin_bias - y).abs().max().item()
        base.check(e < 1e-9, f"FullGrad completeness x.gx + sum b.gb + b_fc == y (err {e:.1e})", failures)
    _, gaps = eigen_projection(A)
    _, ggaps = eigen_projection(G * A)
    base.check(min(gaps + ggaps) > 1e-3, f"first singular value separated (relative gaps eigencam "
               f"{min(gaps):.2e}, eigengradcam {min(ggaps):.2e})", failures)
    for c in cases:
        if c["method"] != "cfcam":
            continue
        mod = layer_modules(model, name)[c["options"]["layer"]]
        A_, G_, _ = act_grad(model, x, torch.tensor(c["targets"]), mod)
        facts = [cfcam_image(a, g, c["options"]["cf"])[1] for a, g in zip(A_, G_)]
        c["cf_facts"] = facts
        gvar = float((G_ - G_.mean(dim=(2, 3), keepdim=True)).abs().max() / G_.abs().max())
        c["gradient_spatial_variation"] = gvar
        margin = min(min(f["eps_margin_rel"], f["split_margin_rel"]) for f in facts)
        print(f"  {c['id']}: clusters {[f['clusters'] for f in facts]}, noise {[f['noise_channels'] for f in facts]}, "
              f"important {[f['important'] for f in facts]} of {A_.shape[1]}, gradient spatial variation {gvar:.2f}, "
              f"decision margin {margin:.1e}")
        # decisions within float32 rounding of a threshold (a distance next to eps, a norm next to the
        # split) must not matter: replays with the input moved by 1e-5 relative (far more than float32
        # rounding) give the same map within the golden tolerance
        ref = np.load(os.path.join(root, c["output"])).astype(np.float64)
        moved = 0.0
        for k in range(4):
            gen = torch.Generator().manual_seed(seed + 900 + k)
            xp = x * (1 + 1e-5 * torch.randn(x.shape, generator=gen, dtype=torch.float64))
            moved = max(moved, float(np.abs(compute_case(c, model, xp).detach().numpy() - ref).max()))
        c["perturbed_1e-5_max_abs_change"] = moved
        base.check(moved < 2e-5, f"{c['id']}: stable under 1e-5 relative input perturbations (max change {moved:.1e}, "
                   f"closest decision {margin:.1e} relative from its threshold)", failures)
        base.check(any(f["clusters"] > 0 for f in facts), f"{c['id']}: DBSCAN finds clusters", failures)
    # same definitions in float32 (replayed from the manifest) to show the achievable agreement
    m32 = base.build(name, seed)
    for c in cases:
        if "error" in c:
            continue
        ref = np.load(os.path.join(root, c["output"])).astype(np.float64)
        got = compute_case(c, m32, x32).detach().numpy().astype(np.float64)
        c["float32_torch_max_abs_err"] = float(np.abs(got - ref).max())
        c["ref_max_abs"] = float(np.abs(ref).max())
    worst = max(c["float32_torch_max_abs_err"] / max(c["ref_max_abs"], 1e-30) for c in cases if "error" not in c)
    print(f"  {len(cases)} cases; float32 torch replay worst max-abs-err / max|ref| = {worst:.1e}")
    return {"model": f"methods/{name}/model.onnx", "input": f"methods/{name}/input.npy", "top1": top1.tolist(),
            "given": base.GIVEN, "cam_layer": cam_layer, "layers": layers, "cases": cases}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "src/test/resources/fixtures/newmethods"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    failures = []
    models = {name: make(name, seed, args.out, failures) for name, seed in SEEDS}
    manifest = {
        "generator": "scripts/make_newmethod_fixtures.py",
        "precision": "float64 references from the float32 weights and inputs, stored as float32",
        "paths": "model and input paths are relative to src/test/resources/fixtures",
        "tolerance": {"cam_atol": 1e-4, "activation_rtol": 1e-5, "input_rtol": 1e-4},
        "cfcam_defaults": CF_DEFAULTS,
        "eigen_sign": "v flipped so that sum_i (A v)_i over the uncentred rows is >= 0 (ties: largest |v_k| positive)",
        "models": models,
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    n = sum(len(m["cases"]) for m in models.values())
    print(f"== {n} cases in {args.out}")
    if failures:
        print(f"{len(failures)} self-check(s) FAILED:")
        for f_ in failures:
            print("  " + f_)
        sys.exit(1)
    print("all self-checks passed")


if __name__ == "__main__":
    main()
