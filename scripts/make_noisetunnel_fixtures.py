#!/usr/bin/python3
"""Golden fixtures for Captum's NoiseTunnel over other methods (salient explain --noise-tunnel), computed in
PyTorch on the two seeded models of make_method_fixtures.py (their model.onnx and input.npy are reused and
checked to be the ones base.build rebuilds).

Captum 0.8 noise_tunnel.py: each image x_i gets S noisy copies x_i + e_{s,i}, e ~ N(0, stdev^2) per element;
the wrapped method is applied to every copy with the clean image's target; then
  smoothgrad     = (1/S) sum_s a_s
  smoothgrad_sq  = (1/S) sum_s a_s^2
  vargrad        = (1/S) sum_s a_s^2 - ((1/S) sum_s a_s)^2
The noise (S,N,C,H,W) is drawn here (seeded torch.randn x stdev) and stored as noise.npy; the test passes it
in through NoiseTunnel's NoiseSource hook. Wrapped methods: ig (Gauss-Legendre, zeros baseline, as
make_method_fixtures.py), saliency (|dy/dx|, Captum Saliency abs=True) and gradcam (pytorch-grad-cam, on the
layer the methods manifest names).

Each reference is computed in float64 from the float32 weights, inputs and noise, and once more in float32:
elements where the two differ by more than 1e-5 max|ref| sit on a ReLU kink at some evaluation point and are
listed in <case>_unstable.npy (1.0 = left out; at most 3 % of a case).

Writes src/test/resources/fixtures/noisetunnel/manifest.json and <model>/<case>.npy.
Usage: /usr/bin/python3 scripts/make_noisetunnel_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_method_fixtures as base  # noqa: E402

METHODS_ROOT = os.path.join(base.REPO, "src/test/resources/fixtures/methods")
OUT = os.path.join(base.REPO, "src/test/resources/fixtures/noisetunnel")
SAMPLES, STDEV, IG_STEPS = 4, 0.3, 8


def inner(method, model, x, t, layer_ok=True):
    if method == "ig":
        attr, _, _, _ = base.integrated_gradients(model, x, torch.zeros_like(x), t, "gausslegendre", IG_STEPS)
        return attr
    if method == "saliency":
        return base.grad_wrt_input(model, x, t).abs()
    if method == "gradcam":
        cam, _ = base.cam_method(model, x, t, "gradcam")
        return cam
    raise ValueError(method)


def tunnel(nt, method, model, x, noise, t):
    outs = torch.stack([inner(method, model, x + noise[s], t) for s in range(noise.shape[0])])
    mean = outs.mean(0)
    sq = (outs ** 2).mean(0)
    return {"smoothgrad": mean, "smoothgrad_sq": sq, "vargrad": sq - mean ** 2}[nt]


def main():
    torch.set_num_threads(2)
    failures = []
    methods_manifest = json.load(open(os.path.join(METHODS_ROOT, "manifest.json")))
    models = {}
    for name, seed in (("resnet", 11), ("vgg", 23)):
        print(f"== {name}")
        os.makedirs(os.path.join(OUT, name), exist_ok=True)
        model32 = base.build(name, seed)
        x32, _ = base.make_input(model32, seed)
        stored = np.load(os.path.join(METHODS_ROOT, name, "input.npy"))
        base.check(np.array_equal(stored, x32.numpy()), f"{name}: input.npy of the methods fixtures is reproduced",
                   failures)
        model = base.build(name, seed).double()
        x = x32.double()
        layer = next(c["options"]["layer"] for c in methods_manifest["models"][name]["cases"]
                     if c["method"] == "gradcam")
        with torch.no_grad():
            top1 = model(x).argmax(1)
        given = torch.tensor(base.GIVEN)
        g = torch.Generator().manual_seed(seed + 7)
        noise32 = (STDEV * torch.randn(SAMPLES, *x32.shape, generator=g)).float()
        np.save(os.path.join(OUT, name, "noise.npy"), noise32.numpy())
        cases = []
        for nt, method, rule in (("smoothgrad", "ig", "top1"), ("smoothgrad_sq", "ig", "top1"),
                                 ("vargrad", "ig", "given"), ("smoothgrad", "saliency", "given"),
                                 ("vargrad", "saliency", "top1"), ("smoothgrad", "gradcam", "top1"),
                                 ("smoothgrad_sq", "gradcam", "given")):
            t = top1 if rule == "top1" else given
            ref = tunnel(nt, method, model, x, noise32.double(), t)
            ref32 = tunnel(nt, method, model32, x32, noise32, t).double()
            scale = ref.abs().max().item()
            unstable = ((ref - ref32).abs() > 1e-5 * scale).float()
            share = unstable.mean().item()
            cid = f"{nt}_{method}_{rule}"
            base.check(share <= 0.03, f"{name}/{cid}: {100 * share:.2f}% kink-sensitive elements (<= 3%)", failures)
            rel = f"{name}/{cid}.npy"
            np.save(os.path.join(OUT, rel), ref.numpy().astype(np.float32))
            case = {"id": f"{name}/{cid}", "noise_tunnel": nt, "method": method, "target": rule,
                    "targets": t.tolist(), "output": f"noisetunnel/{rel}", "shape": list(ref.shape)}
            if method == "ig":
                case["options"] = {"--steps": str(IG_STEPS), "--integration": "gausslegendre", "--baseline": "zeros"}
            if method == "gradcam":
                case["options"] = {"--layer": layer}
            if unstable.sum() > 0:
                urel = f"{name}/{cid}_unstable.npy"
                np.save(os.path.join(OUT, urel), unstable.numpy().astype(np.float32))
                case["unstable"] = f"noisetunnel/{urel}"
                case["unstable_elements"] = int(unstable.sum().item())
            print(f"  {cid}: shape {list(ref.shape)}, max|ref| {scale:.3g}, unstable {int(unstable.sum().item())}")
            cases.append(case)
        models[name] = {"model": f"methods/{name}/model.onnx", "input": f"methods/{name}/input.npy",
                        "noise": f"noisetunnel/{name}/noise.npy", "given": base.GIVEN, "cases": cases}
    manifest = {
        "generator": "scripts/make_noisetunnel_fixtures.py",
        "definition": "Captum NoiseTunnel: x + noise[s] per sample s, the wrapped method with the clean image's "
                      "target; smoothgrad = mean, smoothgrad_sq = mean of squares, vargrad = mean of squares - "
                      "square of mean",
        "samples": SAMPLES, "stdev": STDEV, "noise_layout": "(S,N,C,H,W), float32",
        "paths": "relative to src/test/resources/fixtures",
        "tolerance": {"rule": "|got - ref| <= atol", "input_atol": "1e-4 * max|ref|", "cam_atol": 1e-4},
        "models": models,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    if failures:
        print(f"{len(failures)} self-check(s) FAILED:")
        for f_ in failures:
            print("  " + f_)
        sys.exit(1)
    print("all self-checks passed")


if __name__ == "__main__":
    main()
