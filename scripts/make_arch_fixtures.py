#!/usr/bin/python3
"""Architecture-parity fixtures: narrow versions of real CNN architectures,
exported to ONNX by PyTorch, with an input batch and PyTorch's logits.

    /usr/bin/python3 scripts/make_arch_fixtures.py           # writes src/test/resources/fixtures/arch/
    /usr/bin/python3 scripts/make_arch_fixtures.py --full    # full-size torchvision models vs scripts/salient
    /usr/bin/python3 scripts/make_arch_fixtures.py --export-full DIR   # full-size models for scripts/bench-vs-ort

Each architecture keeps the real topology (torchvision's own block classes where
they exist) with fewer channels, seeded weights, and BatchNorm that is not the
identity: running statistics measured on random data (as training leaves them),
then random affine parameters. Measured statistics keep the signal at unit scale
through every block, as in a trained network; random running statistics (the
fixtures before 2026-12) let MobileNetV2's logits depend on the input by only
1e-5 of their size, below what a float32 finite difference can resolve.
Each is exported twice:

  <name>_folded  eval-mode export: PyTorch folds Conv+BN into the Conv
                 (a BN that follows no Conv, as in DenseNet, stays a node);
  <name>_bn      training=PRESERVE on the eval-mode model, no constant folding:
                 every BatchNormalization stays a node (checked with onnx).

The batch axis is dynamic. Opsets are mixed (9 to 13) so that both attribute
styles (e.g. Clip min/max as attributes before opset 11, as inputs after) are
exercised. Files per fixture: model.onnx, input.npy (2,C,H,W), logits.npy (2,K).

Needs torch 1.13 / torchvision 0.14 / onnx (Debian python3-torch, python3-torchvision, python3-onnx).
"""
import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision
from torchvision.models.densenet import DenseNet
from torchvision.models.mobilenetv2 import MobileNetV2
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.models.squeezenet import Fire
from torchvision.models.vgg import make_layers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "test", "resources", "fixtures", "arch")


# ---- narrow architectures

class NarrowResNet(nn.Module):
    """torchvision's ResNet (stem, 4 stages of BasicBlock/Bottleneck with 1x1
    downsample, global average pool, fc) with stage widths as a parameter."""

    def __init__(self, block, layers, widths=(8, 16, 32, 64), num_classes=10):
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class NarrowVGG(nn.Module):
    """VGG-BN: 3x3 conv/BN/ReLU stacks and 2x2 max pools (torchvision's make_layers),
    adaptive average pool, then the classifier (Linear, ReLU, Dropout, Linear).
    Flattens with x.view(x.size(0), -1), so the export carries the
    Shape/Gather/Unsqueeze/Concat/Reshape subgraph exporters emit."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = make_layers([8, "M", 16, "M", 24, 24, "M", 32, 32, "M"], batch_norm=True)
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(32 * 2 * 2, 48), nn.ReLU(True), nn.Dropout(), nn.Linear(48, 48), nn.ReLU(True),
            nn.Dropout(), nn.Linear(48, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.view(x.size(0), -1))


class NarrowSqueezeNet(nn.Module):
    """SqueezeNet 1.1 (torchvision's Fire modules, ceil-mode max pools, conv classifier,
    global average pool) with fewer channels. Real SqueezeNet has no BatchNorm; a BN
    after the stem conv is added here so that the folded and the BN exports differ."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, stride=2), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(16, 4, 8, 8), Fire(16, 4, 8, 8),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(16, 8, 16, 16), Fire(32, 8, 16, 16),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(32, 12, 24, 24), Fire(48, 16, 32, 32))
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5), nn.Conv2d(64, num_classes, kernel_size=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


def mobilenet_v2():
    # torchvision's MobileNetV2 (ReLU6, depthwise 3x3, inverted residuals), shortened and narrowed
    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 1, 2], [6, 96, 1, 1]]
    m = MobileNetV2(num_classes=10, width_mult=0.25, inverted_residual_setting=setting, round_nearest=4)
    # last_channel is 1280 regardless of width; keep the fixture small
    m.features[-1] = torchvision.ops.Conv2dNormActivation(
        m.features[-1][0].in_channels, 64, kernel_size=1, activation_layer=nn.ReLU6)
    m.classifier[1] = nn.Linear(64, 10)
    return m


