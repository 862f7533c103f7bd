#!/usr/bin/python3
"""PyTorch CPU side of scripts/bench-vs-pytorch (see the table format there).

  bench_pytorch.py run --workload W --threads T --batch B --repeats R [--size S] [--steps K]
      times one workload and prints one line: `pytorch <workload> <img/s> img/s (median of R, ...)`
  bench_pytorch.py export --out-dir DIR
      writes DIR/resnet50.onnx and DIR/resnet18.onnx (the same seeded torchvision weights)

Workloads (random seeded torchvision weights, eval mode, float32, NCHW, input (B,3,S,S)):
  resnet50-forward        forward under no_grad
  gradcam-resnet50        Grad-CAM at layer4, weights frozen, torch.autograd.grad(target_sum, layer4
                          activation): backpropagation stops at the layer
  gradcam-resnet50-full   Grad-CAM as pytorch-grad-cam computes it: input requires grad, weight
                          gradients on, loss.backward() through the whole network
  ig-resnet18             Integrated Gradients as Captum computes it: 50 Gauss-Legendre steps,
                          internal_batch_size = steps (one image's steps in one batch), B images
  eigencam-resnet50       Eigen-CAM at layer4 as pytorch-grad-cam computes it: forward with the graph
                          recorded, activations to numpy, per image np.linalg.svd(full_matrices=True) of
                          the centred (h*w, C) matrix, projection on the first right singular vector
  fullgrad-resnet50       FullGrad as pytorch-grad-cam computes it: input and weight gradients on, hooks on
                          every BatchNorm, loss.backward(); |x*dx| and |b*G| per (image, channel) min-max and
                          resized (torch bilinear, batched, in place of the per-image cv2 loop), summed
  cfcam-resnet50          CF-CAM as the authors' cfcam.py computes it, with the forward and backward batched:
                          per image the (C-|I|)^2 x h*w broadcast distance matrix, sklearn DBSCAN, the
                          map-sized filter as a conv2d per cluster, softmax, ReLU, upsampling, / max
Every CAM workload includes the top-1 target choice, channel weights, ReLU, min-max and the bilinear
resize to the input size; IG includes the step scaling and the multiplication by (x - baseline).
"""
import argparse
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

SEED = 0


def make_model(arch):
    torch.manual_seed(SEED)
    model = getattr(torchvision.models, arch)(weights=None)
    return model.eval()


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


class ForwardW:
    def __init__(self, args):
        self.model = make_model("resnet50")
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.x = make_input(args.batch, args.size)

    def __call__(self):
        with torch.no_grad():
            return self.model(self.x)


class GradCamLayerOnly:
    """Backpropagate only to layer4: weights frozen; layer4's output made the one leaf needing grad."""

    def __init__(self, args):
        self.model = make_model("resnet50")
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.x = make_input(args.batch, args.size)
        self.acts = []
        self.model.layer4.register_forward_hook(self._hook)

    def _hook(self, module, inp, out):
        out.requires_grad_(True)      # a leaf: nothing before layer4 records a graph
        self.acts.append(out)
        return out

    def __call__(self):
        self.acts.clear()
        y = self.model(self.x)
        a = self.acts[0]
        t = y.argmax(1)
        (g,) = torch.autograd.grad(y.gather(1, t[:, None]).sum(), a)
        w = g.mean(dim=(2, 3), keepdim=True)
        return cam_postprocess((w * a.detach()).sum(1), self.x.shape[2:])


class GradCamFull:
    """pytorch-grad-cam's path: input requires grad, hooks capture activation and gradient,
    model.zero_grad(); loss.backward(retain_graph=True) with every weight gradient."""

    def __init__(self, args):
        self.model = make_model("resnet50")
        self.x = make_input(args.batch, args.size)
        self.act, self.grad = None, None
        self.model.layer4.register_forward_hook(self._hook)

    def _hook(self, module, inp, out):
        self.act = out.detach()

        def store(g):
            self.grad = g.detach()
        out.register_hook(store)

    def __call__(self):
        x = self.x.clone().requires_grad_(True)
        y = self.model(x)
        t = y.argmax(1)
        self.model.zero_grad()
        loss = y.gather(1, t[:, None]).sum()
        loss.backward(retain_graph=True)
        w = self.grad.mean(dim=(2, 3), keepdim=True)
        return cam_postprocess((w * self.act).sum(1), self.x.shape[2:])


