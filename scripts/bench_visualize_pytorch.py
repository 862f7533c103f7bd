#!/usr/bin/python3
"""The PyTorch side of scripts/bench-visualize: Lucent's render_vis loop for channel objectives, one
channel at a time (as Lucent and Lucid do), and the ResNet-18 ONNX export the salient side loads.

  export OUT.onnx               torchvision resnet18 (random weights, seed 0; speed does not depend on them),
                                dynamic batch, height and width; prints the layer3 output tensor's name
  run --channels K --steps S    K channels x S steps of: fft_image(128) + to_valid_rgb (decorrelated),
                                Lucid's standard transforms (pad 12 at 0.5, jitter 8, scale, rotate, jitter 4),
                                ImageNet normalisation, resnet18 up to layer3, loss = -mean(layer3[:, c]),
                                backward, Adam(lr=0.05); prints seconds for the loop
"""
import argparse
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
CC = np.asarray([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]).astype("float32")
CCN = torch.tensor(CC / np.max(np.linalg.norm(CC, axis=0)))


def model():
    torch.manual_seed(0)
    return torchvision.models.resnet18().eval()


def fft_image(h, w, sd=0.01):
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + 1]
    freqs = np.sqrt(fx * fx + fy * fy)
    spectrum = (torch.randn(1, 3, *freqs.shape, 2) * sd).requires_grad_(True)
    scale = torch.tensor(1.0 / np.maximum(freqs, 1.0 / max(w, h))).float()[None, None, ..., None]

    def inner():
        s = scale * spectrum
        return torch.fft.irfftn(torch.view_as_complex(s), s=(h, w), norm="ortho") / 4.0
    return [spectrum], inner


def to_valid_rgb(x):
    t = x.permute(0, 2, 3, 1) @ CCN.T
    return torch.sigmoid(t.permute(0, 3, 1, 2))


def transforms(x):
    x = F.pad(x, (12, 12, 12, 12), value=0.5)
    d = np.random.choice(8), np.random.choice(8)
    x = x[:, :, d[0]:x.shape[2] - 8 + d[0], d[1]:x.shape[3] - 8 + d[1]]
    s = np.random.choice([1 + (i - 5) / 50.0 for i in range(11)])
    size = int(round(x.shape[2] * s))
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=True)
    a = math.radians(np.random.choice(list(range(-10, 11)) + 5 * [0]))
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]).unsqueeze(0)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    d = np.random.choice(4), np.random.choice(4)
    return x[:, :, d[0]:x.shape[2] - 4 + d[0], d[1]:x.shape[3] - 4 + d[1]]


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("out")
    r = sub.add_parser("run")
    r.add_argument("--channels", type=int, default=2)
    r.add_argument("--steps", type=int, default=4)
    r.add_argument("--size", type=int, default=128)
    r.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    net = model()
    if a.cmd == "export":
        torch.onnx.export(net, torch.zeros(1, 3, 128, 128), a.out, opset_version=13, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "logits": {0: "N"}})
        import onnx
        g = onnx.load(a.out).graph
        names = [n.output[0] for n in g.node if n.output[0].startswith("/layer3/") and n.op_type == "Relu"]
        print(names[-1])
        return
    torch.set_num_threads(a.threads)
    trunk = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3).eval()
    for p in trunk.parameters():
        p.requires_grad_(False)
    np.random.seed(0)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    for c in range(a.channels):
        params, image_f = fft_image(a.size, a.size)
        opt = torch.optim.Adam(params, lr=0.05)
        for _ in range(a.steps):
            opt.zero_grad()
            x = transforms(to_valid_rgb(image_f()))
            loss = -trunk((x - MEAN) / STD)[:, c].mean()
            loss.backward()
            opt.step()
    print("%.3f" % (time.perf_counter() - t0))


if __name__ == "__main__":
    main()
