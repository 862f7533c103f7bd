#!/usr/bin/python3
"""Side by side, per conv shape (input, weight) and per other op type: ms per forward pass in
salient (an OpProfile report made with SALIENT_PROFILE=shapes) and in ONNX Runtime (its profiler's
JSON), largest difference first. Used by scripts/profile-vs-ort.
    join.py ORT_JSON SALIENT_REPORT RUNS"""
import collections
import json
import re
import sys

prof, sal, runs_s = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = json.load(open(prof))
runs = sum(1 for e in d if e.get("name") == "model_run") or 1
ort = collections.defaultdict(lambda: [0.0, 0.0])
for e in d:
    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
        a = e["args"]
        shp = [list(x.values())[0] for x in a.get("input_type_shape", [])]
        op = a.get("op_name")
        key = (str(shp[0]).replace(" ", ""), str(shp[1]).replace(" ", "")) if op in ("Conv", "FusedConv", "NchwcConv") else (op,)
        ort[key][0] += e["dur"] / 1000 / runs
        ort[key][1] += 1 / runs
sal_t = collections.defaultdict(lambda: [0.0, 0.0])
for line in open(sal):
    m = re.match(r"fwd (\S+) (\[[^ ]*\])(?: (\[[^ ]*\]))?.*?\s+([\d.]+)\s+(\d+)\s+[\d.]+$", line.strip())
    if not m:
        continue
    op, a, b, s, c = m.groups()
    key = (a, b) if op.startswith("Conv") else (op.split("+")[0],)
    sal_t[key][0] += float(s) * 1000 / runs_s
    sal_t[key][1] += int(c) / runs_s
keys = sorted(set(ort) | set(sal_t), key=lambda k: -(sal_t[k][0] - ort[k][0]))
print(f"{'salient ms':>10s} {'ORT ms':>8s} {'diff':>7s}  calls  op (input, weight shapes for convs)")
ts = to = 0.0
for k in keys:
    s, o = sal_t[k][0], ort[k][0]
    ts += s
    to += o
    print(f"{s:10.2f} {o:8.2f} {s - o:7.2f}  {sal_t[k][1]:.0f}/{ort[k][1]:.0f}  {' '.join(k)}")
print(f"total: salient {ts:.2f} ms, ORT {to:.2f} ms (ORT's fused ops are charged to the conv they run in)")
