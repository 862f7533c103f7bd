#!/usr/bin/python3
"""Grad-CAM on a 3-D ResNet: salient vs PyTorch CPU, side by side in one run.

    /usr/bin/python3 scripts/bench_volume_gradcam.py [--threads 2] [--rounds 5] [--repeats 3] [--batch 2]
                                                      [--size 64x112x112] [--widths 16,32,64,128]

The network is a narrow R3D (scripts/make_volume_fixtures.py's NarrowR3D: torchvision's video
ResNet BasicBlock with Conv3DSimple, a (3,7,7)/(1,2,2) stem, one block per stage, 1 input
channel), seeded, BatchNorm calibrated and folded by the eval-mode ONNX export. Input (B,1,D,H,W)
random normal.

PyTorch computes Grad-CAM the efficient way: one forward with a hook that keeps layer4's output,
torch.autograd.grad of the top-1 logits' sum to that output only (no weight gradients), the
channel means, the weighted sum, ReLU, per-image min-max, trilinear resize to the input
(align_corners=False) and min-max; torch.set_num_threads(T), oneDNN convolutions. salient runs
`scripts/salient bench --workload gradcam --layer auto --threads T --batch B --repeats R` (its
auto layer is the same tensor: the input of the global average pool), whose timed runs exclude
the JVM start, the model load and one warm-up run. The two sides alternate for --rounds rounds;
in each, either side makes one warm-up run and then --repeats timed runs (the steady state a
service sees: with one timed run, salient's is the JVM's second). The table gives the medians
over all timed runs, the ratio of the medians
(PyTorch seconds / salient seconds, > 1: salient is faster) and the load average before and
after.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_arch_fixtures import calibrate_bn, export  # noqa: E402
from make_volume_fixtures import NarrowR3D  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytorch_gradcam(model, x):
    """One forward with a hook on layer4, autograd.grad to its output, the CAM pipeline in 3-D.
    Weights are frozen and the input needs no gradient, so the graph starts at layer4's output
    (the hook makes it a leaf that requires grad): nothing before it is recorded."""
    kept = {}

    def hook(m, i, o):
        kept["a"] = o.detach().requires_grad_(True)
        return kept["a"]

    h = model.layer4.register_forward_hook(hook)
    try:
        logits = model(x)
    finally:
        h.remove()
    a = kept["a"]
    score = logits.gather(1, logits.argmax(1, keepdim=True)).sum()
    g, = torch.autograd.grad(score, a)
    with torch.no_grad():
        cam = torch.relu((g.mean((2, 3, 4), keepdim=True) * a).sum(1))
        flat = cam.reshape(cam.shape[0], -1)
        flat = flat - flat.min(1, keepdim=True).values
        cam = (flat / (1e-7 + flat.max(1, keepdim=True).values)).reshape(cam.shape)
        cam = F.interpolate(cam[:, None], size=x.shape[2:], mode="trilinear", align_corners=False)[:, 0]
        flat = cam.reshape(cam.shape[0], -1)
        flat = flat - flat.min(1, keepdim=True).values
        return (flat / (1e-7 + flat.max(1, keepdim=True).values)).reshape(cam.shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per side and round, after one warm-up")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--size", default="64x112x112")
    ap.add_argument("--widths", default="16,32,64,128")
    ap.add_argument("--salient-jar", help="run `java -jar JAR` (a built target/salient-cli.jar) instead of scripts/salient")
    args = ap.parse_args()
    d, h, w = (int(v) for v in args.size.split("x"))
    widths = tuple(int(v) for v in args.widths.split(","))
    torch.set_num_threads(args.threads)
    torch.manual_seed(11)
    gen = torch.Generator().manual_seed(12)
    model = NarrowR3D(widths=widths, in_channels=1)
    calibrate_bn(model, (1, 1, d // 4, h // 4, w // 4), gen, batches=2)  # statistics on a smaller volume: cheaper
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(args.batch, 1, d, h, w, generator=gen)
    work = tempfile.mkdtemp(prefix="salient-volbench-")
    onnx_path = os.path.join(work, "r3d.onnx")
    export(model, x[:1], onnx_path, 13, keep_bn=False)
    salient = ["java", "-jar", args.salient_jar] if args.salient_jar else [os.path.join(ROOT, "scripts", "salient")]
    cmd = salient + ["bench", "--workload", "gradcam", "--model", onnx_path, "--batch", str(args.batch),
           "--threads", str(args.threads), "--repeats", str(args.repeats), "--layer", "auto"]
    load0 = os.getloadavg()
    pytorch_gradcam(model, x)  # warm-up (oneDNN primitive creation)
    torch_s, salient_s = [], []
    for r in range(args.rounds):
        pytorch_gradcam(model, x)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            pytorch_gradcam(model, x)
            torch_s.append(time.perf_counter() - t0)
        # salient with its launchers' OpenMP policy (scripts/salient: GOMP_SPINCOUNT=3000) unless one is set
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        if "OMP_WAIT_POLICY" not in env and "GOMP_SPINCOUNT" not in env:
            env["GOMP_SPINCOUNT"] = "3000"
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        runs = [float(v) for v in re.findall(r"run \d+: ([0-9.]+) s", out.stdout)]
        if out.returncode != 0 or len(runs) != args.repeats:
            sys.exit(f"salient bench failed ({out.returncode}): {out.stdout}{out.stderr}")
        salient_s.extend(runs)
        print(f"round {r + 1}: PyTorch {statistics.median(torch_s[-args.repeats:]):.3f} s, "
              f"salient {statistics.median(runs):.3f} s (medians of {args.repeats})", flush=True)
    load1 = os.getloadavg()
    tm, sm = statistics.median(torch_s), statistics.median(salient_s)
    print(f"\ngradcam r3d{widths} input ({args.batch},1,{d},{h},{w}), {args.threads} threads, {args.rounds} rounds"
          f" of {args.repeats} timed runs a side")
    print(f"{'side':10s} {'median s':>9s} {'vol/s':>7s}")
    print(f"{'PyTorch':10s} {tm:9.3f} {args.batch / tm:7.3f}")
    print(f"{'salient':10s} {sm:9.3f} {args.batch / sm:7.3f}")
    k = args.repeats
    rounds = [statistics.median(torch_s[i:i + k]) / statistics.median(salient_s[i:i + k]) for i in range(0, len(torch_s), k)]
    print(f"ratio (PyTorch s / salient s): {tm / sm:.2f}; per-round ratios {', '.join(f'{v:.2f}' for v in rounds)}")
    print(f"load average before {load0[0]:.1f}, after {load1[0]:.1f}")


if __name__ == "__main__":
    main()
