#!/usr/bin/python3
"""Fixtures of salient's feature visualisation (dev.salient.visualize), from the peers' definitions.

Writes src/test/resources/fixtures/featviz/:
  fft_<H>x<W>_{spectrum,image,rgb}.npy   Lucent's fft_image on a given spectrum (Lucent's layout
                         (N, C, H, W//2+1 (+1 if W odd), 2)), then to_valid_rgb (decorrelate + sigmoid): a
                         re-implementation in numpy of lucent/optvis/param/spatial.py (fft_image, rfft2d_freqs)
                         and color.py (to_valid_rgb, _linear_decorrelate_color) @6123386
  resample_{x,theta,dy,y,dx}.npy   torch.nn.functional.grid_sample (bilinear, zeros, align_corners=True) at
                         per-image affine maps given in pixel coordinates, with its autograd adjoint for a given dy
  adam_{p0,grads,p}.npy  torch.optim.Adam(lr=0.05) over 3 steps of given gradients
  tiny_dynamic.onnx      a small random 3-channel CNN with dynamic H and W (smallest input 9x9), for the 3-channel
                         path, the size check and the CUDA parity of a whole run
  fashion_channel_max.json   (with --fashion DIR, or the Debian package's files) the maximum over the 10,000
                         Fashion-MNIST test images of each channel objective (mean over positions) of the embedded
                         demo model's last conv layer, computed by torch from the ONNX weights

Usage: /usr/bin/python3 scripts/make_featviz_fixtures.py [--fashion DIR_WITH_t10k-images-idx3-ubyte.gz]
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "src/test/resources/fixtures/featviz")

# lucent/optvis/param/color.py
color_correlation_svd_sqrt = np.asarray([[0.26, 0.09, 0.02],
                                         [0.27, 0.00, -0.05],
                                         [0.27, -0.09, 0.03]]).astype("float32")
max_norm_svd_sqrt = np.max(np.linalg.norm(color_correlation_svd_sqrt, axis=0))
color_correlation_normalized = color_correlation_svd_sqrt / max_norm_svd_sqrt


def rfft2d_freqs(h, w):
    """lucent/optvis/param/spatial.py: computes 2D spectrum frequencies."""
    fy = np.fft.fftfreq(h)[:, None]
    # when we have an odd input dimension we need to keep one additional frequency and later cut off 1 pixel
    if w % 2 == 1:
        fx = np.fft.fftfreq(w)[: w // 2 + 2]
    else:
        fx = np.fft.fftfreq(w)[: w // 2 + 1]
    return np.sqrt(fx * fx + fy * fy)


def fft_image(spectrum, h, w, decay_power=1):
    """Lucent's fft_image inner(), given the initial spectrum (batch, channels, *freqs.shape, 2)."""
    freqs = rfft2d_freqs(h, w)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** decay_power
    scale = scale.astype(np.float32)[None, None, ..., None]
    scaled = scale * spectrum
    c = scaled[..., 0].astype(np.float64) + 1j * scaled[..., 1].astype(np.float64)
    image = np.fft.irfftn(c, s=(h, w), norm="ortho")
    image = image[:, :, :h, :w]
    magic = 4.0
    return (image / magic).astype(np.float32)


def to_valid_rgb(image, decorrelate=True):
    if decorrelate:
        t = np.transpose(image, (0, 2, 3, 1)) @ color_correlation_normalized.T
        image = np.transpose(t, (0, 3, 1, 2))
    return 1 / (1 + np.exp(-image.astype(np.float64)))


def fft_fixtures(rng):
    for (h, w) in [(6, 6), (5, 7), (16, 16)]:
        kk = w // 2 + 2 if w % 2 == 1 else w // 2 + 1
        spectrum = (rng.standard_normal((2, 3, h, kk, 2)) * 0.01).astype(np.float32)
        image = fft_image(spectrum, h, w)
        rgb = to_valid_rgb(image).astype(np.float32)
        savez(f"fft_{h}x{w}", spectrum=spectrum, image=image, rgb=rgb)


