"""cream's tokenizer.json (byte-level BPE) equals the `tokenizers` package, id for id.

Two tokenizers are trained here with `tokenizers` itself, as Llama-3 and Qwen2 lay theirs
out: the Llama-3 Split regex with ignore_merges and a TemplateProcessing BOS, and the Qwen2
regex with the NFC normaliser and no BOS; both with special tokens and one plain added
token. A varied corpus (prose, code, long numbers, runs of spaces / tabs / newlines, CJK,
emoji, combining marks, special tokens inside the text) is encoded by `cream tokenize`
and by `tokenizers` (add_special_tokens=False): the ids must be identical, and cream's
decoding must equal `tokenizers`' decode. Invalid UTF-8 goes through `cream tokenize --raw`
against `tokenizers` on the same bytes decoded with errors="replace". `cream data prepare`
must store [BOS] + ids as `tokenizers` with add_special_tokens=True. Damaged files are
refused with one line naming the file and the field.
"""
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_common import (CaseFailure, Checks, corpus_lines, main_guard, read_token_shards, run_cream,  # noqa: E402
                       save_hf_model, tempdir, tiny_config, write_jsonl)

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

FAMILIES = {
    "llama3": {"pattern": LLAMA3_PATTERN, "nfc": False, "ignore_merges": True,
               "specials": ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                            "<|end_header_id|>"], "bos": "<|begin_of_text|>",
               "eos": "<|end_of_text|>"},
    "qwen2": {"pattern": QWEN2_PATTERN, "nfc": True, "ignore_merges": False,
              "specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "bos": None, "eos": "<|endoftext|>"},
}

EXTRA_TEXTS = [
    "Hello world! It's a test: they'll say 'We'RE here', I'd think. DON'T.",
    "def f(x):\n\treturn x ** 2  # square\n\n\nprint(f(12345678901234567890))",
    "Numbers: 1, 12, 123, 1234, 3.14159, -42, 1e-9, 0x1F, 2024-12-02 10:30:00",
    "   leading spaces, trailing spaces   \n\n\t\t tabs\r\nwindows line\r\n",
    "a" * 300 + " " + "ab" * 100,
    "日本語のテキストと中文文本，还有한국어 텍스트。",
    "emoji: 😀👍🏽🇫🇷 family: 👨‍👩‍👧‍👦 and ❤️",
    "combining: e\u0301 a\u0308 n\u0303 vs é ä ñ; Å vs A\u030a; ﬁ ligature",
    "special tokens inside: <|begin_of_text|>hi<|eot_id|> <|im_start|>user\nhello<|im_end|><|endoftext|>",
    "added token: <think>reasoning</think> done",
    "mixed\u00a0no-break\u2003em space\u3000ideographic\u200bzero-width",
    "",
    " ",
    "\n",
]
INVALID_UTF8 = [b"valid \xff\xfe invalid", b"\xc3\x28 truncated \xe2\x82", b"\xf0\x9f\x98 cut emoji \xed\xa0\x80 surrogate",
                b"end with lead byte \xe6"]


