#!/usr/bin/python3
"""Exact laws of the position samplers of docs/method.md, as JSON fixtures.

Independent reference for tests/positions (CTest never runs Python: the outputs
are committed in tests/fixtures/positions/). Needs only numpy; Phi uses math.erfc.

For each configuration (N, L, options) it writes cream_law_N{N}_L{L}{tag}.json:
  cream.p_relativity, the branches (h, t, m),
  cream.r / cream.r_exact_truncnorm: P(r = k), k = 2..2f, where r = floor(x) and
    x is the piecewise-linear inverse CDF of docs/method.md step 3 (point masses at
    2 and 2f included) or the exact normal truncated to [2, 2f],
  cream.e / cream.e_exact_truncnorm: the law of the middle end e, a mixture
    over branch and r of uniform integer ranges (step 4),
  pose.a, pose.s, pose.first_shifted (a + s), pose.b_for_window[W],
  randpos.min (smallest position) and randpos.order_statistic (the k-th smallest).
Every law is stored as a "binned pmf": {"offset": o, "width": w, "pmf": [...],
"mass_below": .., "mass_above": ..}: pmf[i] = P(o + i*w <= X < o + (i+1)*w);
mass outside the stored range (trimmed tails < 1e-15) is mass_below / mass_above.
It also writes rng_golden.json: reference outputs of splitmix64 / xoshiro256**
and of cream::util::Rng's seeding, Lemire draws and 53-bit uniforms.

Usage: /usr/bin/python3 scripts/reference/positions_law.py [OUT_DIR]
"""
import json
import math
import os
import sys

import numpy as np

M64 = (1 << 64) - 1
GRID = 1000


def phi(z):
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


# ---------------------------------------------------------------- cream r law
def r_law_interpolated(f, sigma):
    """P(r = k), k = 2..2f, for x = interp(u; c_j -> x_j) with end point masses."""
    mu = 1.0 + f
    xs = [2.0 + j * (2.0 * f - 2.0) / (GRID - 1) for j in range(GRID)]
    cs = [phi((x - mu) / sigma) for x in xs]

    def cdf_below(y):
        """P(x < y) = c(y), the inverse of the piecewise-linear map, for 2 < y <= 2f."""
        # x(u) is increasing; x < y  <=>  u < c(y) with c piecewise linear in y.
        j = int(np.searchsorted(xs, y, side="right")) - 1  # xs[j] <= y < xs[j+1]
        if j >= GRID - 1:
            return cs[-1]
        w = (y - xs[j]) / (xs[j + 1] - xs[j])
        return cs[j] + w * (cs[j + 1] - cs[j])

    probs = []
    for k in range(2, 2 * f + 1):
        lower = 0.0 if k == 2 else cdf_below(float(k))
        upper = 1.0 if k == 2 * f else cdf_below(float(k + 1))
        probs.append(upper - lower)
    return probs, cs[0], 1.0 - cs[-1]


def r_law_exact(f, sigma):
    mu = 1.0 + f
    a, b = (2.0 - mu) / sigma, (2.0 * f - mu) / sigma
    z = phi(b) - phi(a)
    probs = [(phi((k + 1 - mu) / sigma) - phi((k - mu) / sigma)) / z for k in range(2, 2 * f)]
    return probs + [0.0]


def branches(n, f, k, share):
    out = []
    if share > 0:
        h = n // 3
        out.append(("relativity", share, h, h, n - 2 * h))
    if share < 1:
        out.append(("continuity", 1.0 - share, k, k, n - 2 * k))
    return out


def e_law(n, l, f, k, share, r_probs):
    """Dense pmf of e over [0, L): mixture of U{floor(h + (m-1) r/2) .. rN/2 - t - 1}."""
    diff = np.zeros(l + 1)
    for _, pb, h, t, m in branches(n, f, k, share):
        for r, pr in zip(range(2, 2 * f + 1), r_probs):
            if pr == 0.0:
                continue
            lo = (2 * h + (m - 1) * r) // 2
            hi = r * n // 2 - t - 1
            assert lo <= hi and 0 <= lo and hi < l - t
            w = pb * pr / (hi - lo + 1)
            diff[lo] += w
            diff[hi + 1] -= w
    return np.cumsum(diff[:l])


# ---------------------------------------------------------- baselines' laws
def uniform_pmf(lo, hi, size):
    p = np.zeros(size)
    p[lo:hi + 1] = 1.0 / (hi - lo + 1)
    return p


def randpos_min(n, l):
    """P(min = v): survival S(v) = C(L-v, N) / C(L, N), S(v) - S(v+1) = S(v) N / (L-v)."""
    p = np.zeros(l)
    s = 1.0
    for v in range(0, l - n + 1):
        p[v] = s * n / (l - v)
        s *= (l - v - n) / (l - v)
    return p


def log_comb(a, b):
    return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)


def randpos_order_statistic(n, l, k):
    """P(k-th smallest = v) = C(v, k-1) C(L-1-v, N-k) / C(L, N), k 1-based."""
    p = np.zeros(l)
    total = log_comb(l, n)
    for v in range(k - 1, l - n + k):
        p[v] = math.exp(log_comb(v, k - 1) + log_comb(l - 1 - v, n - k) - total)
    return p


