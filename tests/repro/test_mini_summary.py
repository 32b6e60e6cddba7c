"""scripts/mini_summary.py's statistics: the two-level bootstrap interval and the
combined table over seeds, against expectations computed here independently."""
import json
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ.get("CREAM_SOURCE_DIR", "."), "scripts"))
import mini_summary  # noqa: E402


def check(condition, message):
    if not condition:
        sys.exit("test_mini_summary: " + message)


def test_constant_seeds_give_a_point():
    stat = mini_summary.interval([2.5, 2.5, 2.5])
    check(stat["mean"] == 2.5 and stat["low"] == 2.5 and stat["high"] == 2.5, f"constant seeds: {stat}")
    check(mini_summary.interval([]) is None and mini_summary.interval([None, []]) is None, "nothing to summarise")


def test_trials_widen_the_interval():
    # One seed of 100 coin flips at 0.5: the interval is the binomial one, about
    # 0.5 +- 1.96 * 0.05; seed-level numbers alone would give a point.
    flips = [1.0] * 50 + [0.0] * 50
    stat = mini_summary.interval([flips])
    check(abs(stat["mean"] - 0.5) < 1e-12, f"mean {stat}")
    check(0.38 < stat["low"] < 0.43 and 0.57 < stat["high"] < 0.62, f"binomial interval expected ~[0.40, 0.60]: {stat}")


def test_seed_spread_dominates_when_trials_agree():
    # Five seeds whose trials all agree (0 or 1 each): only the seeds vary; the mean of
    # 5 draws from {0,0,1,1,1} ranges over [0.2, 1.0] with the 95% interval inside.
    seeds = [[0.0] * 20, [0.0] * 20, [1.0] * 20, [1.0] * 20, [1.0] * 20]
    stat = mini_summary.interval(seeds)
    check(abs(stat["mean"] - 0.6) < 1e-12 and stat["seeds"] == 5, f"mean {stat}")
    check(0.19 < stat["low"] <= 0.2 + 1e-9 and 0.999 < stat["high"] <= 1.0, f"seed spread: {stat}")


def test_coverage_of_a_known_mean():
    # 200 simulated experiments of 6 seeds x 50 trials, seed effects N(0, 0.1) around 0.5:
    # the 95% interval should hold 0.5 in most of them (percentile bootstraps with 6 seeds
    # under-cover somewhat; require >= 80%).
    rng = random.Random(7)
    hits = 0
    for k in range(200):
        seeds = []
        for _ in range(6):
            p = min(1.0, max(0.0, 0.5 + rng.gauss(0, 0.1)))
            seeds.append([1.0 if rng.random() < p else 0.0 for _ in range(50)])
        stat = mini_summary.interval(seeds, draws=400, rng_seed=k)
        hits += stat["low"] <= 0.5 <= stat["high"]
    check(hits >= 160, f"coverage {hits}/200")


def test_fresh_seed_interval_by_hand():
    # Seeds 1, 2, 3, 4, 5: mean 3, s = sqrt(2.5), t(0.975, 4) = 2.776 (tables),
    # half-width 2.776 * 1.5811 * sqrt(1.2) = 4.808.
    stat = mini_summary.fresh_seed([1.0, 2.0, 3.0, 4.0, 5.0])
    check(abs(stat["low"] - (3 - 4.808)) < 2e-3 and abs(stat["high"] - (3 + 4.808)) < 2e-3, f"by hand: {stat}")
    check(mini_summary.fresh_seed([1.0]) is None and mini_summary.leave_one_out([1.0, 2.0]) is None, "too few seeds")
    check(mini_summary.t_975(12) == mini_summary.T_975[10] and mini_summary.t_975(100) == 1.96, "t between rows")
    same = mini_summary.leave_one_out([0.0, 0.0, 0.0, 0.0, 0.0])
    check(same == {"inside": 5, "of": 5}, f"constant seeds all land inside: {same}")
    outlier = mini_summary.leave_one_out([0.30, 0.31, 0.29, 0.30, 0.60])
    check(outlier["inside"] == 4, f"a seed far from the others lands outside: {outlier}")


