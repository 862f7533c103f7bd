#!/usr/bin/python3
"""PyTorch CPU baseline for benchmarks/.../Conv2dBench: F.conv2d on the ResNet-50
conv shapes (same names and geometry as dev.salient.bench.ResNet50Convs), on a
fixed number of threads, printing GFLOP/s and images/s per shape (medians of
repeated timings).

    /usr/bin/python3 scripts/bench_conv_pytorch.py --batch 32 --threads 2 [--layers l1_3x3,l2_3x3]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

# name -> (c, h, k, kernel, stride, pad); keep in sync with ResNet50Convs.java
SHAPES = {
    "stem_7x7s2": (3, 224, 64, 7, 2, 3),
    "l1_reduce_64": (64, 56, 64, 1, 1, 0),
    "l1_reduce_256": (256, 56, 64, 1, 1, 0),
    "l1_3x3": (64, 56, 64, 3, 1, 1),
    "l1_expand": (64, 56, 256, 1, 1, 0),
    "l2_reduce_first": (256, 56, 128, 1, 1, 0),
    "l2_3x3s2": (128, 56, 128, 3, 2, 1),
    "l2_down_s2": (256, 56, 512, 1, 2, 0),
    "l2_reduce": (512, 28, 128, 1, 1, 0),
    "l2_3x3": (128, 28, 128, 3, 1, 1),
    "l2_expand": (128, 28, 512, 1, 1, 0),
    "l3_reduce_first": (512, 28, 256, 1, 1, 0),
    "l3_3x3s2": (256, 28, 256, 3, 2, 1),
    "l3_down_s2": (512, 28, 1024, 1, 2, 0),
    "l3_reduce": (1024, 14, 256, 1, 1, 0),
    "l3_3x3": (256, 14, 256, 3, 1, 1),
    "l3_expand": (256, 14, 1024, 1, 1, 0),
    "l4_reduce_first": (1024, 14, 512, 1, 1, 0),
    "l4_3x3s2": (512, 14, 512, 3, 2, 1),
    "l4_down_s2": (1024, 14, 2048, 1, 2, 0),
    "l4_reduce": (2048, 7, 512, 1, 1, 0),
    "l4_3x3": (512, 7, 512, 3, 1, 1),
    "l4_expand": (512, 7, 2048, 1, 1, 0),
}

# how many times each shape runs in one ResNet-50 forward (ResNet50Convs.COUNT)
COUNT = {
    "stem_7x7s2": 1, "l1_reduce_64": 1, "l1_reduce_256": 2, "l1_3x3": 3, "l1_expand": 4,
    "l2_reduce_first": 1, "l2_3x3s2": 1, "l2_down_s2": 1, "l2_reduce": 3, "l2_3x3": 3, "l2_expand": 4,
    "l3_reduce_first": 1, "l3_3x3s2": 1, "l3_down_s2": 1, "l3_reduce": 5, "l3_3x3": 5, "l3_expand": 6,
    "l4_reduce_first": 1, "l4_3x3s2": 1, "l4_down_s2": 1, "l4_reduce": 2, "l4_3x3": 2, "l4_expand": 3,
}


def read_jmh(path, method):
    """GFLOP/s per layer from the Conv2dBench.<method>:gflop lines of a JMH text report."""
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) > 6 and f[0] == f"Conv2dBench.{method}:gflop":
            out[f[2]] = float(f[6])
    return out


def flops(batch, c, h, k, r, s, p):
    oh = (h + 2 * p - r) // s + 1
    return 2.0 * batch * k * oh * oh * c * r * r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per timing sample")
    ap.add_argument("--layers", default="", help="comma-separated subset of shape names")
    ap.add_argument("--jmh", default="", help="JMH report of Conv2dBench (same batch/threads) to compare with")
    ap.add_argument("--backward", action="store_true",
                    help="time the data gradient (aten.convolution_backward, input grad only) instead of forward")
    ap.add_argument("--no-mkldnn", action="store_true", help="use PyTorch's native (non-oneDNN) conv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.no_mkldnn:
        torch.backends.mkldnn.enabled = False
    names = [n for n in args.layers.split(",") if n] or list(SHAPES)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
          f"mkldnn {torch.backends.mkldnn.enabled}, pass {'data gradient' if args.backward else 'forward'}")
    ours = read_jmh(args.jmh, "backwardData" if args.backward else "forward") if args.jmh else {}
    print(f"{'layer':18s} {'GFLOP/s':>9s} {'images/s':>9s} {'ms/call':>9s}"
          + (f" {'salient':>9s} {'ratio':>6s}" if ours else ""))
    t_torch = t_ours = 0.0
    torch.manual_seed(0)
    with torch.no_grad():
        for name in names:
            c, h, k, r, s, p = SHAPES[name]
            x = torch.randn(args.batch, c, h, h)
            w = torch.randn(k, c, r, r)
            b = torch.randn(k)
            if args.backward:
                oh = (h + 2 * p - r) // s + 1
                dy = torch.randn(args.batch, k, oh, oh)

                def call():
                    torch.ops.aten.convolution_backward(dy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], 1,
                                                        [True, False, False])
            else:
                def call():
                    F.conv2d(x, w, b, stride=s, padding=p)
            call()  # warm up
            samples = []
            for _ in range(args.repeats):
                n, t0 = 0, time.perf_counter()
                while True:
                    call()
                    n += 1
                    dt = time.perf_counter() - t0
                    if dt >= args.min_time:
                        break
                samples.append(dt / n)
            t = statistics.median(samples)
            fl = flops(args.batch, c, h, k, r, s, p)
            line = f"{name:18s} {fl / t * 1e-9:9.1f} {args.batch / t:9.1f} {t * 1e3:9.2f}"
            if name in ours:
                g = ours[name]
                line += f" {g:9.1f} {g / (fl / t * 1e-9):6.2f}"
                t_torch += COUNT[name] * t
                t_ours += COUNT[name] * fl / (g * 1e9)
            print(line, flush=True)
    if t_ours > 0:
        print(f"ResNet-50 convs (layers compared, x their counts) at batch {args.batch}: "
              f"torch {t_torch:.2f} s, salient {t_ours:.2f} s, salient/torch throughput {t_torch / t_ours:.2f}")


if __name__ == "__main__":
    main()
