#!/usr/bin/env python3
"""Golden references of the coalition methods over segments, from PyTorch re-implementations of
their exact definitions (../shared/PEERS.md section 4.1), on the two method fixture models of
scripts/make_method_fixtures.py (rebuilt from their seeds; their logits are checked against the
stored ones):

  shapley     exact Shapley values by enumeration of all 2^M coalitions: a segment present is the
              input, absent the baseline; phi_j = sum_S |S|!(M-|S|-1)!/M! (f(S+j) - f(S)).
  kernelshap  Captum KernelShap with every coalition enumerated: all-on and all-off with weight 1e6,
              each other coalition of size k with the Shapley kernel (M-1)/(C(M,k) k (M-k)),
              sklearn LinearRegression(sample_weight) on the 0/1 coalition matrix (Captum's
              SkLearnLinearRegression); the coefficients are the attributions.

  lime        Captum Lime with salient's random stream: segment j of sample s of image i is kept when
              normal (i<<40) + s*M + j of the Philox stream of the seed is negative (Bernoulli(0.5));
              weight exp(-d^2/2w^2), d = 1 - cos(x, x_s) (torch cosine_similarity); sklearn
              Lasso(alpha, sample_weight) to tight tolerance; the coefficients are the attributions.
  kernelshap  sampled as Captum: rows all-on, all-off (1e6), then per sample s the M+1 normals at
  (sampled)   (i<<40) + s*(M+1): size k from Phi(z_0) on the cumulative Shapley-kernel size
              distribution, the k segments with the largest z_1..z_M; LinearRegression.

Also a weighted Lasso problem solved by sklearn's Lasso (Captum's SkLearnLasso, as Lime fits it)
to high precision, for the native coordinate descent.

References are computed in float64 from the float32 weights and inputs, stored as float32.
Writes src/test/resources/fixtures/shap/ (manifest.json, per-model case files, lasso_*.npy).
Usage: /usr/bin/python3 scripts/make_shap_fixtures.py
"""
import json
import math
import os
import sys

import numpy as np
import torch
from sklearn.linear_model import Lasso, LinearRegression

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_method_fixtures as mf  # noqa: E402

REPO = mf.REPO
METHODS = os.path.join(REPO, "src/test/resources/fixtures/methods")
OUT = os.path.join(REPO, "src/test/resources/fixtures/shap")


def grid_labels(k, h, w):
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return (y * k // h) * k + (x * k // w)


def coalition_logits(model, x, base, targets, labels, m):
    """f(coalition e) for e in 0..2^M-1 (bit j: segment j present), per image: (N, 2^M)."""
    lab = torch.as_tensor(labels)
    lab = lab[None, None] if lab.dim() == 2 else lab[:, None]
    out = []
    for e in range(2 ** m):
        keep = torch.zeros_like(lab, dtype=x.dtype)
        for j in range(m):
            if (e >> j) & 1:
                keep = keep + (lab == j).to(x.dtype)
        xp = base + keep * (x - base)
        out.append(model(xp).gather(1, targets[:, None])[:, 0])
    return torch.stack(out, 1).numpy()


def exact_shapley(f, m):
    n = f.shape[0]
    phi = np.zeros((n, m))
    for j in range(m):
        for e in range(2 ** m):
            if (e >> j) & 1:
                continue
            s = bin(e).count("1")
            w = math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m)
            phi[:, j] += w * (f[:, e | (1 << j)] - f[:, e])
    return phi


def enumerated_kernel_shap(f, m):
    z = np.array([[(e >> j) & 1 for j in range(m)] for e in range(2 ** m)], dtype=np.float64)
    k = z.sum(1)
    w = np.array([1e6 if a in (0, m) else (m - 1) / (math.comb(m, int(a)) * a * (m - a)) for a in k])
    return np.stack([LinearRegression().fit(z, f[i], sample_weight=w).coef_ for i in range(f.shape[0])])


def to_map(values, labels, shape):
    """(N,M) segment values -> (N,C,H,W) with each element its segment's value."""
    n, c, h, w = shape
    lab = labels if labels.ndim == 3 else np.broadcast_to(labels, (n, h, w))
    out = np.stack([values[i][lab[i]] for i in range(n)])
    return np.repeat(out[:, None], c, axis=1)


def normals(seed, image, s0, count, d):
    from make_perturbation_fixtures import philox_normal
    base = (image << 40) + s0 * d
    return np.array([philox_normal(seed, base + g) for g in range(count * d)]).reshape(count, d)


