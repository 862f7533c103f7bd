#!/usr/bin/python3
"""Score-CAM on volumes: golden maps for the R3D parity fixture (scripts/make_volume_fixtures.py),
computed in float64 by a PyTorch re-implementation of pytorch-grad-cam's ScoreCAM with its 3-D
upsampling: the layer's activation A (N,K,d,h,w) is upsampled to the input's (D,H,W) by
F.interpolate(mode="trilinear", align_corners=True), each channel min-max normalised over the
whole volume, M_k = (U_k - min) / (max - min + 1e-8), the image masked by it scored (raw
top-1 logit), w = softmax_k(s), and cam = sum_k w_k A_k goes through the 3-D CAM finish of the
other volume goldens (ReLU, min-max, trilinear resize with half-voxel centres, ReLU, min-max).

    /usr/bin/python3 scripts/make_volume_scorecam_fixtures.py   # writes src/test/resources/fixtures/volume_methods/

Two layers: layer4's output (the input of the global average pool, salient's --layer auto;
(16,1,2,2): one depth slice) and layer3's output ((12,2,3,3): the depth axis is interpolated too).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_arch_fixtures import calibrate_bn, randomise_bn  # noqa: E402
from make_volume_fixtures import ARCHS, METHODS_OUT, OUT, cam_finish  # noqa: E402


def score_cam(model, layer, x, top1):
    acts = {}
    hook = layer.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o.detach().clone()))
    with torch.no_grad():
        model(x)
    hook.remove()
    a = acts["a"]
    n, k = a.shape[:2]
    up = F.interpolate(a, size=tuple(x.shape[2:]), mode="trilinear", align_corners=True)
    flat = up.reshape(n, k, -1)
    mn, mx = flat.min(-1).values, flat.max(-1).values
    masks = (up - mn[..., None, None, None]) / ((mx - mn)[..., None, None, None] + 1e-8)
    scores = torch.zeros(n, k, dtype=torch.float64)
    with torch.no_grad():
        for i in range(n):
            logits = model(x[i:i + 1] * masks[i][:, None])
            scores[i] = logits[:, top1[i]]
    w = torch.softmax(scores, dim=1)
    constant = ((mx - mn) == 0).sum(1).tolist()  # per image
    return cam_finish((w[:, :, None, None, None] * a).sum(1), tuple(x.shape[2:])), constant


def main():
    name = "r3d"
    ctor, shape, _ = ARCHS[name]
    i = list(ARCHS).index(name)
    torch.manual_seed(7000 + i)
    gen = torch.Generator().manual_seed(8000 + i)
    model = ctor()
    randomise_bn(model, gen)
    calibrate_bn(model, shape, gen)
    x32 = torch.randn(*shape, generator=gen)
    stored = np.load(os.path.join(OUT, "r3d_folded", "input.npy"))
    assert np.array_equal(stored, x32.numpy()), "the parity fixture was made from another seed"
    model = model.double().eval()
    x = x32.double()
    with torch.no_grad():
        top1 = model(x).argmax(1)
    os.makedirs(METHODS_OUT, exist_ok=True)
    for tag, layer in (("layer4", model.layer4), ("layer3", model.layer3)):
        cam, constant = score_cam(model, layer, x, top1)
        np.save(os.path.join(METHODS_OUT, f"scorecam_r3d_{tag}.npy"), np.ascontiguousarray(cam.float().numpy()))
        print(f"scorecam r3d {tag}: {tuple(cam.shape)}, constant channels per image {constant}")
    np.save(os.path.join(METHODS_OUT, "top1_r3d.npy"), top1.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
