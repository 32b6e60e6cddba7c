#!/usr/bin/python3
"""Tables and plots for scripts/reproduce_mini.sh.

Reads the `cream eval` records in OUT/seed-S/eval/*.json and writes
  OUT/seed-S/summary.json, OUT/seed-S/summary.md, OUT/seed-S/plots/*.png (one seed,
      with the machine it ran on: CPU model, cores, threads, LibTorch, commit)
  OUT/summary.json, OUT/summary.md (every seed found: the mean over seeds and a 95%
      interval from a two-level bootstrap, seeds then trials, see `interval`; and where a
      fresh seed should land, see `fresh_seed` and `leave_one_out`)
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
# The figures a fresh seed is checked on: key, scale and digits in the table, title.
FRESH_SEED_FIGURES = [("ppl_8N", 1.0, 2, "ppl 8N"), ("passkey_exact", 100.0, 1, "passkey exact %"),
                      ("passkey_token_acc", 100.0, 1, "passkey token %")]


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
    """What decides the last bits of a run: CPU model, threads, pinned kernels, LibTorch, and the
    commits of the binary (cream_commit, from `cream version`) and of the checkout the script ran
    from (commit)."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            names = re.findall(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        cpu = names[0].strip() if names else cpu
    except OSError:
        pass
    info = {"cpu_model": cpu, "cores": os.cpu_count(), "threads_per_process": threads, "libtorch": None,
            "cream_commit": None, "commit": None,
            "kernels": {k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}}
    if cream:
        try:
            version = subprocess.run([cream, "version"], capture_output=True, text=True, check=True).stdout
            found = re.search(r"^libtorch (\S+)", version, re.M)
            info["libtorch"] = found.group(1) if found else None
            found = re.search(r"^commit (\S+)", version, re.M)  # the binary's own (older builds lack it)
            info["cream_commit"] = found.group(1) if found else None
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


# Student's t, 97.5% quantile, by degrees of freedom (the prediction interval below).
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def t_975(df):
    """The 97.5% quantile of Student's t with df degrees of freedom (tabled; between rows, the
    next smaller df's value, which is the wider one)."""
    return T_975[max(d for d in T_975 if d <= df)] if df <= 30 else 1.96


def fresh_seed(values):
    """Where one more seed's value should land: a 95% prediction interval from the seeds'
    values (each seed's mean over its trials, so their spread carries the trials' noise),
    mean +- t(0.975, n-1) * s * sqrt(1 + 1/n). Not the interval of the mean: a single new
    seed varies as much as one seed does. None below 2 seeds."""
    values = np.array([v for v in values if v is not None], dtype=float)
    if len(values) < 2:
        return None
    half = t_975(len(values) - 1) * values.std(ddof=1) * np.sqrt(1 + 1 / len(values))
    return {"low": float(values.mean() - half), "high": float(values.mean() + half)}


def leave_one_out(values):
    """The fresh-seed check on seeds that ran: how many of them land inside the prediction
    interval of the others (expected: about 95% of them). None below 3 seeds."""
    values = [v for v in values if v is not None]
    if len(values) < 3:
        return None
    inside = 0
    for i, v in enumerate(values):
        stat = fresh_seed(values[:i] + values[i + 1:])
        inside += stat["low"] - 1e-12 <= v <= stat["high"] + 1e-12
    return {"inside": inside, "of": len(values)}


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
        row["fresh_seed"] = {}
        for key, *_ in FRESH_SEED_FIGURES:
            seed_values = [v["ppl"].get("8N") if key == "ppl_8N" else v.get(key) for v in values]
            row["fresh_seed"][key] = {"interval": fresh_seed(seed_values), "leave_one_out": leave_one_out(seed_values)}
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


def fresh_seed_markdown(rows, labels):
    """Where one more seed lands (95% prediction interval), and how many of the seeds that ran
    land inside the interval of the others."""
    keys = FRESH_SEED_FIGURES
    head = ["run", "seeds"] + [f"{title}: fresh seed" for *_, title in keys] + [f"{title}: left out, inside"
                                                                               for *_, title in keys]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        if len(row["seeds"]) < 3:
            continue
        fresh = row.get("fresh_seed", {})
        cells = []
        for key, scale, digits, _ in keys:
            stat = fresh.get(key, {}).get("interval")
            cells.append("-" if stat is None else
                         f"[{max(0.0, stat['low']) * scale:.{digits}f}, {stat['high'] * scale:.{digits}f}]")
        for key, *_ in keys:
            loo = fresh.get(key, {}).get("leave_one_out")
            cells.append("-" if loo is None else f"{loo['inside']} of {loo['of']}")
        out.append("| " + " | ".join([labels[row["name"]], str(len(row["seeds"]))] + cells) + " |")
    return "\n".join(out) + "\n" if len(out) > 2 else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, help="the seed whose records to summarise (not with --combine-only)")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seconds", type=int, default=0,
                        help="process seconds of this seed's runs (extensions and evaluations), summed")
    parser.add_argument("--cream", help="the cream binary the runs used (its LibTorch version is recorded)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads per process (0: all cores)")
    parser.add_argument("--no-plots", action="store_true", help="tables only")
    parser.add_argument("--combine-only", action="store_true", help="only OUT/summary.{json,md} from the seeds")
    args = parser.parse_args()
    if args.combine_only:
        write_combined(args.out, args.n)
        print(open(os.path.join(args.out, "summary.md")).read())
        return
    if args.seed is None:
        parser.error("--seed is required (unless --combine-only)")
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
        f.write(f"# reproduce_mini, seed {args.seed} (N = {args.n}; {args.seconds // 60} process-min of its runs)\n\n")
        m = record["machine"]
        f.write(f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['threads_per_process']} thread(s) per process, "
                f"LibTorch {m['libtorch']}, cream built from {(m['cream_commit'] or '?')[:10]}, "
                f"script from {(m['commit'] or '?')[:10]}.\n\n")
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
        fresh = fresh_seed_markdown(rows, dict(ROWS))
        if fresh:
            f.write("\nA fresh seed: where one more seed's value should land (95% prediction interval from "
                    "the seeds' values, mean +- t * s * sqrt(1 + 1/n), clipped at 0), and how many of the seeds "
                    "that ran land inside the interval computed from the others.\n\n" + fresh)


if __name__ == "__main__":
    main()