def evaluate(model, x, base, targets, labels, keep):
    """f(x with the segments keep[i]: (N,M) present) per image, and the cosine distance to x."""
    lab = torch.as_tensor(labels)
    lab = lab[None].expand(x.shape[0], -1, -1) if lab.dim() == 2 else lab
    m = torch.stack([torch.as_tensor(keep[i])[lab[i]] for i in range(x.shape[0])])[:, None].to(x.dtype)
    xp = base + m * (x - base)
    f = model(xp).gather(1, targets[:, None])[:, 0]
    cos = torch.stack([torch.cosine_similarity(x[i].flatten(), xp[i].flatten(), dim=0) for i in range(x.shape[0])])
    return f.numpy(), (1 - cos).numpy()


def lime(model, x, base, targets, labels, m, samples, seed, width, alpha):
    n = x.shape[0]
    z = [normals(seed, i, 0, samples, m) < 0 for i in range(n)]
    f = np.zeros((n, samples)); d = np.zeros((n, samples))
    for s in range(samples):
        f[:, s], d[:, s] = evaluate(model, x, base, targets, labels, np.stack([z[i][s] for i in range(n)]).astype(np.float64))
    w = np.exp(-d ** 2 / (2 * width ** 2))
    return np.stack([Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000).fit(z[i].astype(np.float64), f[i],
                                                                         sample_weight=w[i]).coef_ for i in range(n)])


def kernel_shap_sampled(model, x, base, targets, labels, m, samples, seed):
    from make_perturbation_fixtures import phi
    n = x.shape[0]
    cum = np.cumsum([0.0] + [(m - 1) / (k * (m - k)) for k in range(1, m)])
    designs = []
    for i in range(n):
        zz = normals(seed, i, 2, samples - 2, m + 1)
        rows = [np.ones(m), np.zeros(m)]
        for r in zz:
            u = phi(float(r[0])) * cum[m - 1]
            k = 1
            while k < m - 1 and u >= cum[k]:
                k += 1
            row = np.zeros(m)
            row[np.argsort(-r[1:], kind="stable")[:k]] = 1
            rows.append(row)
        designs.append(np.stack(rows))
    f = np.zeros((n, samples))
    for s in range(samples):
        f[:, s], _ = evaluate(model, x, base, targets, labels, np.stack([designs[i][s] for i in range(n)]))
    out = []
    for i in range(n):
        k = designs[i].sum(1)
        w = np.where((k == 0) | (k == m), 1e6, 1.0)
        out.append(LinearRegression().fit(designs[i], f[i], sample_weight=w).coef_)
    return np.stack(out)


def lasso_fixture():
    rng = np.random.default_rng(5)
    n, m = 120, 12
    x = (rng.random((n, m)) < 0.5).astype(np.float64)
    beta = rng.normal(size=m) * (rng.random(m) < 0.6)
    y = 0.7 + x @ beta + 0.3 * rng.normal(size=n)
    w = np.exp(-rng.random(n))
    fit = Lasso(alpha=0.01, tol=1e-14, max_iter=1_000_000).fit(x, y, sample_weight=w)
    for name, a in (("x", x), ("y", y), ("w", w), ("coef", fit.coef_), ("intercept", np.array([fit.intercept_]))):
        np.save(os.path.join(OUT, f"lasso_{name}.npy"), a)
    lr = LinearRegression().fit(x, y, sample_weight=w)
    np.save(os.path.join(OUT, "lstsq_coef.npy"), lr.coef_)
    np.save(os.path.join(OUT, "lstsq_intercept.npy"), np.array([lr.intercept_]))
    return {"x": "lasso_x.npy", "y": "lasso_y.npy", "w": "lasso_w.npy", "alpha": 0.01,
            "lasso": ["lasso_coef.npy", "lasso_intercept.npy"], "lstsq": ["lstsq_coef.npy", "lstsq_intercept.npy"],
            "reference": "sklearn Lasso(alpha=0.01, tol=1e-14).fit(x, y, sample_weight=w); LinearRegression().fit(...)"}


def sampled_cases(model, x, top1, given, seg, add):
    h, w = x.shape[2:]
    g = grid_labels(3, h, w)
    add("lime_grid3_zeros_n60_seed3_top1", "lime", {"--segments": "grid:3", "--samples": "60", "--seed": "3"}, "top1",
        lime(model, x, torch.zeros_like(x), top1, g, 9, 60, 3, 1.0, 0.01), g)
    add("lime_npy_const_n40_w05_a002_given", "lime", {"--segments": "SEGMENTS", "--baseline": "constant:0.5",
        "--samples": "40", "--kernel-width": "0.5", "--lasso-alpha": "0.02"}, "given",
        lime(model, x, torch.full_like(x, 0.5), given, seg, 6, 40, 0, 0.5, 0.02), seg)
    add("kernelshap_grid3_zeros_n50_seed7_top1", "kernelshap", {"--segments": "grid:3", "--samples": "50", "--seed": "7"},
        "top1", kernel_shap_sampled(model, x, torch.zeros_like(x), top1, g, 9, 50, 7), g)


