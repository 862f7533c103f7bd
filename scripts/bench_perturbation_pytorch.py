#!/usr/bin/python3
"""PyTorch CPU side of scripts/bench-perturbation-vs-pytorch: the peers' own computations of two
gradient-free methods, re-implemented in plain PyTorch (neither peer is installed here), timed once.

  bench_perturbation_pytorch.py run --workload W --threads T --batch B [--size S]
      runs one warm-up forward, then times the workload once; prints
      `pytorch <workload> <seconds> s <img/s> img/s forwards <n>`
  bench_perturbation_pytorch.py export --out-dir DIR [--size S]
      writes DIR/resnet50.onnx and DIR/mobilenet_v2.onnx (seeded torchvision weights, dynamic batch)

Workloads (random seeded torchvision weights, eval mode, float32, input (B,3,S,S), target = top-1):
  scorecam-resnet50      pytorch-grad-cam ScoreCAM (score_cam.py) at layer4: activations by a forward hook,
                         nn.UpsamplingBilinear2d to the input, per-channel min-max (1e-8), every masked
                         input built at once (B x C x 3 x S x S), forwarded in chunks of BATCH_SIZE = 16
                         under no_grad, softmax of the target logits, ReLU(sum w A), min-max and resize
  occlusion-mobilenetv2  Captum Occlusion (sliding_window_shapes (3,16,16), strides 8, baseline 0,
                         perturbations_per_eval = 16): the windows' ablated copies stacked 16 at a time
                         (a forward of 16 x B images), f(x) - f(x_ablated) added to every covered element
                         and divided by the coverage counts
"""
import argparse
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

SEED = 0


def make_model(arch):
    torch.manual_seed(SEED)
    m = getattr(torchvision.models, arch)(weights=None).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def make_input(batch, size):
    g = torch.Generator().manual_seed(SEED + 1)
    return torch.randn(batch, 3, size, size, generator=g)


def cam_postprocess(cam, size):
    cam = cam.clamp_min(0)
    flat = cam.flatten(1)
    flat = flat - flat.min(1, keepdim=True).values
    cam = (flat / (1e-7 + flat.max(1, keepdim=True).values)).view_as(cam)
    cam = F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
    flat = cam.clamp_min(0).flatten(1)
    flat = flat - flat.min(1, keepdim=True).values
    return (flat / (1e-7 + flat.max(1, keepdim=True).values)).view_as(cam)


class ScoreCam:
    BATCH_SIZE = 16

    def __init__(self, args):
        self.model = make_model("resnet50")
        self.x = make_input(args.batch, args.size)
        self.acts = []
        self.model.layer4.register_forward_hook(lambda m, i, o: self.acts.append(o))
        self.forwards = 0

    def __call__(self):
        with torch.no_grad():
            self.acts.clear()
            x = self.x
            out = self.model(x)
            a = self.acts[0]
            targets = out.argmax(1)
            up = nn.UpsamplingBilinear2d(size=x.shape[-2:])(a)
            maxs = up.view(up.size(0), up.size(1), -1).max(dim=-1)[0][:, :, None, None]
            mins = up.view(up.size(0), up.size(1), -1).min(dim=-1)[0][:, :, None, None]
            up = (up - mins) / (maxs - mins + 1e-8)
            inputs = x[:, None, :, :] * up[:, :, None, :, :]        # all B x C masked images at once
            scores = []
            for t, tensor in zip(targets.tolist(), inputs):
                for i in range(0, tensor.size(0), self.BATCH_SIZE):
                    batch = tensor[i:i + self.BATCH_SIZE]
                    scores.append(self.model(batch)[:, t])
            self.forwards = x.size(0) * (1 + a.size(1))
            w = torch.softmax(torch.cat(scores).view(a.size(0), a.size(1)), dim=-1)
            return cam_postprocess((w[:, :, None, None] * a).sum(1), x.shape[-2:])


class Occlusion:
    PPE = 16

    def __init__(self, args):
        self.model = make_model("mobilenet_v2")
        self.x = make_input(args.batch, args.size)
        self.window, self.stride = 16, 8
        self.forwards = 0

    def __call__(self):
        with torch.no_grad():
            x = self.x
            n, c, h, w = x.shape
            f0 = self.model(x)
            t = f0.argmax(1)
            f0 = f0.gather(1, t[:, None])[:, 0]
            ny = math.ceil((h - self.window) / self.stride) + 1
            nx = math.ceil((w - self.window) / self.stride) + 1
            wins = [(iy * self.stride, ix * self.stride) for iy in range(ny) for ix in range(nx)]
            total = torch.zeros_like(x)
            cover = torch.zeros(1, 1, h, w)
            for k in range(0, len(wins), self.PPE):
                group = wins[k:k + self.PPE]
                masks = torch.zeros(len(group), 1, 1, h, w)
                for j, (y0, x0) in enumerate(group):
                    masks[j, ..., y0:y0 + self.window, x0:x0 + self.window] = 1
                xp = (x[None] * (1 - masks)).reshape(len(group) * n, c, h, w)
                y = self.model(xp).view(len(group), n, -1).gather(2, t[None, :, None].expand(len(group), n, 1))[..., 0]
                d = f0[None] - y                                      # (windows, n)
                total += (d[:, :, None, None, None] * masks).sum(0)
                cover += masks.sum(0)[0]
            self.forwards = n * (1 + len(wins))
            return total / cover


WORKLOADS = {"scorecam-resnet50": ScoreCam, "occlusion-mobilenetv2": Occlusion}


def run(args):
    torch.set_num_threads(args.threads)
    w = WORKLOADS[args.workload](args)
    with torch.no_grad():
        w.model(w.x[:1])                                  # warm-up forward
    t0 = time.perf_counter()
    w()
    s = time.perf_counter() - t0
    print(f"pytorch {args.workload} {s:.3f} s {args.batch / s:.4f} img/s forwards {w.forwards}", flush=True)


def export(args):
    os.makedirs(args.out_dir, exist_ok=True)
    for arch in ("resnet50", "mobilenet_v2"):
        path = os.path.join(args.out_dir, f"{arch}.onnx")
        torch.onnx.export(make_model(arch), make_input(1, args.size), path, opset_version=13, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                          training=torch.onnx.TrainingMode.EVAL)
        print(f"exported {path}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--batch", type=int, default=1)
    r.add_argument("--size", type=int, default=224)
    e = sub.add_parser("export")
    e.add_argument("--out-dir", required=True)
    e.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    if args.cmd == "run":
        run(args)
    else:
        export(args)


if __name__ == "__main__":
    main()
