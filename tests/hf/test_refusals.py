"""Folders transformers loads but cream cannot run faithfully are refused by name.

Each case starts from a real transformers-made folder (a tiny Llama, or a tiny GPT-2
saved by transformers itself) and checks that both `cream inspect` and
`cream logits` exit non-zero with one `cream: error:` line on stderr that names the key or
feature. A control case (the untouched Llama folder) must pass both.
"""
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hf_common import CaseFailure, Checks, main_guard, run_cream, save_hf_model, tempdir, tiny_config


def edited_llama(base, folder, edit):
    """A copy of the Llama folder with config.json changed by `edit(dict)`."""
    import shutil

    shutil.copytree(base, folder)
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def hf_gpt2(folder):
    from transformers import GPT2Config, GPT2LMHeadModel

    GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=128, n_embd=64, n_layer=2, n_head=4)).save_pretrained(folder)
    return folder


def run_both(folder, out_name):
    """`cream inspect` and `cream logits` on the folder, side by side (each is mostly start-up)."""
    commands = (["inspect", folder], ["logits", "--model", folder, "--tokens", "1 2 3", "--out",
                                      folder.parent / f"{out_name}.safetensors"])
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda args: run_cream(*args, expect_ok=False), commands))
    return [(command[0], proc) for command, proc in zip(commands, results)]


def expect_refused(folder, names):
    """Both commands fail with one error line on stderr naming one of `names`."""
    for command, proc in run_both(folder, folder.name):
        # The folder path is part of the message; only the rest may name the feature.
        errors = [line.replace(str(folder), "DIR") for line in proc.stderr.splitlines()
                  if line.startswith("cream: error:")]
        if proc.returncode == 0:
            raise CaseFailure(f"`cream {command}` accepted it (exit 0)")
        if len(errors) != 1 or not any(n in errors[0] for n in names):
            raise CaseFailure(f"`cream {command}` (exit {proc.returncode}) did not name {' / '.join(names)} in one "
                              f"error line; stderr: {proc.stderr.strip()[-600:]!r}")
    return errors[0][len("cream: error: "):][:160]


def expect_accepted(folder):
    for command, proc in run_both(folder, folder.name):
        if proc.returncode != 0:
            raise CaseFailure(f"`cream {command}` refused it: {proc.stderr.strip()[-600:]}")


def set_rope(rope):
    return lambda c: c.update(rope_parameters=rope)


def main():
    checks = Checks("hf_refusals")
    with tempdir("refusals") as tmp:
        work = Path(tmp)
        base = work / "llama"
        save_hf_model(base, tiny_config(max_position_embeddings=512), seed=0)
        checks.run("control: the transformers-made Llama folder", expect_accepted, base)

        cases = {
            # rope_type transformers knows but cream does not, and one nobody knows.
            "rope_type proportional": (set_rope({"rope_type": "proportional", "rope_theta": 10000.0,
                                                 "partial_rotary_factor": 0.5}), ["proportional"]),
            "rope_type unknown": (set_rope({"rope_type": "su-mystery", "factor": 2.0, "rope_theta": 10000.0}),
                                  ["su-mystery"]),
            "v4 rope_scaling unknown type": (lambda c: (c.pop("rope_parameters"), c.update(
                rope_scaling={"type": "xpos", "factor": 2.0}, rope_theta=10000.0)), ["xpos"]),
            "partial_rotary_factor": (set_rope({"rope_type": "default", "rope_theta": 10000.0,
                                                "partial_rotary_factor": 0.5}), ["partial_rotary_factor"]),
            "per-layer rope_parameters": (set_rope({"full_attention": {"rope_type": "default", "rope_theta": 1e4},
                                                    "sliding_attention": {"rope_type": "default",
                                                                          "rope_theta": 1e4}}),
                                          ["full_attention", "per-layer"]),
            "sliding_window below max_position_embeddings": (lambda c: c.update(sliding_window=64), ["sliding_window"]),
            "use_sliding_window": (lambda c: c.update(use_sliding_window=True, sliding_window=4096),
                                   ["use_sliding_window"]),
            "model_type mistral": (lambda c: c.update(model_type="mistral"), ["mistral", "model_type"]),
            "architectures LlamaForSequenceClassification": (
                lambda c: c.update(architectures=["LlamaForSequenceClassification"]), ["LlamaForSequenceClassification"]),
            "hidden_act gelu": (lambda c: c.update(hidden_act="gelu"), ["hidden_act"]),
        }
        for i, (name, (edit, names)) in enumerate(cases.items()):
            # Neutral folder names: the path is part of the message and must not match by itself.
            folder = edited_llama(base, work / f"case{i:02d}", edit)
            checks.run(name, expect_refused, folder, names)

        # Not a config edit: whole folders saved by transformers for other architectures.
        checks.run("transformers GPT2LMHeadModel folder", lambda: expect_refused(hf_gpt2(work / "other1"),
                                                                                ["GPT2LMHeadModel", "gpt2"]))
        # MistralForCausalLM loads since model families; its window of 64 refuses only longer
        # sequences (tests/hf/test_families.py: 64 tokens equal transformers, 65 refused).

        # A sliding window at least as long as the context changes nothing: accepted.
        wide = edited_llama(base, work / "wide", lambda c: c.update(sliding_window=512))
        checks.run("sliding_window >= max_position_embeddings is accepted", expect_accepted, wide)
    return checks.finish()


if __name__ == "__main__":
    main_guard(main)