def test_fresh_seed_covers_one_more_draw():
    # 2000 simulated studies of 5 seeds from N(0.5, 0.1), each with one fresh seed more:
    # a 95% prediction interval holds the fresh seed ~95% of the time (exact for normal
    # seeds); the interval of the mean would hold it far less often.
    rng = random.Random(11)
    inside = inside_mean_interval = 0
    for k in range(2000):
        seeds = [rng.gauss(0.5, 0.1) for _ in range(5)]
        fresh = rng.gauss(0.5, 0.1)
        stat = mini_summary.fresh_seed(seeds)
        inside += stat["low"] <= fresh <= stat["high"]
        if k < 200:
            mean = mini_summary.interval(seeds, draws=400, rng_seed=k)
            inside_mean_interval += mean["low"] <= fresh <= mean["high"]
    check(0.93 <= inside / 2000 <= 0.97, f"prediction coverage {inside}/2000")
    check(inside_mean_interval / 200 < 0.8, f"the interval of the mean is not where a seed lands: "
          f"{inside_mean_interval}/200")


def test_combine_reads_every_seed_and_smaller_grids():
    with tempfile.TemporaryDirectory() as out:
        for seed, runs in ((1, ["cream-linear-x8", "pose-linear-x8"]), (2, ["cream-linear-x8"])):
            rows = [{"name": name, "retrieval_length": 2016, "ppl": {"1N": 30.0 + seed, "8N": 47.0 + seed},
                     "passkey_exact": 0.1 * seed, "passkey_token_acc": 0.5,
                     "trials": {"passkey_exact": [1.0] * seed + [0.0] * (10 - seed),
                                "passkey_token_acc": [0.5] * 10}} for name in runs]
            os.makedirs(os.path.join(out, f"seed-{seed}"))
            with open(os.path.join(out, f"seed-{seed}", "summary.json"), "w") as f:
                json.dump({"seed": seed, "N": 256, "rows": rows, "machine": {"cpu_model": "x"}}, f)
        seeds, rows, machines = mini_summary.combine(out)
        check(seeds == [1, 2] and set(machines) == {1, 2}, f"seeds {seeds} machines {machines}")
        by_name = {r["name"]: r for r in rows}
        check(by_name["cream-linear-x8"]["seeds"] == [1, 2] and by_name["pose-linear-x8"]["seeds"] == [1],
              f"seeds per run: {rows}")
        check(abs(by_name["cream-linear-x8"]["ppl"]["8N"]["mean"] - 48.5) < 1e-9, "ppl mean over seeds")
        check(abs(by_name["cream-linear-x8"]["passkey_exact"]["mean"] - 0.15) < 1e-9, "exact mean over seeds")
        mini_summary.write_combined(out, 256)
        text = open(os.path.join(out, "summary.md")).read()
        check("| CREAM + linear x8 | 2 | 31.50 [31.00, 32.00]" in text, "markdown row:\n" + text)
        fresh = by_name["cream-linear-x8"]["fresh_seed"]["ppl_8N"]
        check(fresh["interval"]["low"] < 48.0 and fresh["interval"]["high"] > 49.0 and
              fresh["leave_one_out"] is None, f"two seeds: an interval, no leave-one-out: {fresh}")
        check("A fresh seed" not in text, "no fresh-seed table below 3 seeds:\n" + text)


def test_fresh_seed_table_from_three_seeds():
    with tempfile.TemporaryDirectory() as out:
        for seed, ppl in ((1, 47.0), (2, 48.0), (3, 49.0)):
            rows = [{"name": "cream-linear-x8", "retrieval_length": 2016, "ppl": {"8N": ppl},
                     "passkey_exact": 0.0, "passkey_token_acc": 0.3,
                     "trials": {"passkey_exact": [0.0] * 10, "passkey_token_acc": [0.3] * 10}}]
            os.makedirs(os.path.join(out, f"seed-{seed}"))
            with open(os.path.join(out, f"seed-{seed}", "summary.json"), "w") as f:
                json.dump({"seed": seed, "N": 256, "rows": rows, "machine": {"cpu_model": "x"}}, f)
        mini_summary.write_combined(out, 256)
        text = open(os.path.join(out, "summary.md")).read()
        # ppl: mean 48, s = 1, t(2) = 4.303, half 4.303 * sqrt(4/3) = 4.97; leaving out 47 or 49,
        # the other two (s = 0.707, t(1) = 12.7) hold it.
        check("| CREAM + linear x8 | 3 | [43.03, 52.97] | [0.0, 0.0] | [30.0, 30.0] | 3 of 3 | 3 of 3 | 3 of 3 |"
              in text, "fresh-seed row:\n" + text)


if __name__ == "__main__":
    for name, test in sorted(globals().items()):
        if name.startswith("test_") and callable(test):
            test()
            print("ok", name)