def build_tokenizer(folder, family, corpus):
    spec = FAMILIES[family]
    tok = Tokenizer(models.BPE(ignore_merges=spec["ignore_merges"]))
    if spec["nfc"]:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(spec["pattern"]), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=spec["specials"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    if spec["bos"]:
        bos_id = tok.token_to_id(spec["bos"])
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{spec['bos']} $A", special_tokens=[(spec["bos"], bos_id)])])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_tokens(["<think>", "</think>"])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"bos_token": spec["bos"], "eos_token": spec["eos"]}))
    return Tokenizer.from_file(str(folder / "tokenizer.json"))


def cream_lines(*args):
    proc = run_cream("tokenize", *args)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def compare_texts(folder, tok, texts, work):
    write_jsonl(work / "texts.jsonl", texts)
    ours = cream_lines("--tokenizer", folder / "tokenizer.json", "--input", work / "texts.jsonl")
    if len(ours) != len(texts):
        raise CaseFailure(f"cream gave {len(ours)} lines for {len(texts)} texts")
    mismatches = 0
    for text, line in zip(texts, ours):
        expected = tok.encode(text, add_special_tokens=False).ids
        if line["ids"] != expected:
            mismatches += 1
            if mismatches == 1:
                first = next((i for i, (a, b) in enumerate(zip(line["ids"], expected)) if a != b),
                             min(len(line["ids"]), len(expected)))
                raise CaseFailure(f"ids differ for {text[:60]!r}: at {first}: cream {line['ids'][first:first + 5]} "
                                  f"vs tokenizers {expected[first:first + 5]}")
        if line["decoded"] != tok.decode(expected):
            raise CaseFailure(f"decode differs for {text[:60]!r}: {line['decoded'][:60]!r} vs {tok.decode(expected)[:60]!r}")
    return f"{len(texts)} texts, {sum(len(l['ids']) for l in ours)} tokens identical"


def compare_invalid_utf8(folder, tok, work):
    for i, raw in enumerate(INVALID_UTF8):
        path = work / f"raw{i}.bin"
        path.write_bytes(raw)
        line = cream_lines("--tokenizer", folder / "tokenizer.json", "--raw", path)[0]
        expected = tok.encode(raw.decode("utf-8", "replace"), add_special_tokens=False).ids
        if line["ids"] != expected:
            raise CaseFailure(f"{raw!r}: cream {line['ids']} vs tokenizers {expected}")
        if line["decoded"] != tok.decode(expected):
            raise CaseFailure(f"{raw!r}: decoded {line['decoded']!r} vs {tok.decode(expected)!r}")
    return f"{len(INVALID_UTF8)} byte strings"


def compare_info_and_prepare(folder, tok, family, texts, work):
    info = cream_lines("--tokenizer", folder / "tokenizer.json", "--info")[0]
    spec = FAMILIES[family]
    want_bos = tok.token_to_id(spec["bos"]) if spec["bos"] else -1
    if info["vocab_size"] != tok.get_vocab_size(with_added_tokens=True) or info["bos_id"] != want_bos \
            or info["eos_id"] != tok.token_to_id(spec["eos"]):
        raise CaseFailure(f"info {info} vs vocab {tok.get_vocab_size(with_added_tokens=True)}, bos {want_bos}")
    plain = [t for t in texts if t.strip() and "<|" not in t]
    write_jsonl(work / f"prepare-{family}.jsonl", plain)
    run_cream("data", "prepare", "--tokenizer", folder / "tokenizer.json", "--input", work / f"prepare-{family}.jsonl",
              "--out", work / f"shards-{family}", "--quiet")
    docs = read_token_shards(work / f"shards-{family}")
    for text, doc in zip(plain, docs):
        if doc != tok.encode(text, add_special_tokens=True).ids:
            raise CaseFailure(f"data prepare stored {doc[:8]}... for {text[:40]!r}, tokenizers "
                              f"{tok.encode(text).ids[:8]}...")
    return f"vocab {info['vocab_size']}, bos {info['bos_id']}, eos {info['eos_id']}; {len(docs)} documents as tokenizers"


# The two models' chat layouts, written here as Jinja for transformers' apply_chat_template.
CHAT_TEMPLATES = {
    "llama3": ("{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n'"
               " + (m['content'] | trim) + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}"
               "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"),
    "qwen2": ("{% for m in messages %}{% if loop.first and m['role'] != 'system' %}"
              "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
              "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
}
CHAT_MESSAGES = ["What is the pass key? The pass key is", "  Remember 12345.\nThen answer.  ",
                 "日本語で答えてください。", "tabs\tand\nnewlines\n\n"]


def compare_chat_template(folder, family, work):
    from transformers import PreTrainedTokenizerFast
    spec = FAMILIES[family]
    hf = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), bos_token=spec["bos"],
                                 eos_token=spec["eos"])
    hf.chat_template = CHAT_TEMPLATES[family]
    write_jsonl(work / f"chat-{family}.jsonl", CHAT_MESSAGES)
    ours = cream_lines("--tokenizer", folder / "tokenizer.json", "--chat-template", family,
                       "--input", work / f"chat-{family}.jsonl")
    for message, line in zip(CHAT_MESSAGES, ours):
        expected = hf.apply_chat_template([{"role": "user", "content": message}], add_generation_prompt=True,
                                          tokenize=True)
        if hasattr(expected, "keys"):
            expected = expected["input_ids"]
        if line["ids"] != list(expected):
            raise CaseFailure(f"{message!r}: cream {line['ids'][:12]}... vs apply_chat_template {list(expected)[:12]}...")
    other = "qwen2" if family == "llama3" else "llama3"
    proc = run_cream("tokenize", "--tokenizer", folder / "tokenizer.json", "--chat-template", other, "--text", "x",
                     expect_ok=False)
    if proc.returncode == 0 or "is not one token" not in proc.stderr:
        raise CaseFailure(f"--chat-template {other} with a {family} tokenizer: exit {proc.returncode} {proc.stderr[-200:]}")
    return f"{len(CHAT_MESSAGES)} messages as apply_chat_template; {other} refused"


