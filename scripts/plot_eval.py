#!/usr/bin/python3
"""Plot the JSON records written by `cream eval`.

Usage: scripts/plot_eval.py RECORD.json [RECORD.json ...] --out-dir DIR
           [--labels A,B,...] [--title T] [--window N]
           [--metric accuracy|token_accuracy|rouge_l_f1|strict_hit]

Records are recognised by shape: a perplexity record has "results" rows with
"ppl_token"; a retrieval record has "eval" (passkey, lines, kv or needle) and
"cells". Each run is labelled by --labels (in the order of the files), else by
the file's stem (the model folder's name breaks ties). Writes into --out-dir:
  ppl_vs_length.png             perplexity (ppl_token) vs length, every ppl run;
                                --window N draws the training window
  <label>_<eval>_heatmap.png    depth x length grid of the metric, for each
                                passkey and needle record
  <eval>_by_depth.png           metric vs depth ("lost in the middle"), one line
                                per run (per line / pair count when a run has
                                several), averaged over lengths
The metric defaults to accuracy (rouge_l_f1 for needle); --metric picks another
one wherever a record carries it. Plots without data are skipped. The written
paths are printed, one per line. Bad input: one line on stderr, exit status 2.
"""
import argparse
import json
import math
import os
import re
import sys

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)

PROG = "plot_eval"
RETRIEVAL_EVALS = ("passkey", "lines", "kv", "needle")
HEATMAP_EVALS = ("passkey", "needle")
METRICS = ("accuracy", "token_accuracy", "rouge_l_f1", "strict_hit")
DEFAULT_METRIC = {"passkey": "accuracy", "lines": "accuracy", "kv": "accuracy", "needle": "rouge_l_f1"}
# The count that splits one record into several depth curves.
GROUP_KEY = {"lines": ("lines", "lines"), "kv": ("pairs", "pairs")}
EVAL_TITLE = {
    "passkey": "Passkey retrieval",
    "lines": "LongChat-Lines",
    "kv": "Key-value retrieval",
    "needle": "Needle in a haystack",
}


class InputError(Exception):
    """Bad input; the message already names the file or option."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise InputError(message)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_lengths(lengths):
    """Tick labels: "4K" style when every length is a multiple of 1024, else the exact numbers."""
    lengths = [int(length) for length in lengths]
    if all(length >= 1024 and length % 1024 == 0 for length in lengths):
        return [f"{length // 1024}K" for length in lengths]
    return [str(length) for length in lengths]


def format_depth(depth):
    return f"{depth:g}%"


# ---------------------------------------------------------------- reading


def load_record(path):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise InputError(f"{path}: cannot read ({reason})")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: invalid JSON ({err.msg} at line {err.lineno} column {err.colno})")
    kind = record_kind(record)
    if kind is None:
        raise InputError(f"{path}: not a cream eval record (expected \"results\" rows with \"ppl_token\", "
                         f"or \"eval\" in {'/'.join(RETRIEVAL_EVALS)} with \"cells\")")
    check_rows(path, kind, record)
    return kind, record


def record_kind(record):
    if not isinstance(record, dict):
        return None
    results = record.get("results")
    if isinstance(results, list) and results and all(isinstance(r, dict) and "ppl_token" in r for r in results):
        return "ppl"
    if record.get("eval") in RETRIEVAL_EVALS and isinstance(record.get("cells"), list):
        return record["eval"]
    return None


def check_rows(path, kind, record):
    """Every row needs numeric coordinates; name the first that lacks them. Metric values may be
    null (a perplexity that overflowed is written as null) and are then left out of the plots."""
    if kind == "ppl":
        rows, needed, where = record["results"], ("length",), "results"
    else:
        rows, needed, where = record["cells"], ("length", "depth"), "cells"
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"{path}: {where}[{index}] is not an object")
        for key in needed:
            if not is_number(row.get(key)):
                raise InputError(f"{path}: {where}[{index}].{key} is missing or not a number")


def default_labels(paths, records):
    """File stems; where two runs share a stem, the model folder's name (then a counter) tells them apart."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    labels = []
    for stem, record in zip(stems, records):
        label = stem
        if stems.count(stem) > 1:
            model = str(record.get("model") or "").rstrip("/")
            if model:
                label = f"{os.path.basename(model)}-{stem}"
        labels.append(label)
    seen = {}
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            seen[label] = seen.get(label, 0) + 1
            labels[i] = f"{label}-{seen[label]}"
    return labels


