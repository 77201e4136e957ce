#!/usr/bin/env python3
"""Prints, for each criterion benchmark of the last run, its estimate and its fastest sample.

On a shared or virtual machine the fastest of criterion's samples (time / iterations) is the
one least disturbed by other work; BENCHMARKS.md gives both. Usage, after `cargo bench`:
    scripts/bench-fastest.py [PREFIX]     (reads target/criterion, or $CARGO_TARGET_DIR/criterion)
"""
import json
import os
import sys

root = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
prefix = sys.argv[1] if len(sys.argv) > 1 else ""
for name in sorted(os.listdir(root)):
    new = os.path.join(root, name, "new")
    if not name.startswith(prefix) or not os.path.isdir(new):
        continue
    with open(os.path.join(new, "sample.json")) as f:
        sample = json.load(f)
    with open(os.path.join(new, "estimates.json")) as f:
        est = json.load(f)
    # What criterion prints as "time": the slope of time over iterations, else the mean.
    estimate = (est.get("slope") or est["mean"])["point_estimate"]
    fastest = min(t / n for t, n in zip(sample["times"], sample["iters"]))
    print(f"{name:45} estimate {estimate:9.2f} ns   fastest sample {fastest:9.2f} ns")
