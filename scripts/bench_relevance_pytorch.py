#!/usr/bin/python3
"""PyTorch side of scripts/bench-relevance-vs-pytorch: a seeded torchvision ResNet-50 (eval), exported to ONNX
with --export, and timed as the peers compute the relevance methods:

  lrp       Zennit-style EpsilonPlus: BatchNorm merged into the convs and the residual sum a Norm node (Zennit's
            ResNetCanonizer), a rule hook (autograd Function) around every conv (ZPlus) and the fc (Epsilon), Pass on
            ReLU, Norm on average pooling, the gradient through max pooling (scripts/make_relevance_fixtures.py);
  deeplift  Captum-style DeepLift: inputs and zero baselines in one batch, the Rescale rule on every ReLU and
            Captum's max-pool rule (the same re-implementation the golden fixtures use);
  deepliftshap  Captum-style DeepLiftShap against two uniform baselines: every input repeated against each
            (2N pairs in one batch), then the mean.

Prints `pytorch W run i: S s` per timed run and `pytorch W median S s, R img/s`.
Usage: bench_relevance_pytorch.py --workload lrp|deeplift|deepliftshap --batch 8 --threads 2 --repeats 3 [--export M.onnx]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_relevance_fixtures as rf  # noqa: E402


def model():
    torch.manual_seed(0)
    return torchvision.models.resnet50().eval()


def canonical(m):
    """Merged (conv, bn) layers, built once (Zennit canonizes once per attribution)."""
    L = {"conv1": rf.merge(m.conv1, m.bn1), "fc": rf.merge(m.fc, None)}
    for li, layer in enumerate((m.layer1, m.layer2, m.layer3, m.layer4)):
        for bi, blk in enumerate(layer):
            k = f"{li}.{bi}"
            L[k + ".1"] = rf.merge(blk.conv1, blk.bn1)
            L[k + ".2"] = rf.merge(blk.conv2, blk.bn2)
            L[k + ".3"] = rf.merge(blk.conv3, blk.bn3)
            if blk.downsample is not None:
                L[k + ".d"] = rf.merge(blk.downsample[0], blk.downsample[1])
    return L


def lrp_forward(m, L, x):
    lin = lambda name, t: rf.RuleFn.apply(t, L[name], rf.epsilon if name == "fc" else rf.zplus)  # noqa: E731
    y = F.max_pool2d(rf.relu(lin("conv1", x)), 3, 2, 1)
    for li, layer in enumerate((m.layer1, m.layer2, m.layer3, m.layer4)):
        for bi, blk in enumerate(layer):
            k = f"{li}.{bi}"
            z = rf.relu(lin(k + ".1", y))
            z = rf.relu(lin(k + ".2", z))
            z = lin(k + ".3", z)
            idt = y if blk.downsample is None else lin(k + ".d", y)
            y = rf.relu(rf.NormSumFn.apply(z, idt))
    y = rf.NormPoolFn.apply(y, lambda t: F.adaptive_avg_pool2d(t, 1)).flatten(1)
    return lin("fc", y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", choices=["lrp", "deeplift", "deepliftshap"], required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--export")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = model()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.batch, 3, a.size, a.size, generator=g)
    if a.export:
        torch.onnx.export(m, x[:1], a.export, opset_version=13, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        return
    with torch.no_grad():
        top1 = m(x).argmax(1)

    if a.workload == "lrp":
        def run():
            L = canonical(m)
            xi = x.detach().clone().requires_grad_(True)
            y = lrp_forward(m, L, xi)
            onehot = torch.zeros_like(y)
            onehot[torch.arange(len(top1)), top1] = 1
            (r,) = torch.autograd.grad(y, xi, grad_outputs=onehot)
            return r
    elif a.workload == "deeplift":
        def run():
            return rf.deeplift(m, x, torch.zeros_like(x), top1)
    else:
        bases = torch.rand(2, 3, a.size, a.size, generator=g)

        def run():
            return rf.deeplift_shap(m, x, bases, top1)

    run()
    ts = []
    for i in range(a.repeats):
        t0 = time.perf_counter()
        run()
        ts.append(time.perf_counter() - t0)
        print(f"pytorch {a.workload} run {i}: {ts[-1]:.3f} s", flush=True)
    med = sorted(ts)[len(ts) // 2]
    print(f"pytorch {a.workload} median {med:.3f} s, {a.batch / med:.3f} img/s")


if __name__ == "__main__":
    main()
