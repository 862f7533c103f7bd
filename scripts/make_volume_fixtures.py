#!/usr/bin/python3
"""Architecture-parity fixtures for volumes (3-D CNNs, as CT and MRI classifiers use):
narrow 3-D networks exported to ONNX by PyTorch, with an input batch (2,C,D,H,W) and
PyTorch's logits.

    /usr/bin/python3 scripts/make_volume_fixtures.py     # writes src/test/resources/fixtures/volume/

  r3d     torchvision's video ResNet (R3D-18's BasicBlock with Conv3DSimple, 1x1x1 strided
          downsample, a (3,7,7)/(1,2,2) stem) with narrow stage widths, global average pool, fc;
  vgg3d   a VGG-style stack of 3x3x3 conv/BN/ReLU with 3-D max pools (one in ceil mode,
          one dilated), a 3-D average pool with count_include_pad, global average pool, fc.

Each is exported twice, as scripts/make_arch_fixtures.py does: <name>_folded (eval-mode
export, Conv+BN folded by PyTorch) and <name>_bn (every BatchNormalization kept as a node,
folded by salient's loader). BatchNorm statistics are measured on random data, then random
affine parameters. The batch axis is dynamic. Files per fixture: model.onnx, input.npy,
logits.npy.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.video.resnet import BasicBlock, Conv3DSimple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_arch_fixtures import calibrate_bn, count_ops, export, randomise_bn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "test", "resources", "fixtures", "volume")
IO_OUT = os.path.join(ROOT, "src", "test", "resources", "fixtures", "volume_io")


class NarrowR3D(nn.Module):
    """torchvision's VideoResNet (R3D: BasicStem, four stages of BasicBlock with Conv3DSimple,
    AdaptiveAvgPool3d, fc) with stage widths as a parameter (VideoResNet fixes them at 64..512)."""

    def __init__(self, layers=(1, 1, 1, 1), widths=(4, 8, 12, 16), in_channels=3, num_classes=10):
        super().__init__()
        self.inplanes = widths[0]
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, widths[0], kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            nn.BatchNorm3d(widths[0]), nn.ReLU(inplace=True))
        self.layer1 = self._make_layer(widths[0], layers[0], 1)
        self.layer2 = self._make_layer(widths[1], layers[1], 2)
        self.layer3 = self._make_layer(widths[2], layers[2], 2)
        self.layer4 = self._make_layer(widths[3], layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(widths[3], num_classes)

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            ds = Conv3DSimple.get_downsample_stride(stride)
            downsample = nn.Sequential(nn.Conv3d(self.inplanes, planes, kernel_size=1, stride=ds, bias=False),
                                       nn.BatchNorm3d(planes))
        layers = [BasicBlock(self.inplanes, planes, Conv3DSimple, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes, Conv3DSimple) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class NarrowVGG3D(nn.Module):
    """3x3x3 conv/BN/ReLU stacks between 3-D pools, global average pool, then a small classifier."""

    def __init__(self, in_channels=1, num_classes=4):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv3d(cin, cout, 3, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(in_channels, 8), nn.MaxPool3d(2),
            *block(8, 12), *block(12, 12), nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True),
            *block(12, 16), nn.AvgPool3d(kernel_size=3, stride=(1, 2, 2), padding=1, count_include_pad=False),
            nn.Conv3d(16, 16, kernel_size=3, padding=(2, 2, 2), dilation=2, groups=4), nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2), padding=(0, 1, 1)))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.classifier = nn.Sequential(nn.Linear(16, 24), nn.ReLU(True), nn.Dropout(), nn.Linear(24, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# name: (constructor, input shape, opset)
ARCHS = {
    "r3d": (NarrowR3D, (2, 3, 8, 24, 24), 13),
    "vgg3d": (NarrowVGG3D, (2, 1, 11, 19, 18), 11),  # odd sizes: the ceil-mode pool rounds up
}


def make_fixtures():
    for i, (name, (ctor, shape, opset)) in enumerate(ARCHS.items()):
        torch.manual_seed(7000 + i)
        gen = torch.Generator().manual_seed(8000 + i)
        model = ctor()
        randomise_bn(model, gen)
        calibrate_bn(model, shape, gen)
        x = torch.randn(*shape, generator=gen)
        with torch.no_grad():
            logits = model(x)
        n_bn = sum(isinstance(m, nn.BatchNorm3d) for m in model.modules())
        for variant, keep_bn in (("folded", False), ("bn", True)):
            d = os.path.join(OUT, f"{name}_{variant}")
            os.makedirs(d, exist_ok=True)
            proto = export(model, x, os.path.join(d, "model.onnx"), opset, keep_bn)
            ops = count_ops(proto)
            got_bn = ops.get("BatchNormalization", 0)
            if keep_bn:
                assert got_bn == n_bn, f"{name}: {got_bn} BatchNormalization nodes, model has {n_bn} BN layers"
            else:
                assert got_bn == 0, f"{name}: {got_bn} BatchNormalization nodes left in the folded export"
            np.save(os.path.join(d, "input.npy"), x.numpy().astype(np.float32))
            np.save(os.path.join(d, "logits.npy"), logits.numpy().astype(np.float32))
            size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
            print(f"{name}_{variant:6s} opset {opset:2d} input {tuple(shape)} size {size / 1024:6.1f} KiB "
                  f"max|logit| {logits.abs().max().item():.3g} top1 {logits.argmax(1).tolist()} "
                  f"ops {dict(sorted(ops.items()))}")


# ---- NIfTI-1 inputs, written from the header layout of nifti1.h with struct (no NIfTI library here)

def nifti_bytes(data_xyz, datatype, endian="<", slope=0.0, inter=0.0, pixdim=(1.0, 1.0, 1.0),
                sform=None, qform=None):
    """A single-file NIfTI-1 (.nii) image; data_xyz is indexed [x, y, z] and stored x fastest."""
    import struct
    nx, ny, nz = data_xyz.shape
    codes = {2: ("B", 8), 4: ("h", 16), 16: ("f", 32), 64: ("d", 64), 512: ("H", 16), 256: ("b", 8)}
    fmt, bitpix = codes[datatype]
    hdr = bytearray(348)
    struct.pack_into(endian + "i", hdr, 0, 348)
    struct.pack_into(endian + "8h", hdr, 40, 3, nx, ny, nz, 1, 1, 1, 1)
    struct.pack_into(endian + "hh", hdr, 70, datatype, bitpix)
    struct.pack_into(endian + "8f", hdr, 76, -1.0 if qform is not None and qform[0] < 0 else 1.0, *pixdim, 0, 0, 0, 0)
    struct.pack_into(endian + "fff", hdr, 108, 352.0, slope, inter)
    hdr[123] = 2 | 8  # mm, s
    if qform is not None:
        struct.pack_into(endian + "h", hdr, 252, 1)
        struct.pack_into(endian + "6f", hdr, 256, *qform[1:])
    if sform is not None:
        struct.pack_into(endian + "h", hdr, 254, 2)
        struct.pack_into(endian + "12f", hdr, 280, *np.asarray(sform, dtype=np.float64).ravel())
    hdr[344:348] = b"n+1\0"
    body = data_xyz.transpose(2, 1, 0).astype(np.dtype(fmt).newbyteorder(endian)).tobytes()
    return bytes(hdr) + b"\0\0\0\0" + body


def make_nifti_fixtures():
    """ct_int16.nii.gz: int16 with scl_slope 2, scl_inter -1024 and an LPS sform (a CT as scanners
    write it); mr_float32_be.nii: big-endian float32 with a qform only (qfac -1).
    For each, <name>.scaled.npy (the scaled volume (z,y,x)) and <name>.input.npy: PyTorch's model
    input for a (1,1,6,8,10) model after --window-level 40 --window-width 400 (CT) or none (MR),
    trilinear resize with align_corners=False, --mean 0.2 --std 0.5."""
    import gzip
    import torch.nn.functional as F
    os.makedirs(IO_OUT, exist_ok=True)
    gen = np.random.default_rng(9000)
    ct = gen.integers(0, 1400, size=(9, 7, 5)).astype(np.int16)  # stored values; HU = 2 v - 1024
    sform = [[-0.7, 0, 0, 120.0], [0, -0.7, 0, 110.0], [0, 0, 2.5, -60.0]]
    with gzip.open(os.path.join(IO_OUT, "ct_int16.nii.gz"), "wb") as f:
        f.write(nifti_bytes(ct, 4, slope=2.0, inter=-1024.0, pixdim=(0.7, 0.7, 2.5), sform=sform))
    mr = gen.standard_normal((6, 5, 4)).astype(np.float32) * 100 + 300
    with open(os.path.join(IO_OUT, "mr_float32_be.nii"), "wb") as f:
        f.write(nifti_bytes(mr, 16, endian=">", qform=(-1.0, 0.0, 0.0, 1.0, 10.0, -20.0, 5.0)))
    for name, xyz, scaled, window in (("ct_int16", ct, ct.astype(np.float64) * 2 - 1024, (40.0, 400.0)),
                                      ("mr_float32_be", mr, mr.astype(np.float64), None)):
        zyx = np.ascontiguousarray(scaled.transpose(2, 1, 0).astype(np.float32))
        np.save(os.path.join(IO_OUT, name + ".scaled.npy"), zyx)
        v = torch.from_numpy(zyx.astype(np.float64))
        if window is not None:
            lo = window[0] - window[1] / 2
            v = ((v - lo) / window[1]).clamp(0, 1)
        v = F.interpolate(v[None, None], size=(6, 8, 10), mode="trilinear", align_corners=False)
        np.save(os.path.join(IO_OUT, name + ".input.npy"), ((v - 0.2) / 0.5).float().numpy())
        print(f"{name}: volume (z,y,x) {zyx.shape}, model input {tuple(v.shape)}")


# ---- golden maps of the methods in 3-D, re-implemented in PyTorch from their definitions

METHODS_OUT = os.path.join(ROOT, "src", "test", "resources", "fixtures", "volume_methods")


def minmax(m):
    """pytorch-grad-cam's scale_cam_image per image: (m - min) / (1e-7 + max(m - min))."""
    flat = m.reshape(m.shape[0], -1)
    flat = flat - flat.min(1, keepdim=True).values
    return (flat / (1e-7 + flat.max(1, keepdim=True).values)).reshape(m.shape)


