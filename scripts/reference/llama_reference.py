#!/usr/bin/python3
"""Independent float64 reference for cream's Llama model (concern `model`).

Written from docs/method.md alone (it never calls cream), it produces the golden values the
C++ tests compare against:

  tests/fixtures/model/rope_expected.json       inverse frequencies + attention factor of
                                                every RoPE variant, for several configs
  tests/fixtures/model/weights/<set>/           tiny random Llama models as HF folders
                                                (config.json + model.safetensors written
                                                by hand from the safetensors spec)
  tests/fixtures/model/rope_configs/<v>.json    one config per RoPE variant, all sharing
                                                the weights of weights/gqa
  tests/fixtures/model/logits_cases.json        which config + weights + tokens + positions
  tests/fixtures/model/expected_logits.safetensors  float64 logits [B, T, vocab] per case

Run: /usr/bin/python3 scripts/reference/llama_reference.py  (numpy only; deterministic)
"""
import json
import math
import os
import struct
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "model")


# ----------------------------------------------------------------------------- RoPE
def rope_setup(cfg):
    """(head_dim d, theta, scaling dict or None, N0) of an HF-style config dict (v4 or v5)."""
    heads = cfg["num_attention_heads"]
    d = cfg.get("head_dim") or cfg["hidden_size"] // heads
    theta = cfg.get("rope_theta", 10000.0)
    scaling = cfg.get("rope_scaling")
    if cfg.get("rope_parameters") is not None:
        scaling = dict(cfg["rope_parameters"])
        theta = scaling.get("rope_theta", theta)
    if scaling is not None:
        scaling = dict(scaling)
        scaling["kind"] = scaling["type"] if "type" in scaling else scaling.get("rope_type", "default")
    n0 = cfg.get("max_position_embeddings", 2048)
    if scaling is not None and scaling.get("original_max_position_embeddings") is not None:
        n0 = scaling["original_max_position_embeddings"]
    return d, float(theta), scaling, n0


def plain_inv(theta, d):
    exponents = np.arange(0, d, 2, dtype=np.float64) / d  # 2i/d
    return np.array([1.0 / (theta ** e) for e in exponents], dtype=np.float64)


