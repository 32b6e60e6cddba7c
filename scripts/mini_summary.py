#!/usr/bin/python3
"""Tables and plots for scripts/reproduce_mini.sh.

Reads the `cream eval` records in OUT/seed-S/eval/*.json and writes
  OUT/seed-S/summary.json, OUT/seed-S/summary.md, OUT/seed-S/plots/*.png (one seed,
      with the machine it ran on: CPU model, cores, threads, LibTorch, commit)
  OUT/summary.json, OUT/summary.md (every seed found: the mean over seeds and a 95%
      interval from a two-level bootstrap, seeds then trials; see `interval`)
Runs with the venv's python3 (matplotlib through scripts/plot_eval.py).
"""
import argparse
import glob
import json
import os
import platform
import re
import subprocess
import sys

import numpy as np

ROWS = [
    ("base-at-N", "base, no scaling (retrieval at N)"),
    ("base-linear-x8-untuned", "base + linear x8, no tuning"),
    ("pi-linear-x8", "PI (standard positions) x8"),
    ("pose-linear-x8", "PoSE + linear x8"),
    ("randpos-linear-x8", "RandPos + linear x8"),
    ("cream-linear-x8", "CREAM + linear x8"),
    ("pose-yarn-x8", "PoSE + yarn-cream x8"),
    ("cream-yarn-x8", "CREAM + yarn-cream x8"),
    ("pi-linear-x4", "PI (standard positions) x4"),
    ("pose-linear-x4", "PoSE + linear x4"),
    ("cream-linear-x4", "CREAM + linear x4"),
]
METRICS = ["passkey_exact", "passkey_token_acc", "lines_acc", "kv_acc"]


def load(path):
    with open(path) as f:
        return json.load(f)


def weighted(cells, key):
    total = sum(c["trials"] for c in cells if key in c)
    return sum(c[key] * c["trials"] for c in cells if key in c) / total if total else None


