"""`cream logits` equals transformers' float32 LlamaForCausalLM on tiny models that
transformers itself made (random init, save_pretrained, safetensors, transformers 5
`rope_parameters` spelling): MHA, GQA, MQA, tied embeddings, attention and MLP biases, an
explicit head_dim, and every rope type both know (linear, dynamic, yarn, longrope, llama3).

Positions: a sparse sorted set spanning [0, max_position_embeddings) (first and last
included); for the types whose frequencies depend on the largest position (dynamic,
longrope) also a short prefix, and for dynamic a span beyond the window, where it scales.
Tolerance: max |cream - HF| <= LOGITS_REL_TOL (1e-4) x max |HF logit|.
"""
from pathlib import Path

from hf_common import (Checks, LOGITS_REL_TOL, cream_logits, compare_logits, hf_logits, main_guard,
                       random_tokens, run_cream, save_hf_model, spanning_positions, tempdir, tiny_config)

MAX_POS = 512
N0 = 128  # pre-trained window of the scaled configs
HEAD_DIM = 16

LONG_FACTOR = [1.0 + 0.4 * i for i in range(HEAD_DIM // 2)]
SHORT_FACTOR = [1.0 + 0.05 * i for i in range(HEAD_DIM // 2)]

# case name -> (LlamaConfig overrides, extra position sets to check)
CASES = {
    "mha": ({}, []),
    "gqa": ({"num_key_value_heads": 2}, []),
    "mqa": ({"num_key_value_heads": 1}, []),
    "tied_embeddings": ({"tie_word_embeddings": True}, []),
    "attention_bias": ({"attention_bias": True, "num_key_value_heads": 2}, []),
    "mlp_bias": ({"mlp_bias": True}, []),
    "head_dim_32_theta_5e5": ({"head_dim": 32, "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}, []),
    "rope_linear": ({"rope_parameters": {"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}}, []),
    "rope_dynamic": ({"rope_parameters": {"rope_type": "dynamic", "factor": 4.0, "rope_theta": 10000.0}},
                     ["short", "beyond"]),
    "rope_yarn": ({"rope_parameters": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": N0,
                                       "rope_theta": 10000.0}}, []),
    "rope_yarn_options": ({"rope_parameters": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": N0,
                                               "rope_theta": 10000.0, "beta_fast": 16.0, "beta_slow": 2.0,
                                               "mscale": 0.8, "mscale_all_dim": 0.5, "truncate": False}}, []),
    "rope_yarn_attention_factor": ({"rope_parameters": {"rope_type": "yarn", "factor": 4.0,
                                                        "original_max_position_embeddings": N0, "rope_theta": 10000.0,
                                                        "attention_factor": 1.3}}, []),
    "rope_longrope": ({"rope_parameters": {"rope_type": "longrope", "factor": 4.0, "original_max_position_embeddings": N0,
                                           "rope_theta": 10000.0, "short_factor": SHORT_FACTOR,
                                           "long_factor": LONG_FACTOR}}, ["short"]),
    "rope_longrope_implicit_factor": ({"rope_parameters": {"rope_type": "longrope", "original_max_position_embeddings": N0,
                                                           "rope_theta": 10000.0, "short_factor": SHORT_FACTOR,
                                                           "long_factor": LONG_FACTOR}}, ["short"]),
    "rope_llama3": ({"rope_parameters": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                         "high_freq_factor": 4.0, "original_max_position_embeddings": N0,
                                         "rope_theta": 10000.0}}, []),
}


def check_case(name, overrides, extra, work):
    config = tiny_config(max_position_embeddings=MAX_POS, **overrides)
    folder = work / name
    model = save_hf_model(folder, config, seed=len(name))
    inspect = run_cream("inspect", folder)
    if "no problems found" not in inspect.stdout:
        raise AssertionError(f"cream inspect: {inspect.stdout}")
    sets = {"span": spanning_positions(96, MAX_POS, seed=1)}
    if "short" in extra:
        sets["short"] = list(range(40))  # below N0: longrope's short factors, dynamic unscaled
    if "beyond" in extra:
        sets["beyond"] = spanning_positions(64, 2 * MAX_POS, seed=2)  # dynamic NTK rescales here
    worst = 0.0
    for label, positions in sets.items():
        tokens = random_tokens(len(positions), config.vocab_size, seed=len(positions))
        ours = cream_logits(folder, tokens, positions, work)
        theirs = hf_logits(model, tokens, positions)
        worst = max(worst, compare_logits(f"positions {label} (max {positions[-1]})", ours, theirs))
    return f"max diff {worst:.1e} x max|logit| (tol {LOGITS_REL_TOL:g})"


def main():
    checks = Checks("hf_logits_parity")
    with tempdir("logits") as tmp:
        work = Path(tmp)
        for name, (overrides, extra) in CASES.items():
            checks.run(name, check_case, name, overrides, extra, work)
    return checks.finish()


if __name__ == "__main__":
    main_guard(main)