def expect_refusal(work, name, content, fragments):
    folder = work / "bad" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(content)
    proc = run_cream("tokenize", "--tokenizer", folder / "tokenizer.json", "--info", expect_ok=False)
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 0 or len(lines) != 1 or not all(f in lines[0] for f in fragments):
        raise CaseFailure(f"{name}: exit {proc.returncode}, stderr {proc.stderr.strip()[-400:]!r}")
    return lines[0]


def check_refusals(folder, work):
    good = json.loads((folder / "tokenizer.json").read_text())
    text = json.dumps(good)
    shown = []
    shown.append(expect_refusal(work, "truncated", text[: len(text) // 2], ["tokenizer.json", "not valid JSON"]))
    no_merges = json.loads(text)
    del no_merges["model"]["merges"]
    shown.append(expect_refusal(work, "no-merges", json.dumps(no_merges), ["model.merges", "missing"]))
    dup = json.loads(text)
    vocab = dup["model"]["vocab"]
    a, b = list(vocab)[300:302]
    vocab[b] = vocab[a]
    shown.append(expect_refusal(work, "duplicate-id", json.dumps(dup), ["model.vocab", "id", "both"]))
    bad_merge = json.loads(text)
    bad_merge["model"]["merges"][5] = ["zzzz", "qqqq"]
    shown.append(expect_refusal(work, "bad-merge", json.dumps(bad_merge), ["model.merges[5]", "not in model.vocab"]))
    other = json.loads(text)
    other["model"]["type"] = "WordPiece"
    shown.append(expect_refusal(work, "wordpiece", json.dumps(other), ["model.type", "WordPiece"]))
    meta = json.loads(text)
    meta["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁"}
    shown.append(expect_refusal(work, "metaspace", json.dumps(meta), ["pre_tokenizer.type", "Metaspace"]))
    nfkc = json.loads(text)
    nfkc["normalizer"] = {"type": "NFKC"}
    shown.append(expect_refusal(work, "nfkc", json.dumps(nfkc), ["normalizer.type", "NFKC"]))
    return f"{len(shown)} refusals, e.g. {shown[2][:120]}"


def check_vocab_larger_than_model(folder, work):
    """A model folder whose embedding is smaller than its tokenizer.json's vocabulary."""
    model = work / "small-vocab"
    save_hf_model(model, tiny_config(vocab_size=100))
    (model / "tokenizer.json").write_bytes((folder / "tokenizer.json").read_bytes())
    shown = []
    for args in (["generate", "--model", model, "--prompt", "hello", "--max-new-tokens", "2"],
                 ["eval", "passkey", "--model", model, "--lengths", "64", "--trials", "1", "--out", work / "pk.json"]):
        proc = run_cream(*args, expect_ok=False)
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        if proc.returncode == 0 or "tokenizer.json" not in last or "vocab_size" not in last:
            raise CaseFailure(f"cream {args[0]}: exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
        shown.append(last)
    return shown[0][:150]


def check_out_of_range_ids(folder, work):
    path = work / "ids.jsonl"
    path.write_text(json.dumps({"input_ids": [1, 2, 999999]}) + "\n")
    out = work / "ids-shards"
    proc = run_cream("data", "prepare", "--tokenizer", folder / "tokenizer.json", "--input", path, "--out", out,
                     "--quiet", expect_ok=False)
    if proc.returncode == 0 or "999999" not in proc.stderr or out.exists():
        raise CaseFailure(f"exit {proc.returncode}, {out} exists: {out.exists()}, {proc.stderr.strip()[-300:]}")
    return proc.stderr.strip().splitlines()[-1][:140]


def main():
    checks = Checks("tokenizer.json parity")
    with tempdir("bpe") as work:
        work = Path(work)
        corpus = corpus_lines(800, seed=3) + EXTRA_TEXTS * 3
        texts = corpus_lines(300, seed=4) + EXTRA_TEXTS
        for family in FAMILIES:
            folder = work / family
            tok = checks.run(f"{family}: train with tokenizers", build_tokenizer, folder, family, corpus)
            if tok is None:
                continue
            checks.run(f"{family}: ids and decoding", compare_texts, folder, tok, texts, work)
            checks.run(f"{family}: invalid UTF-8", compare_invalid_utf8, folder, tok, work)
            checks.run(f"{family}: BOS/EOS and data prepare", compare_info_and_prepare, folder, tok, family, texts, work)
            checks.run(f"{family}: --chat-template {family}", compare_chat_template, folder, family, work)
        checks.run("damaged files are refused by field", check_refusals, work / "llama3", work)
        checks.run("out-of-range input_ids refused before any shard", check_out_of_range_ids, work / "llama3", work)
        checks.run("a vocabulary larger than the model's embedding is refused", check_vocab_larger_than_model,
                   work / "llama3", work)
    return checks.finish()


if __name__ == "__main__":
    main_guard(main)
