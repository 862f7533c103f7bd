#!/usr/bin/env python3
"""Golden references of the evaluation metrics (src/main/java/dev/salient/metrics), from numpy/PyTorch
re-implementations of their definitions (../shared/PEERS.md sections 2.3, 3, 4.3 and 6, and the RISE,
ROAD, Grad-CAM++ and Captum papers), on the vgg method-fixture model of scripts/make_method_fixtures.py
(rebuilt from its seed in float64; its logits are checked against the stored ones) and its three
stored inputs, with two fixed maps per image: the stored Grad-CAM map (H,W) and a seeded input-shaped
map (C,H,W).

  deletion/insertion  RISE: pixels ranked by the pixel map (sum over channels; ties by index), after step
                      k of S the first floor(k*HW/S) pixels set to 0 (deletion) or revealed on RISE's blur
                      (gkern(11,5) = scipy gaussian_filter of a delta, conv2d padding 5); softmax probability
                      of the target; AUC = np.trapz over the fractions.
  morf/lerf           pixel flipping onto zeros, the image mean or the blur.
  road                pytorch-grad-cam road.py: np.percentile thresholds, NoisyLinearImputer's sparse system
                      solved with scipy.sparse.linalg.spsolve, + 0.01*z on the imputed values (z given by a
                      closed formula the Java test repeats: the test hook), score differences, averages over
                      10..90, combined = (LeRF - MoRF)/2.
  avgdrop/increase    O = p(x * unit map), Y = p(x); unit map = CAM as is, else min-max of the pixel map.
  infidelity          Captum: (1/n) sum_j (sum a*I_j - (f(x) - f(x - I_j)))^2, I_j = sigma*z (z by formula),
                      f the raw target logit; CAM maps broadcast over channels; also normalize=True.
  sensitivity         Captum sensitivity-max of saliency (|d logit / dx|), x + r*(2u-1), u by formula.
  sparseness          Quantus Gini of |a|/max|a| (+1e-7); complexity: entropy -sum p log(p+1e-12).
  spearman/ssim       scipy.stats.spearmanr and skimage structural_similarity(data_range=1) of |pixel maps|/max.

References in float64, stored in metrics.json; also writes mlp.onnx (a model without conv weights, for the
randomisation error).  Usage: /usr/bin/python3 scripts/make_metric_fixtures.py
"""
import json
import math
import os
import sys

import numpy as np
import scipy.ndimage
import scipy.sparse
import scipy.sparse.linalg
import scipy.stats
import skimage.metrics
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_method_fixtures as mf  # noqa: E402

REPO = mf.REPO
METHODS = os.path.join(REPO, "src/test/resources/fixtures/methods")
OUT = os.path.join(REPO, "src/test/resources/fixtures/metrics")
STEPS = 16
PERTURB = 4
SIGMA = 0.05
RADIUS = 0.02


# ---- the draws of the test hook (the Java test computes the same closed formulas)
def road_noise(image, order, pi, n):
    k = np.arange(n, dtype=np.float64)
    return (1.5 * np.sin(0.37 * k + 1.3 * (order * 9 + pi) + 0.71 * image)).astype(np.float32).astype(np.float64)


def infidelity_noise(image, n):
    k = np.arange(n, dtype=np.float64)
    return np.cos(0.11 * k + 0.5 * image).astype(np.float32).astype(np.float64)


def sensitivity_uniform(image, n):
    k = np.arange(n, dtype=np.float64)
    return (0.5 + 0.49 * np.sin(0.23 * k + 0.3 * image)).astype(np.float32).astype(np.float64)


def probs(model, x):
    with torch.no_grad():
        return torch.softmax(model(torch.as_tensor(x)), dim=1).numpy()


def logits(model, x):
    with torch.no_grad():
        return model(torch.as_tensor(x)).numpy()


def rise_kernel():
    inp = np.zeros((11, 11))
    inp[5, 5] = 1
    return scipy.ndimage.gaussian_filter(inp, 5)


def blur(x):
    c = x.shape[1]
    k = np.zeros((c, c, 11, 11))
    for i in range(c):
        k[i, i] = rise_kernel()
    return F.conv2d(torch.as_tensor(x), torch.as_tensor(k), padding=5).numpy()


def curve(model, x, pix, target, steps, base, mode):
    c, h, w = x.shape[1:]
    hw = h * w
    order = np.lexsort((np.arange(hw), -pix))
    rank = np.empty(hw, dtype=np.int64)
    rank[order] = np.arange(hw)
    rows, fr = [], []
    for k in range(steps + 1):
        n = k * hw // steps
        if mode in ("deletion", "morf"):
            m = rank >= n
        elif mode == "lerf":
            m = rank < hw - n
        else:  # insertion: reveal
            m = rank < n
        m = m.reshape(1, 1, h, w)
        rows.append(np.where(m, x, base)[0])
        fr.append(n / hw)
    p = probs(model, np.stack(rows))[:, target]
    return p, np.array(fr), float(np.trapz(p, fr))