def densenet():
    # torchvision's DenseNet: dense layers (BN-ReLU-Conv1x1-BN-ReLU-Conv3x3, Concat), transitions
    return DenseNet(growth_rate=8, block_config=(2, 3, 2), num_init_features=16, bn_size=2, num_classes=10)


# name: (constructor, input shape, opset)
ARCHS = {
    "resnet_basic": (lambda: NarrowResNet(BasicBlock, [2, 1, 1, 1], widths=(8, 16, 24, 32)), (2, 3, 64, 64), 13),
    "resnet_bottleneck": (lambda: NarrowResNet(Bottleneck, [1, 2, 1, 1], widths=(4, 8, 12, 16)), (2, 3, 64, 64), 11),
    "vgg": (NarrowVGG, (2, 3, 32, 32), 9),
    "mobilenetv2": (mobilenet_v2, (2, 3, 32, 32), 10),
    "densenet": (densenet, (2, 3, 64, 64), 13),
    "squeezenet": (NarrowSqueezeNet, (2, 3, 66, 66), 11),  # 66: every ceil-mode pool rounds up
}


def randomise_bn(model, gen):
    """Non-trivial BatchNorm: random running stats and affine parameters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.2)


def calibrate_bn(model, shape, gen, batches=4):
    """BatchNorm running statistics from data: a cumulative average over a few random
    batches in train mode, as training would leave them. Then random affine parameters,
    so BN is still not the identity."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(16, *shape[1:], generator=gen))
        for m in bns:
            m.momentum = 0.1
            c = m.num_features
            m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(c, generator=gen) * 0.2)
    model.eval()


def export(model, x, path, opset, keep_bn):
    kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=opset,
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    if keep_bn:
        # PRESERVE on an eval-mode model skips the eval peephole that fuses Conv+BN
        kwargs.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    buf = io.BytesIO()
    torch.onnx.export(model, x, buf, **kwargs)
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    return proto


def count_ops(proto):
    ops = {}
    for n in proto.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return ops


def make_fixtures():
    for i, (name, (ctor, shape, opset)) in enumerate(ARCHS.items()):
        torch.manual_seed(1000 + i)
        gen = torch.Generator().manual_seed(2000 + i)
        model = ctor()
        randomise_bn(model, gen)
        calibrate_bn(model, shape, gen)
        x = torch.randn(*shape, generator=gen)
        with torch.no_grad():
            logits = model(x)
        n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        for variant, keep_bn in (("folded", False), ("bn", True)):
            d = os.path.join(OUT, f"{name}_{variant}")
            os.makedirs(d, exist_ok=True)
            proto = export(model, x, os.path.join(d, "model.onnx"), opset, keep_bn)
            ops = count_ops(proto)
            got_bn = ops.get("BatchNormalization", 0)
            if keep_bn:
                assert got_bn == n_bn, f"{name}: {got_bn} BatchNormalization nodes, model has {n_bn} BN layers"
                for n in proto.graph.node:
                    if n.op_type == "BatchNormalization":
                        assert len(n.output) == 1, f"{name}: BN exported in training form"
            else:
                assert got_bn < n_bn, f"{name}: no BatchNormalization was folded"
            np.save(os.path.join(d, "input.npy"), x.numpy().astype(np.float32))
            np.save(os.path.join(d, "logits.npy"), logits.numpy().astype(np.float32))
            size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
            print(f"{name}_{variant:6s} opset {opset:2d} input {tuple(shape)} size {size / 1024:6.1f} KiB "
                  f"max|logit| {logits.abs().max().item():.3g} ops {dict(sorted(ops.items()))}")
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(OUT) for f in fs)
    print(f"total {total / 1024 / 1024:.2f} MiB in {OUT}")