def yarn_weights(d, theta, n0, sc):
    """w_i of docs/method.md: 1 keeps the original frequency, 0 fully interpolates."""
    beta_fast = sc.get("beta_fast", 32.0)
    beta_slow = sc.get("beta_slow", 1.0)

    def dim_of(b):
        return d * math.log(n0 / (2 * math.pi * b)) / (2 * math.log(theta))

    lo, hi = dim_of(beta_fast), dim_of(beta_slow)
    if sc.get("truncate", True):
        lo, hi = math.floor(lo), math.ceil(hi)
    lo, hi = max(lo, 0), min(hi, d - 1)
    if hi == lo:
        hi += 0.001
    idx = np.arange(d // 2, dtype=np.float64)
    ramp = np.clip((idx - lo) / (hi - lo), 0.0, 1.0)
    return 1.0 - ramp


def yarn_mscale(sc):
    s = sc["factor"]

    def g(m):
        return 1.0 if s <= 1 else 0.1 * m * math.log(s) + 1.0

    if sc.get("attention_factor") is not None:
        return sc["attention_factor"]
    if sc.get("mscale") is not None and sc.get("mscale_all_dim") is not None:
        return g(sc["mscale"]) / g(sc["mscale_all_dim"])
    return g(1.0)


def rope_params(cfg, max_position):
    """(inv_freq float64 [d/2], attention factor) for the largest position id max_position."""
    d, theta, sc, n0 = rope_setup(cfg)
    kind = "default" if sc is None else sc["kind"]
    base = plain_inv(theta, d)
    if kind in ("default", "none"):
        return base, 1.0
    s = sc.get("factor", 1.0)
    if kind == "linear":
        return base / s, 1.0
    if kind == "ntk":
        return plain_inv(theta * s ** (d / (d - 2)), d), 1.0
    if kind == "dynamic":
        length = max_position + 1
        if length > n0:
            return plain_inv(theta * (s * length / n0 - (s - 1)) ** (d / (d - 2)), d), 1.0
        return base, 1.0
    if kind == "yarn":
        w = yarn_weights(d, theta, n0, sc)
        return (base / s) * (1 - w) + base * w, yarn_mscale(sc)
    if kind == "yarn-cream":
        w = yarn_weights(d, theta, n0, sc)
        return base / ((1 - w) * s + w), yarn_mscale(sc)
    if kind == "llama3":
        low, high = sc["low_freq_factor"], sc["high_freq_factor"]
        out = []
        for f in base:
            lam = 2 * math.pi / f
            if lam < n0 / high:
                out.append(f)
            elif lam > n0 / low:
                out.append(f / s)
            else:
                g = (n0 / lam - low) / (high - low)
                out.append((1 - g) * f / s + g * f)
        return np.array(out, dtype=np.float64), 1.0
    if kind == "longrope":
        factors = sc["long_factor"] if max_position + 1 > n0 else sc["short_factor"]
        if sc.get("attention_factor") is not None:
            af = sc["attention_factor"]
        else:
            af = 1.0 if s <= 1 else math.sqrt(1 + math.log(s) / math.log(n0))
        return base / np.array(factors, dtype=np.float64), af
    raise ValueError("unknown rope type " + kind)


def longrope_export(cfg):
    """The HF longrope config that docs/method.md prescribes for a yarn-cream config."""
    d, theta, sc, n0 = rope_setup(cfg)
    w = yarn_weights(d, theta, n0, sc)
    factors = [float(x) for x in (1 - w) * sc["factor"] + w]
    out = dict(cfg)
    out["rope_scaling"] = {"type": "longrope", "rope_type": "longrope", "short_factor": factors,
                           "long_factor": factors, "attention_factor": float(yarn_mscale(sc)),
                           "original_max_position_embeddings": n0, "factor": sc["factor"]}
    return out


# ----------------------------------------------------------------------------- model
def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def linear(x, tensors, name):
    y = x @ tensors[name + ".weight"].T
    if name + ".bias" in tensors:
        y = y + tensors[name + ".bias"]
    return y


def silu(x):
    return x / (1.0 + np.exp(-x))


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def reference_logits(cfg, tensors, tokens, positions):
    """float64 logits [B, T, vocab]; tensors are float64 numpy arrays keyed by HF names."""
    heads = cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads") or heads
    d = cfg.get("head_dim") or cfg["hidden_size"] // heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    inv, af = rope_params(cfg, int(positions.max()))
    angles = positions.astype(np.float64)[..., None] * inv  # [B, T, d/2]
    cos = np.concatenate([np.cos(angles)] * 2, -1)[:, None] * af  # [B, 1, T, d]
    sin = np.concatenate([np.sin(angles)] * 2, -1)[:, None] * af
    B, T = tokens.shape
    x = tensors["model.embed_tokens.weight"][tokens]
    causal = np.tril(np.ones((T, T), dtype=bool))
    for layer in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        h = rms_norm(x, tensors[p + "input_layernorm.weight"], eps)
        q = linear(h, tensors, p + "self_attn.q_proj").reshape(B, T, heads, d).transpose(0, 2, 1, 3)
        k = linear(h, tensors, p + "self_attn.k_proj").reshape(B, T, kv_heads, d).transpose(0, 2, 1, 3)
        v = linear(h, tensors, p + "self_attn.v_proj").reshape(B, T, kv_heads, d).transpose(0, 2, 1, 3)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        outs = []
        for j in range(heads):
            g = j // (heads // kv_heads)
            scores = q[:, j] @ k[:, g].transpose(0, 2, 1) / math.sqrt(d)
            scores = np.where(causal, scores, -np.inf)
            scores = scores - scores.max(-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(-1, keepdims=True)
            outs.append(probs @ v[:, g])
        attended = np.stack(outs, axis=1).transpose(0, 2, 1, 3).reshape(B, T, heads * d)
        x = x + linear(attended, tensors, p + "self_attn.o_proj")
        h = rms_norm(x, tensors[p + "post_attention_layernorm.weight"], eps)
        x = x + linear(silu(linear(h, tensors, p + "mlp.gate_proj")) * linear(h, tensors, p + "mlp.up_proj"),
                       tensors, p + "mlp.down_proj")
    x = rms_norm(x, tensors["model.norm.weight"], eps)
    head = tensors["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else tensors["lm_head.weight"]
    return x @ head.T


# ----------------------------------------------------------------------------- files
def write_safetensors(path, tensors, dtype="F32"):
    """Writes {name: numpy array} in the given order per the safetensors spec."""
    np_type = {"F32": "<f4", "F64": "<f8"}[dtype]
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array, dtype=np_type).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def random_weights(cfg, seed, stray_lm_head=False):
    """float32 weights (returned as float32 arrays) in HF order; scale ~1/sqrt(fan_in)."""
    rng = np.random.RandomState(seed)
    h, inter, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or heads
    d = cfg.get("head_dim") or h // heads

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / math.sqrt(cols)).astype(np.float32)

    def vec(n, center, spread):
        return (center + spread * rng.standard_normal(n)).astype(np.float32)

    t = {"model.embed_tokens.weight": rng.standard_normal((vocab, h)).astype(np.float32)}
    for layer in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        t[p + "input_layernorm.weight"] = vec(h, 1.0, 0.1)
        for name, rows, cols in (("q_proj", heads * d, h), ("k_proj", kv * d, h), ("v_proj", kv * d, h),
                                 ("o_proj", h, heads * d)):
            t[p + "self_attn.%s.weight" % name] = mat(rows, cols)
            if cfg.get("attention_bias"):
                t[p + "self_attn.%s.bias" % name] = vec(rows, 0.0, 0.3)
        t[p + "post_attention_layernorm.weight"] = vec(h, 1.0, 0.1)
        for name, rows, cols in (("gate_proj", inter, h), ("up_proj", inter, h), ("down_proj", h, inter)):
            t[p + "mlp.%s.weight" % name] = mat(rows, cols)
            if cfg.get("mlp_bias"):
                t[p + "mlp.%s.bias" % name] = vec(rows, 0.0, 0.3)
    t["model.norm.weight"] = vec(h, 1.0, 0.1)
    if not cfg.get("tie_word_embeddings") or stray_lm_head:
        t["lm_head.weight"] = mat(vocab, h)
    return t


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


# ----------------------------------------------------------------------------- fixtures
def base_gqa():
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
            "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
            "num_hidden_layers": 2, "vocab_size": 64, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "tie_word_embeddings": False, "torch_dtype": "float32"}


