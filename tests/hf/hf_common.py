"""Shared helpers for tests/hf/test_*.py: the built `cream` binary checked against the real
Hugging Face clients (transformers, tokenizers, sentencepiece) on tiny models.

Each script collects its cases with `Checks`, runs every case even after a failure, and
exits non-zero naming each failed case and its largest difference. Run one by hand with
  CREAM=build/cream ~/.cache/cream/venv/bin/python tests/hf/test_logits_parity.py
CREAM_TEST_DEVICE=cuda runs both sides of every logits comparison (cream_logits, hf_logits)
on the GPU instead of the CPU, with the same tolerance.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
try:
    from transformers.utils import logging as _hf_logging

    _hf_logging.disable_progress_bar()
except ImportError:  # reported by the first test that needs transformers
    pass

CREAM = os.environ.get("CREAM") or str(Path(__file__).resolve().parents[2] / "build" / "cream")
SOURCE_DIR = Path(os.environ.get("CREAM_SOURCE_DIR") or Path(__file__).resolve().parents[2])


def _test_device():
    """CREAM_TEST_DEVICE: where both sides of a logits comparison run, `cream logits --device`
    and the transformers model: cpu (default), cuda or cuda:N (scripts/device_check.sh)."""
    device = os.environ.get("CREAM_TEST_DEVICE", "cpu") or "cpu"
    if device != "cpu" and not (device == "cuda" or device.startswith("cuda:")):
        sys.exit(f"CREAM_TEST_DEVICE={device!r}: expected cpu, cuda or cuda:N")
    if device != "cpu" and not torch.cuda.is_available():
        sys.exit(f"CREAM_TEST_DEVICE={device}: torch {torch.__version__} sees no CUDA device")
    return device


TEST_DEVICE = _test_device()

# Float32 parity: cream builds RoPE angles in float64, transformers in float32, and the two
# sum in different orders; on these tiny models that stays near 1e-6 of the largest logit.
# The bound leaves room for that and still catches any wrong frequency, scale or weight.
LOGITS_REL_TOL = 1e-4


class CaseFailure(Exception):
    """A check that did not hold; the message names what and by how much."""


class Checks:
    """Runs named cases, keeps going after a failure, and reports all of them at the end."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.passed = 0
        self.started = time.time()

    def run(self, case, fn, *args, **kwargs):
        t0 = time.time()
        try:
            detail = fn(*args, **kwargs)
        except CaseFailure as e:
            self.failures.append(f"{case}: {e}")
            print(f"FAIL {case}: {e}", flush=True)
            return None
        except Exception as e:  # a crash in a case is a failure of that case, not of the script
            self.failures.append(f"{case}: {type(e).__name__}: {e}")
            print(f"FAIL {case}: {type(e).__name__}: {e}\n{traceback.format_exc()}", flush=True)
            return None
        self.passed += 1
        print(f"ok   {case} ({time.time() - t0:.1f}s){': ' + detail if isinstance(detail, str) else ''}", flush=True)
        return detail

    def finish(self):
        took = time.time() - self.started
        if self.failures:
            print(f"\n{self.name}: {len(self.failures)} case(s) failed, {self.passed} passed "
                  f"(device {TEST_DEVICE}, {took:.1f}s):")
            for f in self.failures:
                print(f"  - {f}")
            return 1
        print(f"\n{self.name}: all {self.passed} cases passed (device {TEST_DEVICE}, {took:.1f}s)")
        return 0


def tempdir(prefix):
    return tempfile.TemporaryDirectory(prefix=f"cream_hf_{prefix}_")


