#!/usr/bin/python3
"""Fixtures for the overlays of signed input-shaped attributions (dev.salient.report.AttributionVisual),
from a numpy re-implementation of Captum 0.8's visualization.py (captum/attr/_utils/visualization.py):

  _cumulative_sum_threshold(values, percentile): sort, float32 cumsum, the first sorted value whose running
      sum reaches cum[-1] * 0.01 * percentile
  _normalize_attr(attr, sign, outlier_perc, reduction_axis=2): channels summed; sign all: threshold of |a|;
      positive: the positive part; negative: the negative part, divided by -threshold of its magnitude;
      absolute_value: |a|; then attr / threshold clipped to [-1, 1]

and the colormaps Captum uses by default, as matplotlib builds them (bytes=True): Greens (positive),
Reds (negative), Blues (absolute_value) and LinearSegmentedColormap.from_list(["red", "white", "green"]) (all).

The drawn pixels follow the definitions AttributionVisual documents (heat: cmap(position); blended:
round((1 - alpha) * grey + alpha * cmap), grey = the channel mean stretched over its range to 0..255;
masked: int(pixel * norm)), with position = (v + 1) / 2 for sign all and v otherwise, looked up as
matplotlib does (entry floor(position * 256), 1 -> 255).

Writes src/test/resources/fixtures/overlay/captum_visual.json.
Usage: /usr/bin/python3 scripts/make_overlay_fixtures.py [--out FILE]
"""
import argparse
import json
import os

import matplotlib
import numpy as np
from matplotlib.colors import LinearSegmentedColormap


def cumulative_sum_threshold(values, percentile):
    assert 0 <= percentile <= 100
    sorted_vals = np.sort(values.flatten())
    cum_sums = np.cumsum(sorted_vals)
    threshold_id = np.where(cum_sums >= cum_sums[-1] * 0.01 * percentile)[0][0]
    return sorted_vals[threshold_id]


def normalize_attr(attr_hwc, sign, outlier_perc):
    attr_combined = np.sum(attr_hwc, axis=2)
    if sign == "all":
        threshold = cumulative_sum_threshold(np.abs(attr_combined), 100.0 - outlier_perc)
    elif sign == "positive":
        attr_combined = (attr_combined > 0) * attr_combined
        threshold = cumulative_sum_threshold(attr_combined, 100.0 - outlier_perc)
    elif sign == "negative":
        attr_combined = (attr_combined < 0) * attr_combined
        threshold = -1 * cumulative_sum_threshold(np.abs(attr_combined), 100.0 - outlier_perc)
    else:
        attr_combined = np.abs(attr_combined)
        threshold = cumulative_sum_threshold(attr_combined, 100.0 - outlier_perc)
    return np.clip(attr_combined / threshold, -1, 1), threshold


CMAPS = {
    "greens": matplotlib.colormaps["Greens"],
    "reds": matplotlib.colormaps["Reds"],
    "blues": matplotlib.colormaps["Blues"],
    "rdwhgn": LinearSegmentedColormap.from_list("RdWhGn", ["red", "white", "green"]),
}
DEFAULT = {"positive": "greens", "negative": "reds", "absolute": "blues", "all": "rdwhgn"}


def lut(name):
    return CMAPS[name](np.arange(256), bytes=True)[:, :3].astype(int)


def draw(norm, sign, style, base, alpha):
    """norm (H,W) float32, base (H,W,3) uint8 -> (H,W,3) int."""
    if style == "masked":
        return np.clip((base.astype(np.int64) * norm[:, :, None].astype(np.float64)).astype(int), 0, 255)
    pos = (norm + np.float32(1)) / np.float32(2) if sign == "all" else norm
    idx = np.minimum(255, np.floor(pos.astype(np.float32) * np.float32(256)).astype(int))
    idx = np.where(pos > 0, idx, 0)
    colours = lut(DEFAULT[sign])[idx]
    if style == "heat":
        return colours
    grey = (base[:, :, 0].astype(np.float32) + base[:, :, 1] + base[:, :, 2]) / np.float32(3)
    lo, hi = grey.min(), grey.max()
    g = (grey - lo) / (hi - lo) * np.float32(255)
    a = np.float32(alpha)
    return np.floor((np.float32(1) - a) * g[:, :, None] + a * colours.astype(np.float32) + np.float32(0.5)).astype(int)


def f32list(a):
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def main():
    ap = argparse.ArgumentParser()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "src/test/resources/fixtures/overlay/captum_visual.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(20261202)
    inputs = {
        # (C,H,W) float32, channel-major as salient stores a row
        "rgb_normal": rng.standard_normal((3, 7, 5)).astype(np.float32),
        "rgb_heavy_tail": (rng.standard_t(1.5, (3, 9, 6)) * 1e-3).astype(np.float32),
        "grey_ties": np.round(rng.standard_normal((1, 6, 6)) * 2).astype(np.float32) / np.float32(4),
        "mostly_negative": (rng.standard_normal((3, 5, 8)) - 1.5).astype(np.float32),
        "positive_only": np.abs(rng.standard_normal((1, 8, 4))).astype(np.float32),
    }
    cases = []
    for name, x in inputs.items():
        hwc = np.transpose(x, (1, 2, 0))
        for sign in ("positive", "negative", "absolute", "all"):
            for perc in (2, 0, 10):
                with np.errstate(divide="ignore", invalid="ignore"):
                    norm, thr = normalize_attr(hwc, sign if sign != "absolute" else "absolute_value", perc)
                if not np.isfinite(norm).all():
                    continue  # nothing of this sign (Captum refuses a zero scale); tested apart
                cases.append({"input": name, "sign": sign, "outlier_perc": perc, "threshold": float(thr),
                              "norm": f32list(norm)})
    # drawn pixels on one input, every style
    x = inputs["rgb_normal"]
    base = rng.integers(0, 256, (7, 5, 3)).astype(np.uint8)
    drawn = []
    for sign in ("positive", "negative", "absolute", "all"):
        norm, _ = normalize_attr(np.transpose(x, (1, 2, 0)), sign if sign != "absolute" else "absolute_value", 2)
        norm = norm.astype(np.float32)
        for style in ("heat", "blended", "masked"):
            if style == "masked" and sign == "all":
                continue
            px = draw(norm, sign, style, base, 0.5)
            drawn.append({"sign": sign, "style": style, "alpha": 0.5,
                          "rgb": [int(r) << 16 | int(g) << 8 | int(b) for r, g, b in px.reshape(-1, 3)]})
    out = {
        "inputs": {k: {"shape": list(v.shape), "data": f32list(v)} for k, v in inputs.items()},
        "cases": cases,
        "luts": {k: [int(r) << 16 | int(g) << 8 | int(b) for r, g, b in lut(k)] for k in CMAPS},
        "drawn_input": "rgb_normal",
        "base_rgb": [int(r) << 16 | int(g) << 8 | int(b) for r, g, b in base.reshape(-1, 3)],
        "drawn": drawn,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"{len(cases)} normalisation cases, {len(drawn)} drawn -> {args.out}")


if __name__ == "__main__":
    main()