SMALL = {"hidden_size": 16, "intermediate_size": 24, "num_attention_heads": 2, "num_key_value_heads": 1,
         "head_dim": 8, "num_hidden_layers": 1}

WEIGHT_SETS = {
    # name: (config changes, seed, stray lm_head)
    "gqa": ({}, 1, False),
    "mha": ({"num_attention_heads": 2, "num_key_value_heads": None, "head_dim": None, "num_hidden_layers": 1,
             "rms_norm_eps": None}, 2, False),
    "tied": (dict(SMALL, tie_word_embeddings=True), 3, False),
    "tied_stray_head": (dict(SMALL, tie_word_embeddings=True), 4, True),
    "bias": (dict(SMALL, attention_bias=True, mlp_bias=True, rope_scaling={"type": "linear", "factor": 4.0}),
             5, False),
}


def yarn_scaling(**extra):
    sc = {"type": "yarn", "rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 4096}
    sc.update(extra)
    return sc


ROPE_VARIANTS = {
    "default": None,
    "linear": {"type": "linear", "rope_type": "linear", "factor": 8.0},
    "ntk": {"type": "ntk", "factor": 8.0},
    "dynamic": {"rope_type": "dynamic", "factor": 8.0},
    "yarn": yarn_scaling(),
    "yarn_cream": {"type": "yarn-cream", "factor": 8.0, "original_max_position_embeddings": 4096},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 2048},
}


def with_changes(cfg, changes):
    out = dict(cfg)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def llama2_like(scaling, d_heads=32, hidden=4096, theta=10000.0, max_pos=4096):
    cfg = {"hidden_size": hidden, "intermediate_size": 11008, "num_attention_heads": d_heads,
           "num_hidden_layers": 32, "vocab_size": 32000, "max_position_embeddings": max_pos, "rope_theta": theta}
    if scaling is not None:
        cfg["rope_scaling"] = scaling
    return cfg