class IgCaptum:
    """Captum IntegratedGradients.attribute(x, baselines=0, target=top1, n_steps=K,
    method='gausslegendre', internal_batch_size=K): per image, its K scaled inputs in one batch,
    torch.autograd.grad of the target logits, scaled by the step sizes, summed, times (x - x')."""

    def __init__(self, args):
        self.model = make_model("resnet18")
        self.x = make_input(args.batch, args.size)
        p, w = np.polynomial.legendre.leggauss(args.steps)
        self.alphas = torch.tensor(0.5 * (p + 1), dtype=torch.float32)
        self.weights = torch.tensor(0.5 * w, dtype=torch.float32)

    def __call__(self):
        with torch.no_grad():
            targets = self.model(self.x).argmax(1)
        out = []
        for i in range(self.x.shape[0]):
            xi = self.x[i:i + 1]
            base = torch.zeros_like(xi)
            scaled = (base + self.alphas[:, None, None, None] * (xi - base)).requires_grad_(True)
            y = self.model(scaled)
            (g,) = torch.autograd.grad(y[:, targets[i]].sum(), scaled)
            total = (g * self.weights[:, None, None, None]).sum(0, keepdim=True)
            out.append(total * (xi - base))
        return torch.cat(out)


class EigenCamPgc:
    """pytorch-grad-cam EigenCAM (uses_gradients=False): the forward still records a graph (the
    parameters require grad), then svd_on_activations.get_2d_projection per image in numpy."""

    def __init__(self, args):
        self.model = make_model("resnet50")
        self.x = make_input(args.batch, args.size)
        self.act = None
        self.model.layer4.register_forward_hook(self._hook)

    def _hook(self, module, inp, out):
        self.act = out.detach().cpu().numpy()

    def __call__(self):
        self.model(self.x)
        proj = []
        for a in self.act:
            m = a.reshape(a.shape[0], -1).transpose()
            m = m - m.mean(axis=0)
            _u, _s, vt = np.linalg.svd(m, full_matrices=True)
            proj.append((m @ vt[0, :]).reshape(a.shape[1:]))
        return cam_postprocess(torch.from_numpy(np.float32(proj)), self.x.shape[2:])


def minmax_planes(t):
    flat = t.flatten(1)
    flat = flat - flat.min(1, keepdim=True).values
    return (flat / (1e-7 + flat.max(1, keepdim=True).values)).view_as(t)


