#!/usr/bin/env python3
"""SLIC references: scikit-image's skimage.segmentation.slic (start_label=0, its other defaults:
max_num_iter=10, sigma=0, enforce_connectivity, Lab for RGB) on photographs that scikit-image
ships, subsampled to keep the fixtures small. The image is given to slic as uint8 (scikit-image
converts it to float64 in [0,1], then rescales it by its own min and max); salient's test passes
the same pixels as float32 / 255, planar (C,H,W).

Writes src/test/resources/fixtures/shap/slic/ (images as uint8 (H,W,C) or (H,W), labels as
uint8 or int32 (H,W)) and the "slic" part of slic_manifest.json.
Usage: /usr/bin/python3 scripts/make_slic_fixtures.py
"""
import json
import os

import numpy as np
import skimage
from skimage import data
from skimage.segmentation import slic

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "src/test/resources/fixtures/shap")

CASES = [
    # name, image, subsampling, n_segments, compactness
    ("astronaut_n50_c10", lambda: data.astronaut(), 4, 50, 10.0),
    ("coffee_n100_c20", lambda: data.coffee(), 4, 100, 20.0),
    ("chelsea_n30_c5", lambda: data.chelsea(), 3, 30, 5.0),
    ("camera_n50_c0.1", lambda: data.camera(), 4, 50, 0.1),
]


def main():
    os.makedirs(os.path.join(OUT, "slic"), exist_ok=True)
    cases = []
    for name, load, sub, n, c in CASES:
        img = np.ascontiguousarray(load()[::sub, ::sub])
        gray = img.ndim == 2
        labels = slic(img, n_segments=n, compactness=c, start_label=0, channel_axis=None if gray else -1)
        lab_dtype = np.uint8 if labels.max() < 256 else np.int32
        np.save(os.path.join(OUT, "slic", f"{name}_image.npy"), img.astype(np.uint8))
        np.save(os.path.join(OUT, "slic", f"{name}_labels.npy"), labels.astype(lab_dtype))
        cases.append({"id": name, "image": f"slic/{name}_image.npy", "labels": f"slic/{name}_labels.npy",
                      "n_segments": n, "compactness": c, "shape": list(img.shape), "segments": int(labels.max()) + 1})
        print(name, img.shape, "->", int(labels.max()) + 1, "segments")
    manifest = {"generator": "scripts/make_slic_fixtures.py", "skimage": skimage.__version__,
                "call": "slic(img_uint8, n_segments, compactness, start_label=0) (channel_axis=None for gray)",
                "criterion": "adjusted Rand index >= 0.9", "cases": cases}
    with open(os.path.join(OUT, "slic_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
