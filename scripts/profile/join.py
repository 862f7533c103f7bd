#!/usr/bin/python3
"""Side by side, per conv shape (input, weight) and per other op type: the median over the profiled
passes of its ms in a pass, in salient (SalientProfile's lines, made with SALIENT_PROFILE=shapes) and
in ONNX Runtime (its profiler's JSON: each node's time charged to the model_run that holds it, the
last RUNS runs, which leaves out the warm-up runs), largest difference first. Used by
scripts/profile-vs-ort.
    join.py ORT_JSON SALIENT_LINES RUNS"""
import collections
import json
import re
import statistics
import sys

prof, sal, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = json.load(open(prof))
passes = sorted((e["ts"], e["ts"] + e["dur"]) for e in d if e.get("name") == "model_run")[-runs:]


def pass_of(ts):
    for i, (lo, hi) in enumerate(passes):
        if lo <= ts <= hi:
            return i
    return None


ort = collections.defaultdict(lambda: [0.0] * len(passes))
ort_calls = collections.Counter()
for e in d:
    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
        i = pass_of(e["ts"])
        if i is None:
            continue
        a = e["args"]
        shp = [list(x.values())[0] for x in a.get("input_type_shape", [])]
        op = a.get("op_name")
        key = (str(shp[0]).replace(" ", ""), str(shp[1]).replace(" ", "")) if op in ("Conv", "FusedConv", "NchwcConv") else (op,)
        ort[key][i] += e["dur"] / 1000
        ort_calls[key] += 1
ort_ms = {k: statistics.median(v) for k, v in ort.items()}

# salient keys ("fwd Conv+Relu [1,64,56,56] [64,64,3,3] [64]"; a conv that applies a map as it reads
# its input, "fwd ChannelAffine+Relu+Conv [1,128,28,28] [32,128,1,1] [32]") folded like ORT's: a conv
# by its input and weight shapes whatever it fused, another op by its type. Medians of a fold's per-pass sums are
# not at hand, so a fold sums its keys' medians.
sal_ms = collections.defaultdict(float)
sal_calls = collections.defaultdict(float)
for line in open(sal):
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 3:
        continue
    m = re.match(r"fwd (\S+) (\[[^ ]*\])(?: (\[[^ ]*\]))?", parts[0])
    if not m:
        continue
    op, a, b = m.groups()
    key = (a, b) if "Conv" in op.split("+") else (op.split("+")[0],)
    sal_ms[key] += float(parts[1])
    sal_calls[key] += float(parts[2])

keys = sorted(set(ort_ms) | set(sal_ms), key=lambda k: -(sal_ms.get(k, 0.0) - ort_ms.get(k, 0.0)))
print(f"{'salient ms':>10s} {'ORT ms':>8s} {'diff':>7s}  calls  op (input, weight shapes for convs); medians over {len(passes)} passes")
ts = to = 0.0
for k in keys:
    s, o = sal_ms.get(k, 0.0), ort_ms.get(k, 0.0)
    ts += s
    to += o
    print(f"{s:10.2f} {o:8.2f} {s - o:7.2f}  {sal_calls.get(k, 0):.0f}/{ort_calls[k] / max(1, len(passes)):.0f}  {' '.join(k)}")
print(f"total of the medians: salient {ts:.2f} ms, ORT {to:.2f} ms (ORT's fused ops are charged to the conv they run in)")
