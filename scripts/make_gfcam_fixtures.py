#!/usr/bin/env python3
"""Golden references of the gradient-free CAMs that re-run part of the network per channel:
Ablation-CAM (pytorch-grad-cam AblationCAM), IS-CAM and SS-CAM (torch-cam ISCAM/SSCAM weights, then
salient's CAM pipeline), from PyTorch re-implementations of ../shared/PEERS.md sections 2.2 and 3, on
the two method fixture models of scripts/make_method_fixtures.py (rebuilt from their seeds; their
logits are checked against the stored ones).

  ablationcam  the layer's activation A with channel k set to 0 when min(A) == 0 (per image), else to
               min(A) - 1e7; y_k = target logit of the rest of the network on it; w_k = (y - y_k)/y;
               cam = relu(sum_k w_k A_k) -> min-max -> bilinear resize (half-pixel) -> min-max.
               Layers: the CAM layer, a layer inside a residual block (the rest of the network also
               reads the block's input), and a pre-activation layer whose minimum is not 0.
  iscam        torch-cam ISCAM: M_k = upsample(minmax_hw(A_k)) (bilinear, align_corners=False);
               coefficient c_i = sum_{j<=i} j/N for i = 1..N; s_k = (1/N) sum_i (y(c_i M_k x) - y(x));
               w = softmax_k(s); then the CAM pipeline.
  sscam        torch-cam SSCAM: s_k = (1/N) sum_i (y((M_k + d_ik) x) - y(x)), d_ik ~ N(0, std^2) of shape
               (H, W) per sample i and channel k; w = softmax_k(s); then the CAM pipeline. The noise draws
               are stored (sscam_noise.npy, (N, images, K, H, W)) and fed to salient through a test hook.

References are computed in float64 from the float32 weights and inputs, stored as float32.
Writes src/test/resources/fixtures/methods/manifest-gfcams.json and methods/<model>/gfcam_*.npy.
Usage: /usr/bin/python3 scripts/make_gfcam_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_method_fixtures as mf  # noqa: E402

ROOT = os.path.join(mf.REPO, "src/test/resources/fixtures/methods")


def split(model, name, layer):
    """(x -> A, A -> logits) for a layer tensor of the fixture models."""
    if name == "resnet":
        if layer == "/block2/relu1/Relu_output_0":
            def pre(x):
                h = model.block1(model.stem(x))
                return model.block2.relu1(model.block2.bn1(model.block2.conv1(h))), h

            def post(a, h):
                b = model.block2
                return model.head(b.relu2(b.bn2(b.conv2(a)) + b.down(h)))
            return pre, post
        if layer == "/block2/bn2/BatchNormalization_output_0":
            def pre(x):
                h = model.block1(model.stem(x))
                b = model.block2
                return b.bn2(b.conv2(b.relu1(b.bn1(b.conv1(h))))), h

            def post(a, h):
                return model.head(model.block2.relu2(a + model.block2.down(h)))
            return pre, post
    if name == "vgg" and layer == "/block2/block2.0/Conv_output_0":
        return (lambda x: (model.block2[0](model.block1(x)), None),
                lambda a, h: model.head(model.block2[1](a)))
    return (lambda x: (model.features(x), None)), (lambda a, h: model.head(a))


def ablation_cam(model, name, layer, x, targets):
    pre, post = split(model, name, layer)
    a, h = pre(x)
    n, k = a.shape[:2]
    y = post(a, h).gather(1, targets[:, None])[:, 0]
    w = torch.zeros(n, k, dtype=x.dtype)
    for i in range(n):
        batch = a[i:i + 1].repeat(k, 1, 1, 1)
        mn = a[i].min()
        value = 0.0 if mn == 0 else mn - 1e7
        for c in range(k):
            batch[c, c] = value
        hi = None if h is None else h[i:i + 1].repeat(k, 1, 1, 1)
        yk = post(batch, hi)[:, targets[i]]
        w[i] = (y[i] - yk) / y[i]
    cam = (w[:, :, None, None] * a).sum(1)
    return mf.cam_postprocess(cam, x.shape[2:])


def torchcam_masks(a, size):
    """torch-cam's ScoreCAM-family masks: per-channel min-max at feature resolution (x - min, then /
    (max + 1e-8)), bilinear upsampling with align_corners=False."""
    flat = a.flatten(2)
    flat = flat - flat.min(-1, keepdim=True).values
    flat = flat / (flat.max(-1, keepdim=True).values + 1e-8)
    return F.interpolate(flat.view_as(a), size=size, mode="bilinear", align_corners=False)


def is_cam(model, x, targets, samples):
    a = model.features(x)
    n, k = a.shape[:2]
    m = torchcam_masks(a, x.shape[2:])
    y0 = model(x).gather(1, targets[:, None])[:, 0]
    s = torch.zeros(n, k, dtype=x.dtype)
    coeff = 0.0
    for i in range(samples):
        coeff += (i + 1) / samples
        for j in range(n):
            s[j] += model(coeff * m[j][:, None] * x[j:j + 1])[:, targets[j]] - y0[j]
    w = torch.softmax(s / samples, dim=1)
    return mf.cam_postprocess((w[:, :, None, None] * a).sum(1), x.shape[2:])


def ss_cam(model, x, targets, noise):
    """noise: (N samples, images, K, H, W)."""
    a = model.features(x)
    n, k = a.shape[:2]
    m = torchcam_masks(a, x.shape[2:])
    y0 = model(x).gather(1, targets[:, None])[:, 0]
    s = torch.zeros(n, k, dtype=x.dtype)
    for i in range(noise.shape[0]):
        for j in range(n):
            s[j] += model((m[j] + noise[i, j])[:, None] * x[j:j + 1])[:, targets[j]] - y0[j]
    w = torch.softmax(s / noise.shape[0], dim=1)
    return mf.cam_postprocess((w[:, :, None, None] * a).sum(1), x.shape[2:])


def philox_normals(seed, offset, count):
    """Elements [offset, offset+count) of salient's normal stream (native/philox.h), vectorised:
    Philox4x32-10 on the block counter g >> 2, Box-Muller on lanes (0,1) and (2,3), as
    make_perturbation_fixtures.philox_normal computes one element."""
    M = np.uint64(0xFFFFFFFF)
    g = np.arange(offset, offset + count, dtype=np.uint64)
    block = g >> np.uint64(2)
    c0, c1 = block & M, (block >> np.uint64(32)) & M
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF)
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0) & M, p1 & M, ((p0 >> np.uint64(32)) ^ c3 ^ k1) & M, p0 & M
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & M, (k1 + np.uint64(0xBB67AE85)) & M
    lane = (g & np.uint64(3)).astype(np.int64)
    a = np.where(lane < 2, c0, c2).astype(np.float64)
    b = np.where(lane < 2, c1, c3).astype(np.float64)
    u1 = (a + 1.0) * 2.3283064365386963e-10
    u2 = b * 2.3283064365386963e-10
    r = np.sqrt(-2.0 * np.log(u1))
    t = 6.283185307179586 * u2
    return np.where(lane & 1, r * np.sin(t), r * np.cos(t)).astype(np.float32)


def sscam_noise(seed, std, images, samples, k, h, w):
    """(samples, images, K, H, W): std times the stream at ((i*S + s)*K + k)*H*W, as salient's SsCam."""
    out = np.zeros((samples, images, k, h, w), dtype=np.float64)
    for i in range(images):
        for s in range(samples):
            z = philox_normals(seed, (i * samples + s) * k * h * w, k * h * w)
            out[s, i] = np.float32(std) * z.reshape(k, h, w).astype(np.float64)
    return torch.from_numpy(out)