def run_cream(*args, expect_ok=True, timeout=600):
    """Runs the binary; returns the CompletedProcess. With expect_ok, a non-zero exit raises."""
    cmd = [CREAM] + [str(a) for a in args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if expect_ok and proc.returncode != 0:
        raise CaseFailure(f"`cream {' '.join(str(a) for a in args)}` exited {proc.returncode}: "
                          f"{proc.stderr.strip()[-2000:]}")
    return proc


# ---------------------------------------------------------------------------------------------
# Models made by transformers itself

def tiny_config(**overrides):
    from transformers import LlamaConfig

    kw = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
              rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, initializer_range=0.2)
    kw.update(overrides)
    return LlamaConfig(**kw)


def save_hf_model(folder, config, seed=0, randomize_norms=True, model_class=None):
    """A random LlamaForCausalLM (or `model_class`, e.g. Qwen2ForCausalLM) saved by
    save_pretrained (safetensors, float32).

    initializer_range 0.2 (vs 0.02) and random norm / bias weights make every weight matter
    and keep logits well apart, so a wrong tensor or a greedy near-tie cannot hide."""
    if model_class is None:
        from transformers import LlamaForCausalLM as model_class

    torch.manual_seed(seed)
    model = model_class(config).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                if randomize_norms:
                    p.copy_(1.0 + 0.3 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn_like(p))
    model.save_pretrained(folder, safe_serialization=True)
    return model


def load_hf_model(folder, model_class=None):
    """from_pretrained in float32 with loading info; fails on any missing / unexpected key.
    `model_class` defaults to LlamaForCausalLM; AutoModelForCausalLM picks by model_type."""
    if model_class is None:
        from transformers import LlamaForCausalLM as model_class

    model, info = model_class.from_pretrained(folder, dtype=torch.float32, output_loading_info=True)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise CaseFailure(f"from_pretrained({folder}) loading info not clean: {problems}")
    return model.eval()


def hf_logits(model, tokens, positions):
    """transformers' logits [T, vocab] as float32 numpy, computed on TEST_DEVICE (the model
    moves there; float32 matmuls stay exact float32 there: torch's TF32 default is off)."""
    # The explicit all-ones mask matters: without one, transformers 5 reads position ids that
    # do not step by 1 as packed sequences and masks attention between them.
    model.to(TEST_DEVICE)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([tokens], device=TEST_DEVICE),
                    position_ids=torch.tensor([positions], device=TEST_DEVICE),
                    attention_mask=torch.ones(1, len(tokens), dtype=torch.long, device=TEST_DEVICE), use_cache=False)
    return out.logits[0].float().cpu().numpy()


def cream_logits(folder, tokens, positions, workdir):
    from safetensors.numpy import load_file

    out = Path(workdir) / f"logits_{random.getrandbits(32):08x}.safetensors"
    run_cream("logits", "--model", folder, "--tokens", " ".join(map(str, tokens)),
              "--positions", " ".join(map(str, positions)), "--out", out, "--threads", "1",
              "--device", TEST_DEVICE)
    logits = load_file(str(out))["logits"]
    out.unlink()
    return logits


def compare_logits(what, ours, theirs, rel_tol=LOGITS_REL_TOL):
    """Raises CaseFailure unless max |ours - theirs| <= rel_tol * max |theirs|; returns a summary."""
    if ours.shape != theirs.shape:
        raise CaseFailure(f"{what}: shape {ours.shape} vs transformers {theirs.shape}")
    if not np.isfinite(ours).all():
        raise CaseFailure(f"{what}: cream logits are not finite")
    scale = float(np.abs(theirs).max())
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    worst = float(diff.max())
    row, col = np.unravel_index(int(diff.argmax()), diff.shape)
    if not worst <= rel_tol * scale:
        raise CaseFailure(f"{what}: max |cream - transformers| = {worst:.3e} at row {row}, vocab {col} "
                          f"> {rel_tol:g} x max|logit| ({scale:.3g})")
    return worst / scale


def spanning_positions(count, limit, seed):
    """`count` sorted distinct position ids in [0, limit) that include 0 and limit - 1."""
    rng = random.Random(seed)
    middle = rng.sample(range(1, limit - 1), count - 2)
    return [0] + sorted(middle) + [limit - 1]


