#!/usr/bin/env python3
"""Summarises an `ncu --csv --metrics gpu__time_duration.sum` log of bench_llm's profile mode: the kernels
of the last decode step grouped by name (and grid, which tells the GEMV shapes apart), with total time."""
import collections
import csv
import sys

rows = [r for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"'))
        if r.get("Metric Name") == "gpu__time_duration.sum"]
rows = [r for r in rows if "fill_random" not in r["Kernel Name"]]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
per_step = len(rows) // steps
last = rows[-per_step:]
groups = collections.OrderedDict()
for r in last:
    name = r["Kernel Name"].split("(")[0][:60]
    key = (name, r.get("Grid Size", ""))
    unit = r["Metric Unit"]
    v = float(r["Metric Value"].replace(",", ""))
    us = {"ns": v / 1000, "nsecond": v / 1000, "us": v, "usecond": v, "ms": v * 1000, "msecond": v * 1000}[unit]
    g = groups.setdefault(key, [0, 0.0])
    g[0] += 1
    g[1] += us
total = sum(g[1] for g in groups.values())
print(f"kernels per step: {per_step}, kernel time per step: {total:.1f} us")
for (name, grid), (n, us) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
    print(f"{us:9.1f} us  {n:4d}x  {us / n:7.2f} us  {name}  grid {grid}")