def rope_cases():
    cases = [
        ("default", llama2_like(None), 0),
        ("linear_s8", llama2_like({"type": "linear", "factor": 8.0}), 0),
        ("ntk_s8", llama2_like({"type": "ntk", "factor": 8.0}), 0),
        ("dynamic_below_window", llama2_like({"type": "dynamic", "factor": 8.0}), 1000),
        ("dynamic_at_32k", llama2_like({"type": "dynamic", "factor": 8.0}), 32767),
        ("dynamic_at_262143", llama2_like({"type": "dynamic", "factor": 4.0}), 262143),
        ("yarn_s8", llama2_like(yarn_scaling(), max_pos=32768), 0),
        ("yarn_s16_no_truncate", llama2_like(yarn_scaling(factor=16.0, truncate=False)), 0),
        ("yarn_attention_factor", llama2_like(yarn_scaling(attention_factor=1.25, beta_fast=16, beta_slow=2)), 0),
        ("yarn_mscale_pair", llama2_like(yarn_scaling(mscale=0.707, mscale_all_dim=1.0)), 0),
        ("yarn_hi_equals_lo", llama2_like(yarn_scaling(beta_fast=4.0, beta_slow=4.0, truncate=False)), 0),
        ("yarn_small_head_clamped", llama2_like(yarn_scaling(factor=4.0), d_heads=4, hidden=64), 0),
        ("yarn_factor_below_one", llama2_like(yarn_scaling(factor=0.5)), 0),
        ("yarn_cream_s8", llama2_like({"type": "yarn-cream", "factor": 8.0,
                                       "original_max_position_embeddings": 4096}, max_pos=32768), 0),
        ("yarn_cream_s4_theta5e5", llama2_like({"type": "yarn-cream", "factor": 4.0}, theta=500000.0), 0),
        ("llama3_8b_31", dict(llama2_like({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                                          theta=500000.0, max_pos=131072), num_key_value_heads=8), 0),
        ("longrope_short_long_below", llama2_like(None, max_pos=8192), 100),
        ("longrope_short_long_above", llama2_like(None, max_pos=8192), 9000),
        ("v5_rope_parameters_yarn", {"hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
                                     "num_hidden_layers": 32, "vocab_size": 32000, "max_position_embeddings": 32768,
                                     "rope_parameters": {"rope_type": "yarn", "rope_theta": 20000.0, "factor": 8.0,
                                                         "original_max_position_embeddings": 4096}}, 0),
        ("v4_type_wins_over_rope_type", llama2_like({"type": "linear", "rope_type": "dynamic", "factor": 2.0}), 9000),
    ]
    # A longrope with different short and long factors (not ours, but HF's semantics: the long
    # factors apply once the largest position reaches original_max_position_embeddings).
    rng = np.random.RandomState(7)
    short, long_ = [float(x) for x in 1 + rng.rand(64)], [float(x) for x in 2 + 6 * rng.rand(64)]
    for name, cfg, _ in cases:
        if name.startswith("longrope_short_long"):
            cfg["rope_scaling"] = {"type": "longrope", "short_factor": short, "long_factor": long_,
                                   "original_max_position_embeddings": 4096, "factor": 2.0}
    # Our yarn-cream export, read back as longrope, must give the yarn-cream frequencies.
    for name in ("yarn_cream_s8", "yarn_cream_s4_theta5e5"):
        cfg = dict(next(c for n, c, _ in cases if n == name))
        cases.append((name + "_exported_longrope", longrope_export(cfg), 0))
    return cases


def write_rope_expected():
    out = []
    for name, cfg, max_pos in rope_cases():
        inv, af = rope_params(cfg, max_pos)
        out.append({"name": name, "config": cfg, "max_position": max_pos,
                    "inv_freq": [float(x) for x in inv], "attention_factor": float(af)})
    write_json(os.path.join(OUT, "rope_expected.json"), out)


TOKENS = [[1, 17, 42, 63, 5, 30], [63, 0, 8, 21, 44, 2]]
POSITIONS = [[0, 5, 700, 4095, 100000, 262143], [3, 4, 9, 2048, 131071, 200000]]


def write_models():
    cases, expected = [], {}
    tokens, positions = np.array(TOKENS), np.array(POSITIONS)
    gqa_weights = None
    for name, (changes, seed, stray) in WEIGHT_SETS.items():
        cfg = with_changes(base_gqa(), changes)
        weights = random_weights(cfg, seed, stray)
        folder = os.path.join(OUT, "weights", name)
        os.makedirs(folder, exist_ok=True)
        write_json(os.path.join(folder, "config.json"), cfg)
        write_safetensors(os.path.join(folder, "model.safetensors"), weights)
        as64 = {k: v.astype(np.float64) for k, v in weights.items()}
        if name == "gqa":
            gqa_weights = as64
        case = "weights_" + name
        expected[case] = reference_logits(cfg, as64, tokens, positions)
        cases.append({"name": case, "config": "weights/%s/config.json" % name, "weights": "weights/" + name,
                      "tokens": TOKENS, "positions": POSITIONS})
    os.makedirs(os.path.join(OUT, "rope_configs"), exist_ok=True)
    variants = dict(ROPE_VARIANTS)
    for variant, scaling in variants.items():
        cfg = base_gqa()
        if scaling is not None:
            cfg["rope_scaling"] = scaling
        if variant == "llama3":
            cfg["rope_theta"] = 500000.0
        configs = [(variant, cfg)]
        if variant == "yarn_cream":
            configs.append(("longrope_exported", longrope_export(cfg)))
        for label, c in configs:
            write_json(os.path.join(OUT, "rope_configs", label + ".json"), c)
            case = "rope_" + label
            expected[case] = reference_logits(c, gqa_weights, tokens, positions)
            cases.append({"name": case, "config": "rope_configs/%s.json" % label, "weights": "weights/gqa",
                          "tokens": TOKENS, "positions": POSITIONS})
    write_json(os.path.join(OUT, "logits_cases.json"), cases)
    write_safetensors(os.path.join(OUT, "expected_logits.safetensors"), expected, dtype="F64")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write_rope_expected()
    write_models()
    print("wrote fixtures under", OUT, file=sys.stderr)
