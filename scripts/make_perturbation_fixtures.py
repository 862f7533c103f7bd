#!/usr/bin/env python3
"""Golden references of the perturbation family (occlusion, feature ablation, Score-CAM), from
PyTorch re-implementations of the peers' exact definitions (../shared/PEERS.md sections 2.2 and 4.1),
on the two method fixture models of scripts/make_method_fixtures.py (rebuilt from their seeds; their
logits are checked against the stored ones).

  occlusion        Captum Occlusion: windows over all channels, first at 0, ceil((dim-window)/stride)+1
                   positions per axis, x*(1-m) + baseline*m, each element the mean of f(x)-f(x_occluded)
                   over the windows covering it.
  featureablation  Captum FeatureAblation with a feature mask (1,1,H,W) or (N,1,H,W), labels 0..max.
  scorecam         pytorch-grad-cam ScoreCAM: nn.UpsamplingBilinear2d (align_corners=True), per-channel
                   min-max with 1e-8, raw target logits of x*M_k, softmax, then relu/min-max/resize/min-max.

References are computed in float64 from the float32 weights and inputs, stored as float32.
Writes src/test/resources/fixtures/perturbation/ (manifest.json, per-model case files).
Usage: /usr/bin/python3 scripts/make_perturbation_fixtures.py
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_method_fixtures as mf  # noqa: E402

REPO = mf.REPO
METHODS = os.path.join(REPO, "src/test/resources/fixtures/methods")
OUT = os.path.join(REPO, "src/test/resources/fixtures/perturbation")


def target_logits(model, x, targets):
    return model(x).gather(1, targets[:, None])[:, 0]


def occlusion(model, x, base, targets, wh, ww, stride):
    n, c, h, w = x.shape
    f0 = target_logits(model, x, targets)
    total = torch.zeros_like(x)
    cover = torch.zeros(1, 1, h, w, dtype=x.dtype)
    ny, nx = math.ceil((h - wh) / stride) + 1, math.ceil((w - ww) / stride) + 1
    for iy in range(ny):
        for ix in range(nx):
            m = torch.zeros(1, 1, h, w, dtype=x.dtype)
            m[..., iy * stride:iy * stride + wh, ix * stride:ix * stride + ww] = 1
            xp = x * (1 - m) + base * m
            d = f0 - target_logits(model, xp, targets)
            total += d[:, None, None, None] * m
            cover += m
    return total / cover, ny * nx


def feature_ablation(model, x, base, targets, labels):
    """labels (H,W) or (N,H,W) int."""
    lab = torch.as_tensor(labels)
    lab = lab[None, None] if lab.dim() == 2 else lab[:, None]
    f0 = target_logits(model, x, targets)
    out = torch.zeros_like(x)
    for f in range(int(lab.max()) + 1):
        m = (lab == f).to(x.dtype)
        xp = x * (1 - m) + base * m
        d = f0 - target_logits(model, xp, targets)
        out += d[:, None, None, None] * m
    return out


def score_cam(model, x, targets):
    n, c, h, w = x.shape
    a = model.features(x)
    up = nn.UpsamplingBilinear2d(size=(h, w))(a)
    maxs = up.view(n, a.shape[1], -1).max(dim=-1)[0][:, :, None, None]
    mins = up.view(n, a.shape[1], -1).min(dim=-1)[0][:, :, None, None]
    up = (up - mins) / (maxs - mins + 1e-8)
    inputs = x[:, None, :, :] * up[:, :, None, :, :]
    scores = torch.stack([model(inputs[i])[:, targets[i]] for i in range(n)])
    wts = torch.softmax(scores, dim=-1)
    cam = (wts[:, :, None, None] * a).sum(dim=1)
    return mf.cam_postprocess(cam, (h, w))


def philox_normal(seed, g):
    """Element g of salient's normal stream (native/philox.h): Philox4x32-10, Box-Muller."""
    M = 0xFFFFFFFF
    block = g >> 2
    c = [block & M, (block >> 32) & M, 0, 0]
    k0, k1 = seed & M, (seed >> 32) & M
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & M, p1 & M, ((p0 >> 32) ^ c[3] ^ k1) & M, p0 & M]
        k0, k1 = (k0 + 0x9E3779B9) & M, (k1 + 0xBB67AE85) & M
    lane = g & 3
    a, b = (c[0], c[1]) if lane < 2 else (c[2], c[3])
    u1 = (a + 1.0) * 2.3283064365386963e-10
    u2 = b * 2.3283064365386963e-10
    r = math.sqrt(-2.0 * math.log(u1))
    t = 6.283185307179586 * u2
    return float(np.float32(r * math.sin(t) if lane & 1 else r * math.cos(t)))