class FullGradPgc:
    """pytorch-grad-cam FullGrad: compute_input_gradient=True, every BatchNorm2d hooked (activation
    and gradient), model.zero_grad(); loss.backward(retain_graph=True) with weight gradients."""

    def __init__(self, args):
        self.model = make_model("resnet50")
        self.x = make_input(args.batch, args.size)
        self.bns = [m for m in self.model.modules() if isinstance(m, torch.nn.BatchNorm2d) and m.bias is not None]
        self.bias = [(m.bias - m.running_mean * m.weight / torch.sqrt(m.running_var + m.eps)).detach() for m in self.bns]
        self.grads = {}
        for i, m in enumerate(self.bns):
            m.register_forward_hook(self._hook(i))

    def _hook(self, i):
        def hook(module, inp, out):
            def store(g):
                self.grads[i] = g.detach()
            out.register_hook(store)
        return hook

    def _scaled_sum(self, t, size):
        n, c = t.shape[:2]
        total = torch.zeros(n, *size)
        for c0 in range(0, c, 64):          # channel chunks keep the resized maps to ~ n*64*H*W floats
            part = minmax_planes(t[:, c0:c0 + 64].reshape(-1, *t.shape[2:]))
            if tuple(part.shape[1:]) != tuple(size):
                part = F.interpolate(part[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
            total += part.view(n, -1, *size).sum(1)
        return total

    def __call__(self):
        x = self.x.clone().requires_grad_(True)
        y = self.model(x)
        t = y.argmax(1)
        self.model.zero_grad()
        y.gather(1, t[:, None]).sum().backward(retain_graph=True)
        size = tuple(x.shape[2:])
        with torch.no_grad():
            total = self._scaled_sum((x.grad * x).abs(), size)
            for i, b in enumerate(self.bias):
                total += self._scaled_sum((b[None, :, None, None] * self.grads[i]).abs(), size)
            return minmax_planes(total)


class CfCamAuthors:
    """The authors' cfcam.py (PEERS.md 1.2) with the forward and backward batched: hooks on layer4,
    logits.backward(one_hot) with weight gradients, then per image their numpy/sklearn/torch steps."""

    def __init__(self, args):
        self.model = make_model("resnet50")
        self.x = make_input(args.batch, args.size)
        self.act, self.grad = None, None
        self.model.layer4.register_forward_hook(self._hook)

    def _hook(self, module, inp, out):
        self.act = out.detach()

        def store(g):
            self.grad = g.detach()
        out.register_hook(store)

    @staticmethod
    def _bilateral(g, sigma_spatial=5.0, sigma_range=0.1):
        h, w = g.shape
        u = torch.arange(h, dtype=g.dtype)[:, None]
        v = torch.arange(w, dtype=g.dtype)[None, :]
        s = torch.exp(-((u - h / 2) ** 2 + (v - w / 2) ** 2) / (2 * sigma_spatial ** 2))
        r = torch.exp(-(g - g.mean()) ** 2 / (2 * sigma_range ** 2))
        k = s * r
        k = k / (k.sum() + 1e-6)
        return F.conv2d(g[None, None], k[None, None], padding="same")[0, 0]

    def _one(self, a, g):
        from sklearn.cluster import DBSCAN
        c = a.shape[0]
        f = a.reshape(c, -1).numpy()
        norms = np.linalg.norm(f, axis=1)
        important = norms >= np.percentile(norms, 75)
        rest = np.where(~important)[0]
        fr = f[rest]
        d = np.linalg.norm(fr[:, None] - fr[None, :], axis=2)      # the authors' broadcast temporary
        np.fill_diagonal(d, np.inf)
        eps = max(np.percentile(d[np.isfinite(d)], 25), 1e-5)
        labels = DBSCAN(eps=eps, min_samples=max(2, int(0.05 * len(rest)))).fit(fr).labels_
        weights = torch.zeros(c)
        valid = torch.from_numpy(important).clone()
        weights[valid] = g[valid].mean(dim=(1, 2))
        for j in set(labels.tolist()) - {-1}:
            members = torch.from_numpy(rest[labels == j])
            weights[members] = self._bilateral(g[members].mean(0)).mean()
            valid[members] = True
        alpha = torch.softmax(weights[valid], 0)
        return F.relu((alpha[:, None, None] * a[valid]).sum(0))

    def __call__(self):
        y = self.model(self.x)
        t = y.argmax(1)
        self.model.zero_grad()
        y.backward(F.one_hot(t, y.shape[1]).float())
        cams = torch.stack([self._one(a, g) for a, g in zip(self.act, self.grad)])
        up = F.interpolate(cams[:, None], size=self.x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
        mx = up.flatten(1).max(1).values.clamp_min(1e-30)
        return up / mx[:, None, None]


WORKLOADS = {"resnet50-forward": ForwardW, "gradcam-resnet50": GradCamLayerOnly,
             "gradcam-resnet50-full": GradCamFull, "ig-resnet18": IgCaptum,
             "eigencam-resnet50": EigenCamPgc, "fullgrad-resnet50": FullGradPgc, "cfcam-resnet50": CfCamAuthors}


def blas_in_use():
    """The BLAS library this process mapped (Debian's torch links libblas.so.3, which is the netlib
    reference BLAS unless the alternatives point elsewhere or LD_LIBRARY_PATH overrides it)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
        return ",".join(sorted(libs)) or "none mapped"
    except OSError:
        return "unknown"


def run(args):
    torch.set_num_threads(args.threads)
    w = WORKLOADS[args.workload](args)
    w()                                   # warm-up (allocator, oneDNN primitives)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        w()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    ips = args.batch / med
    print(f"pytorch {args.workload} {ips:.3f} img/s (median of {args.repeats}: {med * 1000:.1f} ms per "
          f"batch {args.batch}, threads {torch.get_num_threads()}, torch {torch.__version__}, blas {blas_in_use()})",
          flush=True)


def export(args):
    import os
    os.makedirs(args.out_dir, exist_ok=True)
    for arch in ("resnet50", "resnet18"):
        path = os.path.join(args.out_dir, f"{arch}.onnx")
        torch.onnx.export(make_model(arch), make_input(1, args.size), path, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                          training=torch.onnx.TrainingMode.EVAL)
        print(f"exported {path}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--batch", type=int, default=32)
    r.add_argument("--repeats", type=int, default=5)
    r.add_argument("--size", type=int, default=224)
    r.add_argument("--steps", type=int, default=50)
    e = sub.add_parser("export")
    e.add_argument("--out-dir", required=True)
    e.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    if args.cmd == "run":
        if args.batch < 1 or args.repeats < 1 or args.threads < 1:
            sys.exit("batch, repeats and threads must be >= 1")
        run(args)
    else:
        export(args)


if __name__ == "__main__":
    main()