def road_system(mask, img):
    """pytorch-grad-cam NoisyLinearImputer.setup_sparse_system (road.py), mask 1 = keep."""
    neighbors_weights = [((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((0, -1), 1 / 6),
                         ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6)]
    maskflt = mask.flatten()
    imgflat = img.reshape((img.shape[0], -1))
    indices = np.argwhere(maskflt == 0).flatten()
    coords_to_vidx = np.zeros(len(maskflt), dtype=int)
    coords_to_vidx[indices] = np.arange(len(indices))
    num_eq = len(indices)
    A = scipy.sparse.lil_matrix((num_eq, num_eq))
    b = np.zeros((num_eq, img.shape[0]))
    sum_neighbors = np.ones(num_eq)
    for (off0, off1), weight in neighbors_weights:
        cord1 = indices % mask.shape[1] + off1
        cord0 = indices // mask.shape[1] + off0
        invalid = (cord0 < 0) | (cord1 < 0) | (cord0 >= mask.shape[0]) | (cord1 >= mask.shape[1])
        valid = ~invalid
        new_coords = indices + off0 * mask.shape[1] + off1
        valid_coords = new_coords[valid]
        valid_ids = np.argwhere(valid == 1).flatten()
        has_values_coords = valid_coords[maskflt[valid_coords] > 0.5]
        has_values_ids = valid_ids[maskflt[valid_coords] > 0.5]
        b[has_values_ids, :] -= weight * imgflat[:, has_values_coords].T
        has_no_values = valid_coords[maskflt[valid_coords] < 0.5]
        variable_ids = coords_to_vidx[has_no_values]
        has_no_values_ids = valid_ids[maskflt[valid_coords] < 0.5]
        A[has_no_values_ids, variable_ids] = weight
        sum_neighbors[np.logical_not(valid)] -= weight
    A[np.arange(num_eq), np.arange(num_eq)] = -sum_neighbors
    return A, b, indices


def impute(img, keep, z):
    A, b, idx = road_system(keep.astype(np.float64), img)
    res = scipy.sparse.linalg.spsolve(scipy.sparse.csc_matrix(A), b).reshape(len(idx), -1)
    flat = img.reshape(img.shape[0], -1).copy()
    flat[:, idx] = res.T + 0.01 * z.reshape(img.shape[0], len(idx))
    return flat.reshape(img.shape)


def road(model, x, pix, target, image):
    c, h, w = x.shape[1:]
    rows = [x[0]]
    inv = (1 - pix.astype(np.float32)).astype(np.float64)   # the Java engine forms 1 - map in float32
    for order, m in enumerate((pix, inv)):
        for pi, p in enumerate(range(10, 100, 10)):
            keep = (m < np.percentile(m, p)).reshape(h, w)
            z = road_noise(image, order, pi, c * int((~keep).sum()))
            rows.append(impute(x[0], keep, z))
    s = probs(model, np.stack(rows))[:, target]
    morf = np.mean(s[1:10] - s[0])
    lerf = np.mean(s[10:19] - s[0])
    return {"morf": float(morf), "lerf": float(lerf), "combined": float((lerf - morf) / 2)}


def unit(m, cam):
    if cam:
        return m
    p = m.sum(0)
    return (p - p.min()) / (1e-7 + (p.max() - p.min()))


def gini(a):
    a = np.abs(a / np.max(np.abs(a))).flatten() + 1e-7
    a = np.sort(a)
    n = a.shape[0]
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * a) / (n * np.sum(a)))


def entropy(a):
    a = np.abs(a / np.max(np.abs(a))).flatten()
    p = a / np.sum(a)
    return float(-np.sum(p * np.log(p + 1e-12)))


def abs_pixels(m):
    p = np.abs(m).reshape(-1, m.shape[-2], m.shape[-1]).sum(0)
    return p / p.max()


def saliency(model, x, target):
    xt = torch.as_tensor(x).clone().requires_grad_(True)
    model(xt)[np.arange(len(x)), target].sum().backward()
    return xt.grad.abs().numpy()


