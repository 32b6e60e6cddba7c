#!/usr/bin/python3
"""Plot `cream positions --stats` files side by side (one line per file).

Usage:
  /usr/bin/python3 scripts/plot_positions.py STATS.json [STATS.json ...] --out DIR [--label NAME ...]

Writes DIR/absolute_coverage.png, DIR/relative_coverage.png and, when any file
has one, DIR/middle_end.png and DIR/middle_scale.png. Curves are normalised
per sample (bucket count / samples / bucket width) so that runs with different
sample counts compare. Labels default to the method name (with N and L when the
files differ in them).
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(paths):
    runs = []
    for path in paths:
        try:
            with open(path) as fh:
                runs.append(json.load(fh))
        except (OSError, ValueError) as err:
            sys.exit("plot_positions: cannot read %s: %s" % (path, err))
        for key in ("method", "samples", "absolute_coverage", "relative_coverage"):
            if key not in runs[-1]:
                sys.exit("plot_positions: %s is not a `cream positions --stats` file (no '%s')" % (path, key))
    return runs


def default_labels(runs):
    lengths = {(r["train_length"], r["target_length"]) for r in runs}
    labels = []
    for r in runs:
        label = r["method"]
        if len(lengths) > 1:
            label += " N=%d L=%d" % (r["train_length"], r["target_length"])
        labels.append(label)
    # Disambiguate repeated labels (e.g. cream with two sigmas).
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            opts = runs[i].get("options", {})
            labels[i] = "%s (sigma %s, seed %s)" % (label, opts.get("sigma"), runs[i].get("seed"))
    return labels


def bucket_curve(hist, samples):
    width = hist["bucket_width"]
    counts = hist["bucket_counts"]
    xs = [(i + 0.5) * width for i in range(len(counts))]
    ys = [c / max(samples, 1) / width for c in counts]
    return xs, ys


def plot_histograms(runs, labels, key, title, ylabel, path, log_y=False):
    fig, ax = plt.subplots(figsize=(9, 4.5))
    drawn = False
    for run, label in zip(runs, labels):
        if key not in run:
            continue
        xs, ys = bucket_curve(run[key], run["samples"])
        ax.plot(xs, ys, label=label, linewidth=1.2)
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_title(title)
    ax.set_xlabel("position" if key != "relative_coverage" else "relative distance")
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_scale(runs, labels, path):
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for run, label in zip(runs, labels):
        hist = run.get("scale_histogram")
        if not hist:
            continue
        total = max(sum(hist["counts"]), 1)
        ax.plot(hist["r"], [c / total for c in hist["counts"]], marker="o", label=label)
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.set_title("CREAM middle scale r")
    ax.set_xlabel("r")
    ax.set_ylabel("share of samples")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stats", nargs="+", help="files written by cream positions --stats")
    parser.add_argument("--out", required=True, help="folder for the PNG files")
    parser.add_argument("--label", action="append", help="one label per stats file (default: method)")
    args = parser.parse_args()
    runs = load(args.stats)
    labels = args.label or default_labels(runs)
    if len(labels) != len(runs):
        sys.exit("plot_positions: %d labels for %d stats files" % (len(labels), len(runs)))
    os.makedirs(args.out, exist_ok=True)
    written = []
    plots = [
        ("absolute_coverage", "Absolute position coverage", "samples containing the position (share)",
         "absolute_coverage.png", False),
        ("relative_coverage", "Relative distance coverage (pairs i > j)", "pairs per sample", "relative_coverage.png",
         True),
        ("middle_end", "Middle segment end e (PoSE: end of the shifted chunk)", "probability per position",
         "middle_end.png", False),
    ]
    for key, title, ylabel, name, log_y in plots:
        path = os.path.join(args.out, name)
        if plot_histograms(runs, labels, key, title, ylabel, path, log_y):
            written.append(path)
    path = os.path.join(args.out, "middle_scale.png")
    if plot_scale(runs, labels, path):
        written.append(path)
    for path in written:
        print("wrote", path)


if __name__ == "__main__":
    main()
