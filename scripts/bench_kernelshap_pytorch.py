#!/usr/bin/env python3
"""KernelSHAP on a 224x224 torchvision ResNet-18 as Captum's KernelShap computes it (re-implemented in
PyTorch; PEERS.md 4.1), the peer side of scripts/bench-kernelshap.

  prepare DIR   seeded ResNet-18 (random weights) -> DIR/resnet18.onnx; scikit-image's astronaut resized to
                224x224, ImageNet-normalised -> DIR/x.npy (1,3,224,224); skimage slic(n_segments=50,
                compactness=10, start_label=0) of the photograph -> DIR/segments.npy (224,224)
  run DIR T S P one warm-up forward of P images, then one timed KernelShap on T threads with S samples and
                perturbations_per_eval P: all-on and all-off first (weight 1e6), then sizes from the Shapley
                kernel and the top-k of torch.randn(M); the perturbed inputs mask*x + (1-mask)*0 in batches
                of P under torch.no_grad(); sklearn LinearRegression(sample_weight). Prints "seconds S".
"""
import math
import os
import sys
import time

import numpy as np
import torch
import torchvision


def model():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=1000).eval()


def prepare(d):
    from skimage import data
    from skimage.segmentation import slic
    from skimage.transform import resize
    os.makedirs(d, exist_ok=True)
    m = model()
    x = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(m, x, os.path.join(d, "resnet18.onnx"), opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    rgb = resize(data.astronaut(), (224, 224), anti_aliasing=True)          # float64 in [0,1]
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    xn = ((rgb - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
    np.save(os.path.join(d, "x.npy"), xn)
    seg = slic(rgb, n_segments=50, compactness=10, start_label=0)
    np.save(os.path.join(d, "segments.npy"), seg.astype(np.int64))
    print("segments", int(seg.max()) + 1)


def kernel_shap(m, x, labels, n_samples, ppe):
    from sklearn.linear_model import LinearRegression
    mm = int(labels.max()) + 1
    lab = torch.from_numpy(labels)[None, None]
    with torch.no_grad():
        target = int(m(x).argmax(1))
    probs = torch.tensor([(mm - 1) / (k * (mm - k)) for k in range(1, mm)])
    coalitions = [torch.ones(mm), torch.zeros(mm)]
    while len(coalitions) < n_samples:
        k = int(torch.multinomial(probs, 1)) + 1
        c = torch.zeros(mm)
        c[torch.topk(torch.randn(mm), k).indices] = 1
        coalitions.append(c)
    z = torch.stack(coalitions)
    ys = []
    with torch.no_grad():
        for s in range(0, n_samples, ppe):
            masks = z[s:s + ppe][:, lab[0, 0]][:, None]          # (P,1,H,W)
            ys.append(m(masks * x)[:, target])
    y = torch.cat(ys).numpy()
    k = z.sum(1)
    w = np.where((k == 0) | (k == mm), 1e6, 1.0)
    return LinearRegression().fit(z.numpy(), y, sample_weight=w).coef_


def run(d, threads, samples, ppe):
    torch.set_num_threads(threads)
    m = model()
    x = torch.from_numpy(np.load(os.path.join(d, "x.npy")))
    labels = np.load(os.path.join(d, "segments.npy"))
    with torch.no_grad():
        m(x.repeat(ppe, 1, 1, 1))
    t0 = time.perf_counter()
    kernel_shap(m, x, labels, samples, ppe)
    print(f"seconds {time.perf_counter() - t0:.4f}")


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