def resample_fixture(rng):
    n, c, ih, iw, oh, ow = 3, 2, 9, 11, 8, 10
    x = rng.standard_normal((n, c, ih, iw)).astype(np.float32)
    dy = rng.standard_normal((n, c, oh, ow)).astype(np.float32)
    theta = np.zeros((n, 6), np.float32)
    for b in range(n):
        a, s = np.radians(-10 + 9 * b), 0.9 + 0.1 * b
        theta[b] = [np.cos(a) / s, np.sin(a) / s, 1.25 - b, -np.sin(a) / s, np.cos(a) / s, -0.5 + 0.75 * b]
    jj, ii = np.meshgrid(np.arange(ow, dtype=np.float32), np.arange(oh, dtype=np.float32))
    grids = []
    for b in range(n):
        t = theta[b]
        sx = t[0] * jj + t[1] * ii + t[2]
        sy = t[3] * jj + t[4] * ii + t[5]
        grids.append(np.stack([2 * sx / (iw - 1) - 1, 2 * sy / (ih - 1) - 1], -1))
    grid = torch.tensor(np.stack(grids).astype(np.float32), dtype=torch.float64)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = F.grid_sample(xt, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    y.backward(torch.tensor(dy, dtype=torch.float64))
    savez("resample", x=x, theta=theta, dy=dy, y=y.detach().numpy().astype(np.float32),
             dx=xt.grad.numpy().astype(np.float32))


def adam_fixture(rng):
    p0 = rng.standard_normal((4, 5)).astype(np.float32)
    grads = rng.standard_normal((3, 4, 5)).astype(np.float32)
    p = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.05)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    savez("adam", p0=p0, grads=grads, p=p.detach().numpy())


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, _, ndim = struct.unpack(">HBB", data[:4])
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def onnx_forward(model, x, stop):
    """Runs the demo model's ONNX graph (its ops only) in torch up to tensor `stop`."""
    from onnx import numpy_helper
    g = model.graph
    env = {i.name: torch.tensor(numpy_helper.to_array(i)) for i in g.initializer}
    env[g.input[0].name] = x
    for nd in g.node:
        a = {at.name: at for at in nd.attribute}
        ins = [env[i] for i in nd.input if i]
        if nd.op_type == "Conv":
            pads = list(a["pads"].ints)
            out = F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None, stride=list(a["strides"].ints),
                           padding=(pads[0], pads[1]), dilation=list(a["dilations"].ints), groups=a["group"].i)
        elif nd.op_type == "Relu":
            out = F.relu(ins[0])
        elif nd.op_type == "MaxPool":
            pads = list(a["pads"].ints) if "pads" in a else [0, 0, 0, 0]
            out = F.max_pool2d(ins[0], list(a["kernel_shape"].ints), list(a["strides"].ints), (pads[0], pads[1]),
                               ceil_mode=bool(a["ceil_mode"].i) if "ceil_mode" in a else False)
        elif nd.op_type == "Add":
            out = ins[0] + ins[1]
        elif nd.op_type == "GlobalAveragePool":
            out = ins[0].mean((2, 3), keepdim=True)
        elif nd.op_type == "Flatten":
            out = ins[0].flatten(1)
        elif nd.op_type == "Gemm":
            out = ins[0] @ ins[1].T + ins[2]
        else:
            raise ValueError("op " + nd.op_type)
        env[nd.output[0]] = out
        if nd.output[0] == stop:
            return out
    raise ValueError("no tensor " + stop)


def fashion_fixture(data_dir):
    import onnx
    res = os.path.join(REPO, "src/main/resources/dev/salient/demo")
    demo = json.load(open(os.path.join(res, "demo.json")))
    layer = demo["gradcam_layer"]
    model = onnx.load(os.path.join(res, "fashion_cnn.onnx"))
    x = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")).astype(np.float32)
    mean, std = demo["preprocessing"]["mean"][0], demo["preprocessing"]["std"][0]
    x = (x / 255.0 - mean) / std
    best = None
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            a = onnx_forward(model, torch.tensor(x[i:i + 1000, None]), layer).mean((2, 3)).max(0).values
            best = a if best is None else torch.maximum(best, a)
    json.dump({"model": "fashion_cnn.onnx", "layer": layer, "images": int(len(x)),
               "source": "Fashion-MNIST t10k-images-idx3-ubyte.gz (Debian dataset-fashion-mnist)",
               "objective": "channel: mean over positions, preprocessing (x/255 - mean)/std",
               "channel_max": [float(v) for v in best]},
              open(os.path.join(OUT, "fashion_channel_max.json"), "w"), indent=1)
    print("fashion: %d images, %d channels, max of channel objectives %s" % (len(x), len(best), np.round(best.numpy(), 3)))


def savez(name, **arrays):
    for k, v in arrays.items():
        np.save(os.path.join(OUT, f"{name}_{k}.npy"), np.ascontiguousarray(v, dtype=np.float32))


def tiny_model():
    torch.manual_seed(16)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 16, 3, stride=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 5)).eval()
    torch.onnx.export(net, torch.zeros(1, 3, 32, 32), os.path.join(OUT, "tiny_dynamic.onnx"), opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "logits": {0: "N"}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fashion", help="folder with t10k-images-idx3-ubyte.gz (default: unpack the Debian package "
                                      "dataset-fashion-mnist from the apt cache, if there)")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(16)
    torch.manual_seed(16)
    fft_fixtures(rng)
    resample_fixture(rng)
    adam_fixture(rng)
    tiny_model()
    data = args.fashion
    if data is None:
        debs = [f for f in os.listdir("/var/cache/apt/archives") if f.startswith("dataset-fashion-mnist")] \
            if os.path.isdir("/var/cache/apt/archives") else []
        for d in ["/usr/share/dataset-fashion-mnist", "/usr/share/fashion-mnist"]:
            if os.path.exists(os.path.join(d, "t10k-images-idx3-ubyte.gz")):
                data = d
        if data is None and debs:
            tmp = tempfile.mkdtemp()
            subprocess.run(["dpkg-deb", "-x", os.path.join("/var/cache/apt/archives", debs[0]), tmp], check=True)
            for root, _, files in os.walk(tmp):
                if "t10k-images-idx3-ubyte.gz" in files:
                    data = root
    if data:
        fashion_fixture(data)
    else:
        print("no Fashion-MNIST test set found: fashion_channel_max.json not rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()