def main():
    torch.set_num_threads(2)
    src = json.load(open(os.path.join(ROOT, "manifest.json")))
    models = {}
    for name, seed in (("resnet", 11), ("vgg", 23)):
        entry = src["models"][name]
        model = mf.build(name, seed).double()
        x = torch.from_numpy(np.load(os.path.join(ROOT, entry["input"]))).double()
        logits = model(x).detach()
        err = np.abs(logits.numpy() - np.load(os.path.join(ROOT, entry["logits"]))).max()
        assert err < 1e-5, f"{name}: rebuilt model's logits differ from the fixture's by {err}"
        top1 = logits.argmax(1)
        given = torch.tensor(mf.GIVEN)
        cases = []

        def add(cid, method, cli, rule, out, extra=None):
            t = top1 if rule == "top1" else given
            target = {"rule": "top1"} if rule == "top1" else {"rule": "given", "classes": mf.GIVEN}
            rel = f"{name}/gfcam_{cid}.npy"
            np.save(os.path.join(ROOT, rel), out.detach().numpy().astype(np.float32))
            e = {"id": f"{name}/gfcam_{cid}", "method": method, "options": {}, "cli": cli, "target": target,
                 "targets": t.tolist(), "output": rel, "shape": list(out.shape)}
            e.update(extra or {})
            cases.append(e)

        layer = entry["cam_layer"]
        layers = {"resnet": ["/block2/relu1/Relu_output_0", "/block2/bn2/BatchNormalization_output_0"],
                  "vgg": ["/block2/block2.0/Conv_output_0"]}[name]
        with torch.no_grad():
            add("ablationcam_top1", "ablationcam", {"--layer": layer}, "top1",
                ablation_cam(model, name, layer, x, top1))
            add("ablationcam_given", "ablationcam", {"--layer": layer}, "given",
                ablation_cam(model, name, layer, x, given))
            for j, l in enumerate(layers):
                a = split(model, name, l)[0](x)[0]
                add(f"ablationcam_layer{j + 1}_top1", "ablationcam", {"--layer": l}, "top1",
                    ablation_cam(model, name, l, x, top1), {"layer_min_is_zero": [bool(a[i].min() == 0) for i in range(len(a))]})
            add("iscam_top1", "iscam", {"--layer": layer}, "top1", is_cam(model, x, top1, 10))
            add("iscam_s4_given", "iscam", {"--layer": layer, "--samples": "4"}, "given", is_cam(model, x, given, 4))
            k = split(model, name, layer)[0](x)[0].shape[1]
            noise = sscam_noise(5, 2.0, x.shape[0], 4, k, x.shape[2], x.shape[3])
            add("sscam_s4_seed5_top1", "sscam", {"--layer": layer, "--samples": "4", "--seed": "5"}, "top1",
                ss_cam(model, x, top1, noise))
            noise = sscam_noise(9, 0.5, x.shape[0], 3, k, x.shape[2], x.shape[3])
            add("sscam_s3_std05_seed9_given", "sscam", {"--layer": layer, "--samples": "3", "--noise-std": "0.5", "--seed": "9"},
                "given", ss_cam(model, x, given, noise))
        models[name] = {"model": entry["model"], "input": entry["input"], "cases": cases}
        print(f"== {name}: {len(cases)} cases")
    manifest = {
        "generator": "scripts/make_gfcam_fixtures.py",
        "precision": "references computed in float64 from the float32 weights and inputs, stored as float32",
        "models": models,
    }
    with open(os.path.join(ROOT, "manifest-gfcams.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