def random_tokens(count, vocab, seed, low=3):
    rng = random.Random(seed)
    return [rng.randrange(low, vocab) for _ in range(count)]


# ---------------------------------------------------------------------------------------------
# Tokenizer and data

WORDS = ("the model reads a long context and finds its key in the middle of text window position "
         "passkey number value line remember retrieve document sequence token attention layer").split()

# Varied text: prose, code, digits, whitespace runs, unicode, emoji, tabs and newlines.
VARIED_TEXTS = [
    "The model reads a long context and finds its key in the middle.",
    "Hello world",
    "def f(x):\n    return x + 1  # add one\n\nprint(f(41))",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "The pass key is 71432. Remember it. 71432 is the pass key.",
    "1234567890 3.14159 -42 1e-5 0x1F 2024-06-11",
    "a  b   c    d\t\te\n\n\nf",
    "trailing spaces   ",
    "line one\nline two\r\nline three",
    "naïve café über Straße façade",
    "東京 北京 서울 Москва Αθήνα",
    "emoji 🚀🎉👍🏽 and ZWJ 👩‍💻 family",
    "mixed: αβγ 😀 x² ∑ → ≤ ≥ ≠",
    "ALL CAPS and MiXeD cAsE",
    "punctuation!?.,;:'\"()[]{}<>@#$%^&*_+=|\\/~`",
    "\tleading tab",
    "\nleading newline",
]

# HF's Llama tokenizer (tokenizers' Metaspace, prepend_scheme "first") does not add the
# dummy-prefix "▁" when the text already starts with a space, where SentencePiece always
# adds it (a leading tab or newline is not affected). Texts starting with a space are
# therefore checked against that known shape: HF's ids are SentencePiece's minus the first.
LEADING_SPACE_TEXTS = [" leading space", "   three leading spaces"]


def corpus_lines(count, seed):
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 20))]
        if i % 5 == 0:
            words.append(str(rng.randint(0, 99999)))
        lines.append(" ".join(words) + ".")
    # Enough of every script in VARIED_TEXTS that it gets pieces of its own, not only bytes.
    lines += [t.replace("\n", " ") for t in VARIED_TEXTS[:11]] * 3
    return lines


def train_tokenizer(folder, vocab_size=512, seed=0):
    """A Llama-style SentencePiece model (BPE, identity normalisation, byte fallback, digits
    split), trained as scripts/demo.sh does; returns the path of tokenizer.model."""
    import sentencepiece as spm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus_lines(600, seed)), model_prefix=str(folder / "tokenizer"),
        vocab_size=vocab_size, model_type="bpe", normalization_rule_name="identity",
        remove_extra_whitespaces=False, byte_fallback=True, split_digits=True, character_coverage=1.0,
        num_threads=1, minloglevel=2, hard_vocab_limit=False)
    (folder / "tokenizer.vocab").unlink()
    return folder / "tokenizer.model"


def write_jsonl(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")


def read_token_shards(folder):
    """Documents of a `cream data prepare` folder (manifest + tokens/index shards) as id lists."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    dtype = np.uint16 if manifest["dtype"] == "uint16" else np.uint32
    docs = []
    for shard in manifest["shards"]:
        tokens = np.fromfile(folder / shard["tokens_file"], dtype=dtype).astype(np.int64)
        starts = np.fromfile(folder / shard["index_file"], dtype=np.uint64).astype(np.int64)
        ends = list(starts[1:]) + [len(tokens)]
        docs += [tokens[s:e].tolist() for s, e in zip(starts, ends)]
    return docs


def copy_tokenizer_into(tokenizer_model, folder):
    shutil.copy(tokenizer_model, Path(folder) / "tokenizer.model")


def main_guard(fn):
    try:
        sys.exit(fn())
    except CaseFailure as e:
        print(f"FAIL (setup): {e}")
        sys.exit(1)
