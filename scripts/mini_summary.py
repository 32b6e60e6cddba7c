#!/usr/bin/python3
"""Tables and plots for scripts/reproduce_mini.sh.

Reads the `cream eval` records in OUT/seed-S/eval/*.json and writes
  OUT/seed-S/summary.json, OUT/seed-S/summary.md, OUT/seed-S/plots/*.png (one seed)
  OUT/summary.json, OUT/summary.md (every seed found: mean and spread = max - min)
Runs with Debian's python3 (matplotlib through scripts/plot_eval.py).
"""
import argparse
import glob
import json
import os
import subprocess
import sys

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
    for task in ("lines", "kv"):
        record = load(f"{prefix}.{task}.json")
        row[f"{task}_acc"] = record["accuracy"]
        row[f"{task}_prompt_tokens"] = weighted(record["cells"], "prompt_tokens")
        row[f"{task}_by_depth"] = {str(d["depth"]): d["accuracy"] for d in record["by_depth"]}
    return row


def fmt(value, digits=1, scale=1.0):
    return "-" if value is None else f"{value * scale:.{digits}f}"


def markdown(rows, labels, spread=None):
    lengths = ["1N", "2N", "4N", "8N"]
    head = ["run"] + [f"ppl {l}" for l in lengths] + ["at", "passkey exact %", "passkey token %", "lines %", "kv %"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        def cell(key, scale=100.0, digits=1):
            text = fmt(row.get(key), digits, scale)
            if spread and row["name"] in spread and spread[row["name"]].get(key) is not None:
                text += f" ±{spread[row['name']][key] * scale / 2:.{digits}f}"
            return text
        ppl = []
        for l in lengths:
            text = fmt(row["ppl"].get(l), 2)
            if spread and row["name"] in spread and spread[row["name"]]["ppl"].get(l) is not None:
                text += f" ±{spread[row['name']]['ppl'][l] / 2:.2f}"
            ppl.append(text)
        out.append("| " + " | ".join([labels[row["name"]]] + ppl + [str(row["retrieval_length"])] +
                                     [cell(m) for m in METRICS]) + " |")
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
    seeds = {}
    for path in sorted(glob.glob(os.path.join(out_dir, "seed-*", "summary.json"))):
        record = load(path)
        seeds[record["seed"]] = {r["name"]: r for r in record["rows"]}
    names = [name for name, _ in ROWS if all(name in rows for rows in seeds.values()) and seeds]
    mean_rows, spread = [], {}
    for name in names:
        values = [seeds[s][name] for s in seeds]
        mean = {"name": name, "retrieval_length": values[0]["retrieval_length"], "ppl": {}}
        spread[name] = {"ppl": {}}
        for l in values[0]["ppl"]:
            xs = [v["ppl"][l] for v in values]
            mean["ppl"][l] = sum(xs) / len(xs)
            spread[name]["ppl"][l] = max(xs) - min(xs)
        for m in METRICS:
            xs = [v[m] for v in values if v.get(m) is not None]
            mean[m] = sum(xs) / len(xs) if xs else None
            spread[name][m] = (max(xs) - min(xs)) if xs else None
        mean_rows.append(mean)
    return sorted(seeds), mean_rows, spread


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--seconds", type=int, default=0)
    args = parser.parse_args()
    seed_dir = os.path.join(args.out, f"seed-{args.seed}")
    eval_dir = os.path.join(seed_dir, "eval")
    labels = dict(ROWS)
    rows = [row for row in (run_row(eval_dir, name, args.n) for name, _ in ROWS) if row]
    if not rows:
        sys.exit(f"mini_summary.py: no eval records in {eval_dir}")
    record = {"seed": args.seed, "N": args.n, "seconds": args.seconds, "rows": rows}
    with open(os.path.join(seed_dir, "summary.json"), "w") as f:
        json.dump(record, f, indent=2)
    with open(os.path.join(seed_dir, "summary.md"), "w") as f:
        f.write(f"# reproduce_mini, seed {args.seed} (N = {args.n}; {args.seconds // 60} min)\n\n")
        f.write(markdown(rows, labels))
    plots(eval_dir, os.path.join(seed_dir, "plots"), rows, labels)

    seeds, mean_rows, spread = combine(args.out)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"seeds": seeds, "N": args.n, "mean": mean_rows, "spread_max_minus_min": spread}, f, indent=2)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(f"# reproduce_mini over seeds {', '.join(map(str, seeds))} (N = {args.n})\n\n")
        f.write("Mean over seeds; ± is half the spread (max - min) between seeds.\n\n")
        f.write(markdown(mean_rows, labels, spread if len(seeds) > 1 else None))
    print(open(os.path.join(seed_dir, "summary.md")).read())


if __name__ == "__main__":
    main()