def phi(z):
    """Normal CDF through the erfc of Numerical Recipes (as Rise.phi)."""
    x = -z / math.sqrt(2)
    ax = abs(x)
    t = 1 / (1 + 0.5 * ax)
    erfc = t * math.exp(-ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
    return 0.5 * (erfc if x >= 0 else 2 - erfc)


def rise(model, x, targets, n, s, p1, seed):
    """RISE as the authors' generate_masks + forward, the random numbers from salient's stream:
    per mask, s*s normals (cell kept when Phi(z) < p) and two for the shift (floor(Phi(z)*cell))."""
    from skimage.transform import resize
    _, _, h, w = x.shape
    ch, cw = math.ceil(h / s), math.ceil(w / s)
    d = s * s + 2
    sal = torch.zeros(x.shape[0], h, w, dtype=x.dtype)
    for i in range(n):
        z = [philox_normal(seed, i * d + k) for k in range(d)]
        grid = np.array([1.0 if phi(v) < p1 else 0.0 for v in z[:s * s]], dtype=np.float32).reshape(s, s)
        dy, dx = min(ch - 1, int(phi(z[-2]) * ch)), min(cw - 1, int(phi(z[-1]) * cw))
        up = resize(grid, ((s + 1) * ch, (s + 1) * cw), order=1, mode="reflect", anti_aliasing=False)
        m = torch.from_numpy(up[dy:dy + h, dx:dx + w].astype(np.float32)).double()
        f = target_logits(model, x * m, targets)
        sal += f[:, None, None] * m
    return sal / (n * p1)


def grid_labels(k, h, w):
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return (y * k // h) * k + (x * k // w)


def rise_fixture():
    """RISE masks as the authors' generate_masks: a 7x7 binary grid resized with scikit-image (order 1,
    mode reflect, no anti-aliasing) to (s+1)*ceil(32/s) = 40 and cropped at three shifts."""
    from skimage.transform import resize
    grid = (np.random.default_rng(7).random((7, 7)) < 0.5).astype(np.float32)
    up = resize(grid, (40, 40), order=1, mode="reflect", anti_aliasing=False)
    shifts = [(0, 0), (4, 2), (3, 4)]
    masks = np.stack([up[dy:dy + 32, dx:dx + 32] for dy, dx in shifts]).astype(np.float32)
    np.save(os.path.join(OUT, "rise_grid.npy"), grid)
    np.save(os.path.join(OUT, "rise_masks.npy"), masks)
    return {"grid": "rise_grid.npy", "masks": "rise_masks.npy", "shifts": shifts, "size": [32, 32]}


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    src = json.load(open(os.path.join(METHODS, "manifest.json")))
    models = {}
    for name, seed in (("resnet", 11), ("vgg", 23)):
        entry = src["models"][name]
        os.makedirs(os.path.join(OUT, name), exist_ok=True)
        model = mf.build(name, seed).double()
        x = torch.from_numpy(np.load(os.path.join(METHODS, entry["input"]))).double()
        logits = model(x).detach()
        stored = np.load(os.path.join(METHODS, entry["logits"]))
        err = np.abs(logits.numpy() - stored).max()
        assert err < 1e-5, f"{name}: rebuilt model's logits differ from the fixture's by {err}"
        top1 = logits.argmax(1)
        given = torch.tensor(mf.GIVEN)
        user = torch.from_numpy(np.load(os.path.join(METHODS, entry["baseline_user"] if "baseline_user" in entry
                                                     else f"{name}/baseline_user.npy"))).double()
        cases = []
        rng = np.random.default_rng(seed)
        seg = rng.integers(0, 12, size=x.shape[:1] + x.shape[2:])
        seg[seg == 5] = 6                          # a label that never occurs
        seg_file = f"{name}/segments_labels.npy"
        np.save(os.path.join(OUT, seg_file), seg.astype(np.int64))

        def add(cid, method, options, rule, out, extra=None):
            t = top1 if rule == "top1" else given
            rel = f"{name}/{cid}.npy"
            np.save(os.path.join(OUT, rel), out.detach().numpy().astype(np.float32))
            e = {"id": f"{name}/{cid}", "method": method, "options": options, "target": rule,
                 "targets": t.tolist(), "output": rel, "shape": list(out.shape)}
            e.update(extra or {})
            cases.append(e)

        with torch.no_grad():
            zeros = torch.zeros_like(x)
            out, nw = occlusion(model, x, zeros, top1, 15, 15, 8)
            add("occlusion_w15_s8_zeros_top1", "occlusion", {}, "top1", out, {"forward_passes_per_image": nw + 1})
            out, nw = occlusion(model, x, user, given, 8, 5, 4)
            add("occlusion_w8x5_s4_user_given", "occlusion",
                {"--window": "8x5", "--stride": "4", "--baseline": "BASELINE_USER"}, "given", out,
                {"forward_passes_per_image": nw + 1})
            out = feature_ablation(model, x, zeros, top1, grid_labels(4, 32, 32))
            add("featureablation_grid4_zeros_top1", "featureablation", {"--segments": "grid:4"}, "top1", out)
            out = feature_ablation(model, x, torch.full_like(x, 0.5), given, seg)
            add("featureablation_npy_const_given", "featureablation",
                {"--segments": "SEGMENTS", "--baseline": "constant:0.5"}, "given", out)
        with torch.no_grad():
            add("rise_n32_s5_p04_seed3_top1", "rise", {"--masks": "32", "--cells": "5", "--p": "0.4", "--seed": "3"},
                "top1", rise(model, x, top1, 32, 5, 0.4, 3))
        add("scorecam_top1", "scorecam", {"--layer": entry["cam_layer"]}, "top1", score_cam(model, x, top1).detach())
        add("scorecam_given", "scorecam", {"--layer": entry["cam_layer"]}, "given", score_cam(model, x, given).detach())
        models[name] = {"model": entry["model"], "input": entry["input"], "baseline_user": f"{name}/baseline_user.npy",
                        "segments": seg_file, "cases": cases}
        print(f"== {name}: {len(cases)} cases")
    manifest = {
        "generator": "scripts/make_perturbation_fixtures.py",
        "models_and_inputs": "relative to src/test/resources/fixtures/methods (model, input, baseline_user)",
        "precision": "references computed in float64 from the float32 weights and inputs, stored as float32",
        "target": "raw logit; top1 = argmax of the clean logits, given = " + str(mf.GIVEN),
        "tolerance": {"rule": "|got - ref| <= atol + rtol*|ref|", "rtol": 1e-4, "atol": "1e-4 * max|ref| (input), 1e-4 (cam)"},
        "models": models,
        "rise": rise_fixture(),
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