def cam_finish(cam, size):
    """relu, min-max, trilinear resize with half-voxel centres (align_corners=False), relu, min-max."""
    import torch.nn.functional as F
    cam = minmax(torch.relu(cam))
    cam = F.interpolate(cam[:, None], size=size, mode="trilinear", align_corners=False)[:, 0]
    return minmax(torch.relu(cam))


def make_method_fixtures():
    """vgg3d (the parity fixture's model and input, in float64): Grad-CAM and Grad-CAM++
    (eq. 19 of arXiv:1710.11063, eps 1e-6) on the output of `features` (the input of the
    global average pool, salient's --layer auto), IG (Gauss-Legendre, 8 steps, zero baseline)
    and occlusion (--window 3 --stride 2, zero baseline: ceil((dim - 3)/2) + 1 positions per
    axis, the last truncated, each element the mean over the windows covering it), all for the
    top-1 logit."""
    os.makedirs(METHODS_OUT, exist_ok=True)
    name, (ctor, shape, _) = "vgg3d", ARCHS["vgg3d"]
    i = list(ARCHS).index(name)
    torch.manual_seed(7000 + i)
    gen = torch.Generator().manual_seed(8000 + i)
    model = ctor()
    randomise_bn(model, gen)
    calibrate_bn(model, shape, gen)
    x32 = torch.randn(*shape, generator=gen)
    stored = np.load(os.path.join(OUT, "vgg3d_folded", "input.npy"))
    assert np.array_equal(stored, x32.numpy()), "the parity fixture was made from another seed"
    model = model.double().eval()
    x = x32.double()
    head = lambda a: model.classifier(torch.flatten(model.avgpool(a), 1))  # noqa: E731
    with torch.no_grad():
        top1 = model(x).argmax(1)
    pick = lambda logits: logits.gather(1, top1[:, None]).sum()  # noqa: E731

    a = model.features(x).detach().requires_grad_(True)
    g, = torch.autograd.grad(pick(head(a)), a)
    a = a.detach()
    size = tuple(shape[2:])
    gradcam = cam_finish((g.mean((2, 3, 4), keepdim=True) * a).sum(1), size)
    g2, g3 = g ** 2, g ** 3
    aij = g2 / (2 * g2 + a.sum((2, 3, 4), keepdim=True) * g3 + 1e-6)
    aij = torch.where(g != 0, aij, torch.zeros_like(aij))
    w = (torch.relu(g) * aij).sum((2, 3, 4), keepdim=True)
    gradcampp = cam_finish((w * a).sum(1), size)

    nodes, weights = np.polynomial.legendre.leggauss(8)
    total = torch.zeros_like(x)
    for al, wt in zip(0.5 * (nodes + 1), 0.5 * weights):
        p = (al * x).requires_grad_(True)
        gp, = torch.autograd.grad(pick(model(p)), p)
        total += wt * gp
    ig = x * total

    win, stride = 3, 2
    dims = shape[2:]
    pos = [(d - win + stride - 1) // stride + 1 for d in dims]
    with torch.no_grad():
        f0 = model(x).gather(1, top1[:, None])[:, 0]
        acc = torch.zeros(x.shape[0], *dims, dtype=torch.float64)
        cover = torch.zeros(*dims, dtype=torch.float64)
        for iz in range(pos[0]):
            for iy in range(pos[1]):
                for ix in range(pos[2]):
                    sl = tuple(slice(k * stride, min(d, k * stride + win)) for k, d in zip((iz, iy, ix), dims))
                    xo = x.clone()
                    xo[(slice(None), slice(None)) + sl] = 0
                    diff = f0 - model(xo).gather(1, top1[:, None])[:, 0]
                    acc[(slice(None),) + sl] += diff[:, None, None, None]
                    cover[sl] += 1
    occ = (acc / cover)[:, None].expand_as(x)

    for k, v in (("gradcam", gradcam), ("gradcam++", gradcampp), ("ig", ig), ("occlusion", occ)):
        np.save(os.path.join(METHODS_OUT, k + ".npy"), np.ascontiguousarray(v.float().numpy()))
        print(f"{k:10s} {tuple(v.shape)} max|ref| {v.abs().max().item():.4g}")
    np.save(os.path.join(METHODS_OUT, "top1.npy"), top1.numpy().astype(np.float32))


if __name__ == "__main__":
    make_fixtures()
    make_nifti_fixtures()
    make_method_fixtures()