# ---- full-size check against the CLI

def full_check():
    from torchvision import models
    salient = os.path.join(ROOT, "scripts", "salient")
    work = tempfile.mkdtemp(prefix="salient-full-")
    ok = True
    for i, name in enumerate(["resnet50", "mobilenet_v2", "densenet121"]):
        torch.manual_seed(3000 + i)
        gen = torch.Generator().manual_seed(4000 + i)
        model = getattr(models, name)(weights=None)  # seeded random weights, no download
        randomise_bn(model, gen)
        model.eval()
        x = torch.randn(2, 3, 224, 224, generator=gen)
        with torch.no_grad():
            ref = model(x).numpy()
        d = os.path.join(work, name)
        os.makedirs(d)
        export(model, x, os.path.join(d, "model.onnx"), 13, keep_bn=False)
        np.save(os.path.join(d, "input.npy"), x.numpy())
        out = os.path.join(d, "logits.npy")
        r = subprocess.run([salient, "predict", "--model", os.path.join(d, "model.onnx"),
                            "--input", os.path.join(d, "input.npy"), "--out", out],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name:13s} FAIL: salient exited {r.returncode}: {r.stderr.strip()}")
            ok = False
            continue
        got = np.load(out)
        scale = np.abs(ref).max()
        err = np.abs(got - ref).max() if got.shape == ref.shape else float("inf")
        passed = err <= 1e-4 * scale
        ok &= bool(passed)
        print(f"{name:13s} {'PASS' if passed else 'FAIL'}: logits {got.shape}, max|ref| {scale:.4g}, "
              f"max|got-ref| {err:.3g} = {err / scale:.2e} x max|ref| (tolerance 1e-4), "
              f"top1 agree {(got.argmax(1) == ref.argmax(1)).all()}")
    shutil.rmtree(work)
    return ok


# ---- full-size models for the speed benchmarks (scripts/bench-vs-ort)

FULL_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "densenet121"]


def count_flops(model, size):
    """Multiply-adds of every Conv2d and Linear for one image, times 2 (the FLOP count
    GFLOP/s figures are quoted against); elementwise ops and pooling are not counted."""
    macs = []

    def conv_hook(m, inp, out):
        k = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]  # (K, C/groups, R, S)
        macs.append(out.numel() * k)

    def linear_hook(m, inp, out):
        macs.append(out.numel() * m.in_features)

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return 2 * sum(macs)


def export_full(out_dir, size=224):
    """Seeded full-size torchvision models (BatchNorm calibrated on random data, then folded
    by the eval-mode export), batch axis dynamic, opset 13: OUT/<name>.onnx, and
    OUT/flops.json with each model's FLOPs per image at size x size."""
    from torchvision import models
    os.makedirs(out_dir, exist_ok=True)
    flops = {}
    for i, name in enumerate(FULL_MODELS):
        torch.manual_seed(5000 + i)
        gen = torch.Generator().manual_seed(6000 + i)
        model = getattr(models, name)(weights=None)  # seeded random weights, no download
        calibrate_bn(model, (1, 3, size, size), gen, batches=2)
        x = torch.randn(1, 3, size, size, generator=gen)
        export(model, x, os.path.join(out_dir, name + ".onnx"), 13, keep_bn=False)
        flops[name] = count_flops(model, size)
        print(f"{name:12s} {flops[name] / 1e9:6.3f} GFLOP per image -> {os.path.join(out_dir, name + '.onnx')}")
    with open(os.path.join(out_dir, "flops.json"), "w") as f:
        json.dump({"size": size, "flops_per_image": flops}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="check full-size torchvision models through scripts/salient")
    ap.add_argument("--export-full", metavar="DIR",
                    help="write the full-size torchvision models for scripts/bench-vs-ort to DIR (not committed)")
    args = ap.parse_args()
    if args.export_full:
        export_full(args.export_full)
        return
    if args.full:
        sys.exit(0 if full_check() else 1)
    make_fixtures()


if __name__ == "__main__":
    main()
