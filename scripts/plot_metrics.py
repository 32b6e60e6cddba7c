#!/usr/bin/python3
"""Plot training curves of one or more cream runs.

Usage: scripts/plot_metrics.py RUN_DIR [RUN_DIR ...] [--out DIR] [--smooth N]

Reads RUN_DIR/metrics.jsonl (one JSON object per logged step) of each run and
writes two figures into --out (default: the current folder): loss.png (loss over
steps) and lr.png (learning rate over steps). Runs are labelled by folder name.
Lines that do not parse (a torn last line of a killed run) are skipped; a run
without a readable metrics.jsonl is an error.
"""
import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)


def read_metrics(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        raise SystemExit(f"plot_metrics: {path}: no such file")
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), (int, float)):
                records.append(record)
    records.sort(key=lambda r: r["step"])
    return records


def series(records, key):
    """(steps, values) for the records where `key` is a finite number."""
    steps, values = [], []
    for record in records:
        value = record.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            steps.append(record["step"])
            values.append(value)
    return steps, values


def moving_average(values, window):
    if window <= 1:
        return values
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def run_label(run_dir):
    return os.path.basename(os.path.normpath(run_dir)) or run_dir


def plot(runs, key, ylabel, path, smooth=1, log_y=False):
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for label, records in runs:
        steps, values = series(records, key)
        if steps:
            axes.plot(steps, moving_average(values, smooth), label=label, linewidth=1.2)
    axes.set_xlabel("step")
    axes.set_ylabel(ylabel)
    if log_y:
        axes.set_yscale("log")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders holding metrics.jsonl")
    parser.add_argument("--out", default=".", help="folder for loss.png and lr.png")
    parser.add_argument("--smooth", type=int, default=1, help="moving-average window for the loss")
    args = parser.parse_args(argv)
    runs = [(run_label(run), read_metrics(run)) for run in args.runs]
    os.makedirs(args.out, exist_ok=True)
    loss_path = os.path.join(args.out, "loss.png")
    lr_path = os.path.join(args.out, "lr.png")
    plot(runs, "loss", "training loss", loss_path, smooth=args.smooth)
    plot(runs, "lr", "learning rate", lr_path)
    print(loss_path)
    print(lr_path)


if __name__ == "__main__":
    main(sys.argv[1:])