def sampled_only():
    """Recomputes only the sampled cases (lime, sampled kernelshap) into the existing manifest."""
    man = json.load(open(os.path.join(OUT, "manifest.json")))
    for name, seed in (("resnet", 11), ("vgg", 23)):
        entry = json.load(open(os.path.join(METHODS, "manifest.json")))["models"][name]
        model = mf.build(name, seed).double()
        x = torch.from_numpy(np.load(os.path.join(METHODS, entry["input"]))).double()
        with torch.no_grad():
            top1 = model(x).argmax(1)
            given = torch.tensor(mf.GIVEN)
            seg = np.load(os.path.join(OUT, man["models"][name]["seg" + "ments"]))
            cases = [c for c in man["models"][name]["cases"] if c["method"] == "shapley" or
                     (c["method"] == "kernelshap" and "--seed" not in c["options"])]

            def add(cid, method, options, rule, vals, labels):
                t = top1 if rule == "top1" else given
                out = to_map(vals, labels, x.shape).astype(np.float32)
                rel = f"{name}/{cid}.npy"
                np.save(os.path.join(OUT, rel), out)
                cases.append({"id": f"{name}/{cid}", "method": method, "options": options, "target": rule,
                              "targets": t.tolist(), "output": rel, "shape": list(out.shape), "segments": int(vals.shape[1])})
            sampled_cases(model, x, top1, given, seg, add)
        man["models"][name]["cases"] = cases
        print(f"== {name}: {len(cases)} cases")
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(man, fh, indent=1)
        fh.write("\n")


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
        with torch.no_grad():
            logits = model(x)
        err = np.abs(logits.numpy() - np.load(os.path.join(METHODS, entry["logits"]))).max()
        assert err < 1e-5, f"{name}: rebuilt model's logits differ from the fixture's by {err}"
        top1 = logits.argmax(1)
        given = torch.tensor(mf.GIVEN)
        n, c, h, w = x.shape
        rng = np.random.default_rng(seed + 100)
        seg = rng.integers(0, 6, size=(n, h, w))
        seg[seg == 4] = 5                     # a label that never occurs: a null player
        seg_file = f"{name}/segments_labels.npy"
        np.save(os.path.join(OUT, seg_file), seg.astype(np.int64))
        cases = []

        def add(cid, method, options, rule, vals, labels):
            t = top1 if rule == "top1" else given
            out = to_map(vals, labels, x.shape).astype(np.float32)
            rel = f"{name}/{cid}.npy"
            np.save(os.path.join(OUT, rel), out)
            cases.append({"id": f"{name}/{cid}", "method": method, "options": options, "target": rule,
                          "targets": t.tolist(), "output": rel, "shape": list(out.shape), "segments": int(vals.shape[1])})

        with torch.no_grad():
            g = grid_labels(3, h, w)
            f = coalition_logits(model, x, torch.zeros_like(x), top1, g, 9)
            add("shapley_grid3_zeros_top1", "shapley", {"--segments": "grid:3"}, "top1", exact_shapley(f, 9), g)
            add("kernelshap_grid3_zeros_top1", "kernelshap", {"--segments": "grid:3", "--samples": "510"}, "top1",
                enumerated_kernel_shap(f, 9), g)
            f = coalition_logits(model, x, torch.full_like(x, 0.5), given, seg, 6)
            add("shapley_npy_const_given", "shapley", {"--segments": "SEGMENTS", "--baseline": "constant:0.5",
                                                       "--exact": "true"}, "given", exact_shapley(f, 6), seg)
            add("kernelshap_npy_const_given", "kernelshap", {"--segments": "SEGMENTS", "--baseline": "constant:0.5",
                                                             "--samples": "1000"}, "given", enumerated_kernel_shap(f, 6), seg)
            sampled_cases(model, x, top1, given, seg, add)
        models[name] = {"model": entry["model"], "input": entry["input"], "segments": seg_file, "cases": cases}
        print(f"== {name}: {len(cases)} cases")
    manifest = {
        "generator": "scripts/make_shap_fixtures.py",
        "models_and_inputs": "relative to src/test/resources/fixtures/methods (model, input)",
        "precision": "references computed in float64 from the float32 weights and inputs, stored as float32",
        "target": "raw logit; top1 = argmax of the clean logits, given = " + str(mf.GIVEN),
        "tolerance": {"rule": "|got - ref| <= atol + rtol*|ref|", "rtol": 1e-4, "atol": "1e-4 * max|ref|"},
        "models": models,
        "lasso": lasso_fixture(),
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    sampled_only() if sys.argv[1:] == ["sampled"] else main()