def run_row(eval_dir, name, n):
    prefix = os.path.join(eval_dir, name)
    if not os.path.exists(prefix + ".ppl.json"):
        return None
    row = {"name": name}
    ppl = load(prefix + ".ppl.json")
    row["ppl"] = {str(r["length"] // n) + "N": r["ppl_token"] for r in ppl["results"]}
    passkey = load(prefix + ".passkey.json")
    row["retrieval_length"] = passkey["cells"][0]["length"]
    row["passkey_exact"] = passkey["accuracy"]
    row["passkey_token_acc"] = weighted(passkey["cells"], "token_accuracy")
    row["passkey_by_depth"] = {str(d["depth"]): d.get("token_accuracy", d["accuracy"]) for d in passkey["by_depth"]}
    row["trials"] = {"passkey_exact": trial_values(passkey, "correct"),
                     "passkey_token_acc": trial_values(passkey, "token_accuracy")}
    for task in ("lines", "kv"):
        record = load(f"{prefix}.{task}.json")
        row[f"{task}_acc"] = record["accuracy"]
        row["trials"][f"{task}_acc"] = trial_values(record, "correct")
        row[f"{task}_prompt_tokens"] = weighted(record["cells"], "prompt_tokens")
        row[f"{task}_by_depth"] = {str(d["depth"]): d["accuracy"] for d in record["by_depth"]}
    return row


def trial_values(record, key):
    """One value per trial (correct: 0 or 1), every cell's samples in order."""
    return [float(sample[key]) for cell in record["cells"] for sample in cell.get("samples", []) if key in sample]


def machine(cream, threads):
    """What decides the last bits of a run: CPU model, threads, pinned kernels, LibTorch, commit."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            names = re.findall(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        cpu = names[0].strip() if names else cpu
    except OSError:
        pass
    info = {"cpu_model": cpu, "cores": os.cpu_count(), "threads_per_process": threads, "libtorch": None,
            "commit": None, "kernels": {k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}}
    if cream:
        try:
            version = subprocess.run([cream, "version"], capture_output=True, text=True, check=True).stdout
            found = re.search(r"^libtorch (\S+)", version, re.M)
            info["libtorch"] = found.group(1) if found else None
        except (OSError, subprocess.CalledProcessError):
            pass
    try:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        info["commit"] = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True,
                                        check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def interval(per_seed, draws=2000, rng_seed=0):
    """Mean over seeds and a 95% percentile interval from a two-level bootstrap.

    per_seed: one entry per seed, either a number (perplexity: only seeds are resampled)
    or a list of per-trial values (retrieval: seeds are resampled, then each drawn seed's
    trials), so that the interval carries both the seed-to-seed spread and the finite
    number of trials. A fixed RNG seed: the same records give the same interval.
    """
    per_seed = [v for v in per_seed if v is not None and v != []]
    if not per_seed:
        return None
    level = np.array([np.mean(v) for v in per_seed])
    rng = np.random.default_rng(rng_seed)
    picks = rng.integers(len(per_seed), size=(draws, len(per_seed)))
    values = np.empty(picks.shape)
    for i, v in enumerate(per_seed):
        where = picks == i
        if isinstance(v, list):  # a fresh resample of this seed's trials at every pick
            trials = np.asarray(v, dtype=float)
            values[where] = trials[rng.integers(len(trials), size=(int(where.sum()), len(trials)))].mean(axis=1)
        else:
            values[where] = level[i]
    stats = values.mean(axis=1)
    low, high = np.percentile(stats, [2.5, 97.5])
    return {"mean": float(level.mean()), "low": float(low), "high": float(high), "seeds": len(per_seed)}


def fmt(value, digits=1, scale=1.0):
    return "-" if value is None else f"{value * scale:.{digits}f}"


def markdown(rows, labels):
    lengths = ["1N", "2N", "4N", "8N"]
    head = ["run"] + [f"ppl {l}" for l in lengths] + ["at", "passkey exact %", "passkey token %", "lines %", "kv %"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        out.append("| " + " | ".join([labels[row["name"]]] + [fmt(row["ppl"].get(l), 2) for l in lengths] +
                                     [str(row["retrieval_length"])] + [fmt(row.get(m), 1, 100.0) for m in METRICS]) +
                   " |")
    return "\n".join(out) + "\n"


def plots(eval_dir, plot_dir, rows, labels):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot_eval.py")
    os.makedirs(plot_dir, exist_ok=True)
    groups = {"x8": [r for r in rows if r["name"].endswith(("x8", "untuned")) or r["name"] == "base-at-N"],
              "x4": [r for r in rows if r["name"].endswith("x4")]}
    for group, members in groups.items():
        if not members:
            continue
        names = [r["name"] for r in members]
        for kind in ("ppl", "passkey", "lines", "kv"):
            files = [os.path.join(eval_dir, f"{name}.{kind}.json") for name in names]
            command = [sys.executable, script, *files, "--out-dir", os.path.join(plot_dir, f"{group}-{kind}"),
                       "--labels", ",".join(names), "--title", f"{kind}, factor {group[1:]}"]
            if kind == "passkey":
                command += ["--metric", "token_accuracy"]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def combine(out_dir):
    """Every seed's summary.json under out_dir: per run, the mean and 95% interval of each
    figure over the seeds that ran it (runs need not be in every seed: a smaller grid)."""
    seeds, machines = {}, {}
    for path in sorted(glob.glob(os.path.join(out_dir, "seed-*", "summary.json"))):
        record = load(path)
        seeds[record["seed"]] = {r["name"]: r for r in record["rows"]}
        machines[record["seed"]] = record.get("machine")
    rows = []
    for name, _ in ROWS:
        values = [seeds[s][name] for s in sorted(seeds) if name in seeds[s]]
        if not values:
            continue
        row = {"name": name, "retrieval_length": values[0]["retrieval_length"],
               "seeds": [s for s in sorted(seeds) if name in seeds[s]], "ppl": {}}
        for length in values[0]["ppl"]:
            row["ppl"][length] = interval([v["ppl"].get(length) for v in values])
        for m in METRICS:
            row[m] = interval([v.get("trials", {}).get(m) or v.get(m) for v in values])
        rows.append(row)
    return sorted(seeds), rows, machines


def interval_markdown(rows, labels):
    lengths = ["1N", "2N", "4N", "8N"]
    head = ["run", "seeds"] + [f"ppl {l}" for l in lengths] + ["at", "passkey exact %", "passkey token %",
                                                               "lines %", "kv %"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(stat, scale, digits):
        if stat is None:
            return "-"
        text = f"{stat['mean'] * scale:.{digits}f}"
        if stat["seeds"] > 1 or scale != 1.0:
            text += f" [{stat['low'] * scale:.{digits}f}, {stat['high'] * scale:.{digits}f}]"
        return text
    for row in rows:
        out.append("| " + " | ".join([labels[row["name"]], str(len(row["seeds"]))] +
                                     [cell(row["ppl"].get(l), 1.0, 2) for l in lengths] +
                                     [str(row["retrieval_length"])] + [cell(row[m], 100.0, 1) for m in METRICS]) + " |")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seconds", type=int, default=0)
    parser.add_argument("--cream", help="the cream binary the runs used (its LibTorch version is recorded)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads per process (0: all cores)")
    parser.add_argument("--no-plots", action="store_true", help="tables only")
    parser.add_argument("--combine-only", action="store_true", help="only OUT/summary.{json,md} from the seeds")
    args = parser.parse_args()
    if args.combine_only:
        write_combined(args.out, args.n)
        print(open(os.path.join(args.out, "summary.md")).read())
        return
    seed_dir = os.path.join(args.out, f"seed-{args.seed}")
    eval_dir = os.path.join(seed_dir, "eval")
    labels = dict(ROWS)
    rows = [row for row in (run_row(eval_dir, name, args.n) for name, _ in ROWS) if row]
    if not rows:
        sys.exit(f"mini_summary.py: no eval records in {eval_dir}")
    record = {"seed": args.seed, "N": args.n, "seconds": args.seconds,
              "machine": machine(args.cream, args.threads), "rows": rows}
    with open(os.path.join(seed_dir, "summary.json"), "w") as f:
        json.dump(record, f, indent=2)
    with open(os.path.join(seed_dir, "summary.md"), "w") as f:
        f.write(f"# reproduce_mini, seed {args.seed} (N = {args.n}; {args.seconds // 60} min)\n\n")
        m = record["machine"]
        f.write(f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['threads_per_process']} thread(s) per process, "
                f"LibTorch {m['libtorch']}, commit {(m['commit'] or '?')[:10]}.\n\n")
        f.write(markdown(rows, labels))
    if not args.no_plots:
        plots(eval_dir, os.path.join(seed_dir, "plots"), rows, labels)
    write_combined(args.out, args.n)
    print(open(os.path.join(seed_dir, "summary.md")).read())


def write_combined(out_dir, n):
    seeds, rows, machines = combine(out_dir)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump({"seeds": seeds, "N": n, "interval": "95% percentile, two-level bootstrap (seeds, then trials), "
                   "2000 draws", "runs": rows, "machines": machines}, f, indent=2)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(f"# reproduce_mini over seeds {', '.join(map(str, seeds))} (N = {n})\n\n")
        f.write("Mean over the seeds that ran each row, and in brackets a 95% interval: a two-level bootstrap "
                "(draw seeds with replacement, then each drawn seed's trials), 2000 draws. Perplexity "
                "resamples seeds only.\n\n")
        f.write(interval_markdown(rows, dict(ROWS)))


if __name__ == "__main__":
    main()