def file_safe(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "run"


# ---------------------------------------------------------------- metrics


METRIC_LABEL = {
    "accuracy": "accuracy",
    "token_accuracy": "per-token accuracy",
    "rouge_l_f1": "ROUGE-L F1",
    "strict_hit": "strict hit rate",
}
_fallback_noted = set()


def metric_for(kind, cells, requested, label):
    """The requested metric where every cell carries it, else the eval's default (with a note)."""
    if requested and cells and all(is_number(c.get(requested)) for c in cells):
        return requested
    metric = DEFAULT_METRIC[kind]
    if requested and requested != metric and label not in _fallback_noted:
        _fallback_noted.add(label)
        print(f"{PROG}: note: {label} ({kind}) has no {requested}; plotting {metric}", file=sys.stderr)
    return metric


def weighted_mean(cells, metric):
    """Mean of the metric over cells, weighted by their trials (so it is the share over all trials)."""
    total = weight = 0.0
    for cell in cells:
        value = cell.get(metric)
        if not is_number(value):
            continue
        trials = cell.get("trials")
        w = float(trials) if is_number(trials) and trials > 0 else 1.0
        total += w * value
        weight += w
    return total / weight if weight > 0 else math.nan


def grouped(cells, key):
    groups = {}
    for cell in cells:
        groups.setdefault(key(cell), []).append(cell)
    return groups


# ---------------------------------------------------------------- figures


def titled(args, text):
    return f"{args.title}: {text}" if args.title else text


def save(fig, out_dir, name, written):
    """Write through a temporary name so a failed run leaves no truncated PNG behind."""
    path = os.path.join(out_dir, name)
    partial = path + ".partial"
    try:
        fig.savefig(partial, format="png", dpi=120, bbox_inches="tight")
        os.replace(partial, path)
    except OSError as err:
        if os.path.exists(partial):
            os.remove(partial)
        raise InputError(f"{path}: cannot write ({err.strerror or err})")
    finally:
        plt.close(fig)
    written.append(path)


def plot_ppl(runs, args, written):
    """runs: [(label, record)] of perplexity records."""
    fig, ax = plt.subplots(figsize=(8, 5))
    lengths = set()
    modes = {str(r.get("mode") or r.get("protocol") or "") for _, r in runs}
    values = []
    for label, record in runs:
        rows = sorted(record["results"], key=lambda r: r["length"])
        points = [(r["length"], r["ppl_token"]) for r in rows if is_number(r.get("ppl_token"))]
        if not points:
            continue
        xs, ys = zip(*points)
        lengths.update(xs)
        values.extend(ys)
        mode = record.get("mode") or record.get("protocol")
        name = f"{label} ({mode})" if len(modes) > 1 and mode else label
        ax.plot(xs, ys, marker="o", label=name)
    if not values:
        plt.close(fig)
        return
    ax.set_xscale("log", base=2)
    ticks = sorted(lengths)
    ax.set_xticks(ticks)
    ax.set_xticklabels(format_lengths(ticks))
    ax.minorticks_off()
    if min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")  # extrapolation beyond the window blows up by orders of magnitude
    if args.window:
        ax.axvline(args.window, color="grey", linestyle="--", linewidth=1,
                   label=f"window {format_lengths([args.window])[0]}")
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("perplexity (per token)")
    ax.set_title(titled(args, "Perplexity vs context length"))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    save(fig, args.out_dir, "ppl_vs_length.png", written)


def plot_heatmap(label, kind, record, args, written):
    cells = record["cells"]
    metric = metric_for(kind, cells, args.metric, label)
    lengths = sorted({c["length"] for c in cells})
    depths = sorted({c["depth"] for c in cells})
    if not lengths or not depths:
        return
    by_cell = grouped(cells, lambda c: (c["length"], c["depth"]))
    grid = [[weighted_mean(by_cell.get((length, depth), []), metric) for length in lengths] for depth in depths]
    if all(math.isnan(value) for row in grid for value in row):
        return  # the record does not carry this metric at all
    fig, ax = plt.subplots(figsize=(max(5.0, 0.75 * len(lengths) + 2.5), max(3.0, 0.5 * len(depths) + 1.8)))
    cmap = matplotlib.colormaps["RdYlGn"]  # a copy, so set_bad stays local
    cmap.set_bad("lightgrey")  # cells the record lacks
    data = np.ma.masked_invalid(np.array(grid, dtype=float))
    image = ax.imshow(data, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    for row, depth_values in enumerate(grid):
        for col, value in enumerate(depth_values):
            text = "–" if math.isnan(value) else f"{value:.2f}"
            ax.text(col, row, text, ha="center", va="center", fontsize=8,
                    color="black" if math.isnan(value) or 0.25 < value < 0.85 else "white")
    ax.set_xticks(range(len(lengths)))
    ax.set_xticklabels(format_lengths(lengths), rotation=45 if len(lengths) > 6 else 0)
    ax.set_yticks(range(len(depths)))
    ax.set_yticklabels([format_depth(d) for d in depths])
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("depth")
    scoring = record.get("scoring")
    detail = f", {scoring} scoring" if kind == "passkey" and scoring else ""
    ax.set_title(titled(args, f"{label}: {EVAL_TITLE[kind]} ({METRIC_LABEL[metric]}{detail})"))
    fig.colorbar(image, ax=ax, label=METRIC_LABEL[metric])
    save(fig, args.out_dir, f"{file_safe(label)}_{kind}_heatmap.png", written)


def depth_curves(label, kind, record, args):
    """[(legend label, metric, depths, values)] for one record: one curve per line / pair count."""
    cells = record["cells"]
    metric = metric_for(kind, cells, args.metric, label)
    count_key, unit = GROUP_KEY.get(kind, (None, None))
    groups = grouped(cells, lambda c: c.get(count_key)) if count_key else {None: cells}
    several = len(groups) > 1
    curves = []
    for count in sorted(groups, key=lambda g: (g is None, g if g is not None else 0)):
        by_depth = grouped(groups[count], lambda c: c["depth"])
        depths = sorted(by_depth)
        values = [weighted_mean(by_depth[d], metric) for d in depths]
        points = [(d, v) for d, v in zip(depths, values) if not math.isnan(v)]
        if not points:
            continue
        name = f"{label} {count:g} {unit}" if several and count is not None else label
        curves.append((name, metric, *zip(*points)))
    return curves


LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D")


def plot_by_depth(kind, runs, args, written):
    """One colour per run; its line / pair counts differ by line style."""
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    metrics = set()
    plotted = 0
    for run_index, (label, record) in enumerate(runs):
        for curve_index, (name, metric, depths, values) in enumerate(depth_curves(label, kind, record, args)):
            metrics.add(metric)
            ax.plot(depths, values, color=colours[run_index % len(colours)],
                    linestyle=LINE_STYLES[curve_index % len(LINE_STYLES)],
                    marker=MARKERS[curve_index % len(MARKERS)], label=f"{name} ({METRIC_LABEL[metric]})")
            plotted += 1
    if not plotted:
        plt.close(fig)
        return
    metrics = sorted(metrics)
    if len(metrics) == 1:  # the metric is in the axis label; keep the legend short
        for line in ax.get_lines():
            line.set_label(line.get_label()[: -len(f" ({METRIC_LABEL[metrics[0]]})")])
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("depth of the target in the context (%)")
    ax.set_ylabel(METRIC_LABEL[metrics[0]] if len(metrics) == 1 else "score")
    # Depths are percents; fixed ticks stay readable when runs use uneven depths (kv gold indices).
    ax.set_xlim(-3, 103)
    ax.set_xticks(range(0, 101, 10))
    ax.set_xticklabels([format_depth(d) for d in range(0, 101, 10)])
    ax.set_title(titled(args, f"{EVAL_TITLE[kind]}: {' / '.join(METRIC_LABEL[m] for m in metrics)} by depth (mean over lengths)"))
    ax.grid(True, alpha=0.3)
    ax.legend()
    save(fig, args.out_dir, f"{kind}_by_depth.png", written)


# ---------------------------------------------------------------- main


def help_text():
    """The module docstring without its usage block (argparse prints its own)."""
    title, _usage, details = __doc__.split("\n\n", 2)
    return f"{title}\n\n{details}"


def parse_args(argv):
    parser = Parser(prog="plot_eval.py", description=help_text(),
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="*", metavar="RECORD.json", help="records written by `cream eval`")
    parser.add_argument("--out-dir", required=True, metavar="DIR", help="folder for the PNG files (created if missing)")
    parser.add_argument("--labels", metavar="A,B,...", help="run labels, one per record, in order")
    parser.add_argument("--title", metavar="T", help="prefix for every figure title")
    parser.add_argument("--window", type=int, metavar="N", help="training window: a dashed line on the perplexity plot")
    parser.add_argument("--metric", choices=METRICS, help="retrieval metric to plot where records carry it")
    args = parser.parse_args(argv)
    if not args.records:
        raise InputError("no input: give at least one RECORD.json")
    if args.window is not None and args.window <= 0:
        raise InputError(f"--window must be positive (got {args.window})")
    return args


def run(argv):
    args = parse_args(argv)
    loaded = [load_record(path) for path in args.records]
    records = [record for _, record in loaded]
    if args.labels is not None:
        labels = [label.strip() for label in args.labels.split(",")]
        if len(labels) != len(records) or not all(labels):
            raise InputError(f"--labels has {len(labels)} labels for {len(records)} records")
    else:
        labels = default_labels(args.records, records)
    try:
        os.makedirs(args.out_dir, exist_ok=True)
    except OSError as err:
        raise InputError(f"{args.out_dir}: cannot create the output folder ({err.strerror})")

    written = []
    ppl_runs = [(label, record) for label, (kind, record) in zip(labels, loaded) if kind == "ppl"]
    if ppl_runs:
        plot_ppl(ppl_runs, args, written)
    for label, (kind, record) in zip(labels, loaded):
        if kind in HEATMAP_EVALS and record["cells"]:
            plot_heatmap(label, kind, record, args, written)
    for kind in RETRIEVAL_EVALS:
        runs = [(label, record) for label, (k, record) in zip(labels, loaded) if k == kind]
        if runs:
            plot_by_depth(kind, runs, args, written)
    for path in written:
        print(path)
    if not written:
        print(f"{PROG}: nothing to plot (the records hold no data)", file=sys.stderr)
    return 0


def main():
    try:
        sys.exit(run(sys.argv[1:]))
    except InputError as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