def make_mlp():
    """mlp.onnx: Flatten, Gemm(64->16), ReLU, Gemm(16->4) on (N,1,8,8): a model with no conv weights."""
    torch.manual_seed(3)
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)).eval()
    torch.onnx.export(mlp, torch.zeros(1, 1, 8, 8), os.path.join(OUT, "mlp.onnx"), opset_version=13,
                      input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


def main():
    os.makedirs(OUT, exist_ok=True)
    make_mlp()
    model = mf.build("vgg", 23).double()
    x32 = np.load(os.path.join(METHODS, "vgg/input.npy"))
    x = x32.astype(np.float64)
    stored = np.load(os.path.join(METHODS, "vgg/logits.npy"))
    got = logits(model, x)
    assert np.abs(got - stored).max() < 1e-4, "the rebuilt vgg model does not give the stored logits"
    n, c, h, w = x.shape
    top1 = got.argmax(1)
    cam = np.load(os.path.join(METHODS, "vgg/gradcam_top1.npy")).astype(np.float32)
    g = np.random.default_rng(5)
    inp = (g.standard_normal((n, c, h, w)) * np.linspace(0.2, 2, h * w).reshape(1, 1, h, w)).astype(np.float32)
    np.save(os.path.join(OUT, "map_cam.npy"), cam)
    np.save(os.path.join(OUT, "map_input.npy"), inp)
    cases = []
    for i in range(n):
        xi = x[i:i + 1]
        t = int(top1[i])
        for kind, m in (("cam", cam[i].astype(np.float64)), ("input", inp[i].astype(np.float64))):
            is_cam = kind == "cam"
            pix32 = (cam[i] if is_cam else inp[i].sum(0, dtype=np.float32)).astype(np.float64).ravel()
            case = {"image": i, "map": kind, "target": t}
            z = np.zeros_like(xi)
            _, _, case["deletion"] = curve(model, xi, pix32, t, STEPS, z, "deletion")
            dcurve, fr, _ = curve(model, xi, pix32, t, STEPS, z, "deletion")
            case["deletion_curve"] = dcurve.tolist()
            case["fractions"] = fr.tolist()
            _, _, case["insertion"] = curve(model, xi, pix32, t, STEPS, blur(xi), "insertion")
            _, _, case["morf_mean"] = curve(model, xi, pix32, t, STEPS, np.full_like(xi, xi.mean()), "morf")
            _, _, case["lerf_blur"] = curve(model, xi, pix32, t, STEPS, blur(xi), "lerf")
            _, _, case["lerf_zeros"] = curve(model, xi, pix32, t, STEPS, z, "lerf")
            case["road"] = road(model, xi, pix32, t, i)
            u = unit(m, is_cam)
            y, o = probs(model, xi)[0, t], probs(model, xi * u[None, None])[0, t]
            case["avgdrop"] = float(max(0.0, y - o) / y)
            case["increase"] = float(o > y)
            zi = infidelity_noise(i, PERTURB * c * h * w).reshape(PERTURB, c, h, w)
            I = SIGMA * zi.astype(np.float32).astype(np.float64)
            I = I.astype(np.float32).astype(np.float64)
            a = np.broadcast_to(m if not is_cam else m[None], (c, h, w))
            dots = (a[None] * I).reshape(PERTURB, -1).sum(1)
            fx = logits(model, xi)[0, t]
            fp = logits(model, (xi - I).astype(np.float32).astype(np.float64))[:, t]
            diff = fx - fp
            case["infidelity"] = float(np.mean((dots - diff) ** 2))
            beta = np.mean(dots * diff) / np.mean(dots * dots)
            case["infidelity_normalized"] = float(np.mean((beta * dots - diff) ** 2))
            case["sparseness"] = gini(m)
            case["complexity"] = entropy(m)
            other = cam[(i + 1) % n].astype(np.float64) if is_cam else inp[(i + 1) % n].astype(np.float64)
            pa, pb = abs_pixels(m), abs_pixels(other)
            case["spearman"] = float(scipy.stats.spearmanr(pa.flatten(), pb.flatten()).correlation)
            case["ssim"] = float(skimage.metrics.structural_similarity(pa, pb, data_range=1.0))
            cases.append(case)
        # sensitivity-max of saliency
        t = int(top1[i])
        e = saliency(model, x[i:i + 1], np.array([t]))[0]
        uu = sensitivity_uniform(i, PERTURB * c * h * w).reshape(PERTURB, c, h, w)
        delta = (RADIUS * (2 * uu - 1)).astype(np.float32).astype(np.float64)
        xp = (x[i:i + 1] + delta).astype(np.float32).astype(np.float64)
        ep = saliency(model, xp, np.full(PERTURB, t))
        sens = max(np.linalg.norm((ep[j] - e).ravel()) / np.linalg.norm(e.ravel()) for j in range(PERTURB))
        cases.append({"image": i, "map": "saliency", "target": t, "sensitivity": float(sens)})
    out = {"generator": "scripts/make_metric_fixtures.py", "model": "../methods/vgg/model.onnx",
           "input": "../methods/vgg/input.npy", "maps": {"cam": "map_cam.npy", "input": "map_input.npy"},
           "steps": STEPS, "perturbations": PERTURB, "sigma": SIGMA, "radius": RADIUS,
           "scores": "softmax probability (infidelity: raw logit)", "cases": cases}
    with open(os.path.join(OUT, "metrics.json"), "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", len(cases), "cases to", OUT)


if __name__ == "__main__":
    main()