# -------------------------------------------------------------- packaging
def binned(pmf, width, offset_floor=0, trim=1e-15):
    pmf = np.asarray(pmf, dtype=float)
    cum = np.cumsum(pmf)
    total = cum[-1]
    lo = int(np.searchsorted(cum, trim, side="right"))
    hi = int(np.searchsorted(cum, total - trim, side="left"))
    lo = max(offset_floor, (lo // width) * width)
    hi = min(len(pmf) - 1, hi)
    bins = []
    for start in range(lo, hi + 1, width):
        bins.append(float(pmf[start:min(start + width, hi + 1)].sum()))
    return {
        "offset": lo,
        "width": width,
        "pmf": bins,
        "mass_below": float(pmf[:lo].sum()),
        "mass_above": float(pmf[lo + len(bins) * width:].sum()) if lo + len(bins) * width < len(pmf) else 0.0,
    }


def config_law(n, l, sigma=3.0, k=None, share=0.5):
    f = l // n
    k = 4 * f if k is None else k
    width = max(1, -(-l // 512))
    r_probs, mass_at_2, mass_at_2f = r_law_interpolated(f, sigma)
    r_exact = r_law_exact(f, sigma)
    cream = {
        "p_relativity": share,
        "branches": [{"name": b, "probability": p, "h": h, "t": t, "m": m}
                     for b, p, h, t, m in branches(n, f, k, share)],
        "r": {"offset": 2, "width": 1, "pmf": r_probs, "mass_below": 0.0, "mass_above": 0.0},
        "r_point_mass_at_2": mass_at_2,
        "r_point_mass_at_2f": mass_at_2f,
        "r_exact_truncnorm": {"offset": 2, "width": 1, "pmf": r_exact, "mass_below": 0.0, "mass_above": 0.0},
        "e": binned(e_law(n, l, f, k, share, r_probs), width),
        "e_exact_truncnorm": binned(e_law(n, l, f, k, share, r_exact), width),
    }
    a_hi = (n + 1) // 2
    a = uniform_pmf(1, a_hi, a_hi + 1)
    s = uniform_pmf(0, l - n, l - n + 1)
    first_shifted = np.convolve(a, s)  # index = a + s
    pose = {
        "a": binned(a, 1),
        "s": binned(s, width),
        "first_shifted": binned(first_shifted, width),
        "b_for_window": {},
    }
    for window in (n, n + 37, l, 2 * l):
        top = min(window, l)
        pose["b_for_window"][str(window)] = binned(uniform_pmf(n, top, top + 1), max(1, -(-(top - n + 1) // 256)))
    order_k = n // 2
    randpos = {
        "min": binned(randpos_min(n, l), 1),
        "order_statistic_k": order_k,
        "order_statistic": binned(randpos_order_statistic(n, l, order_k), width),
    }
    return {
        "config": {"train_length": n, "target_length": l, "sigma": sigma, "continuity_length": k,
                   "relativity_share": share},
        "cream": cream,
        "pose": pose,
        "randpos": randpos,
    }


# ------------------------------------------------------------- rng golden
def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Xoshiro:
    def __init__(self, s):
        self.s = list(s)

    @staticmethod
    def seeded(seed):
        st, words = seed & M64, []
        for _ in range(4):
            st, w = splitmix64(st)
            words.append(w)
        return Xoshiro(words)

    @staticmethod
    def derived(seed, stream):
        _, id_hash = splitmix64(stream ^ 0x6A09E667F3BCC909)
        _, seed_hash = splitmix64(seed)
        return Xoshiro.seeded(seed_hash ^ rotl(id_hash, 23) ^ (id_hash >> 7))

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, bound):  # Lemire
        m = self.next() * bound
        low = m & M64
        if low < bound:
            threshold = (1 << 64) % bound
            while low < threshold:
                m = self.next() * bound
                low = m & M64
        return m >> 64

    def uniform01(self):
        return (self.next() >> 11) * 2.0 ** -53


def rng_golden():
    st, splitmix = 0, []
    for _ in range(4):
        st, w = splitmix64(st)
        splitmix.append(w)
    fixed = Xoshiro([1, 2, 3, 4])
    seeded = Xoshiro.seeded(42)
    derived = Xoshiro.derived(42, 7)
    ints = Xoshiro.seeded(1)
    big = Xoshiro.seeded(2)
    unif = Xoshiro.seeded(3)
    return {
        "splitmix64_from_0": [str(v) for v in splitmix],
        "xoshiro_from_1234": [str(fixed.next()) for _ in range(8)],
        "rng_seed_42_state": [str(v) for v in Xoshiro.seeded(42).s],
        "rng_seed_42": [str(seeded.next()) for _ in range(4)],
        "rng_derive_42_7": [str(derived.next()) for _ in range(4)],
        "rng_seed_1_uniform_int_0_9": [ints.below(10) for _ in range(16)],
        "rng_seed_2_uniform_below_3e18": [str(big.below(3 * 10 ** 18)) for _ in range(8)],
        "rng_seed_3_uniform01": [unif.uniform01() for _ in range(4)],
    }


CONFIGS = [
    dict(n=64, l=256),
    dict(n=40, l=200, sigma=1.5, k=5, share=0.3),
    dict(n=512, l=4096),
    dict(n=4096, l=32768),
]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "positions")
    os.makedirs(out_dir, exist_ok=True)
    for cfg in CONFIGS:
        law = config_law(**cfg)
        tag = "" if len(cfg) == 2 else "_custom"
        path = os.path.join(out_dir, "cream_law_N%d_L%d%s.json" % (cfg["n"], cfg["l"], tag))
        with open(path, "w") as fh:
            json.dump(law, fh, separators=(",", ":"))
        print("wrote", path)
    with open(os.path.join(out_dir, "rng_golden.json"), "w") as fh:
        json.dump(rng_golden(), fh, indent=1)
    print("wrote rng_golden.json")


if __name__ == "__main__":
    main()
