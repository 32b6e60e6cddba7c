"""`cream data prepare --format sharegpt --chat-template NAME`: conversations become the
token documents their model's chat layout gives.

- llama3 / qwen2 (tokenizer.json families): each stored document equals transformers'
  apply_chat_template(conversation, tokenize=True) with the template written as Jinja
  here (tests/hf/test_bpe_tokenizer_parity.py's CHAT_TEMPLATES).
- llama2 / vicuna (SentencePiece): each document equals the layout of
  include/cream/data/conversation.h rebuilt here with the `sentencepiece` package.
- ShareGPT's JSON-array dumps and {"messages": ...} objects are read; a conversation
  that does not alternate, or a missing --chat-template, is refused by name.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_common import (CaseFailure, Checks, corpus_lines, main_guard, read_token_shards, run_cream,  # noqa: E402
                       tempdir, train_tokenizer)
from test_bpe_tokenizer_parity import CHAT_TEMPLATES, EXTRA_TEXTS, FAMILIES, build_tokenizer  # noqa: E402

CONVERSATIONS = [
    [("human", "Hello! Who are you?"), ("gpt", "I am a helpful assistant. How can I help?")],
    [("system", "You answer in one word."), ("human", "Capital of France?"), ("gpt", "Paris."),
     ("human", "  And of Italy?  "), ("gpt", "Rome.")],
    [("human", "Write code:\n\tdef f(x): return x\n"), ("gpt", "```python\ndef f(x):\n    return x\n```")],
    [("human", "日本語で話せますか？"), ("gpt", "はい、話せます。😀")],
]
ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


def sharegpt_lines(conversations):
    return [{"conversations": [{"from": f, "value": v} for f, v in c]} for c in conversations]


def prepare(work, name, tokenizer, path, template, expect_ok=True):
    out = work / f"shards-{name}"
    proc = run_cream("data", "prepare", "--tokenizer", tokenizer, "--input", path, "--out", out, "--quiet",
                     "--format", "sharegpt", "--chat-template", template, expect_ok=expect_ok)
    return (read_token_shards(out) if proc.returncode == 0 else None), proc


def check_family(work, family, corpus):
    from transformers import PreTrainedTokenizerFast
    folder = work / family
    build_tokenizer(folder, family, corpus)
    spec = FAMILIES[family]
    hf = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), bos_token=spec["bos"],
                                 eos_token=spec["eos"])
    hf.chat_template = CHAT_TEMPLATES[family]
    path = work / f"{family}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in sharegpt_lines(CONVERSATIONS)))
    docs, _ = prepare(work, family, folder / "tokenizer.json", path, family)
    for conv, doc in zip(CONVERSATIONS, docs):
        messages = [{"role": ROLES[f], "content": v} for f, v in conv]
        expected = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=False)
        if hasattr(expected, "keys"):
            expected = expected["input_ids"]
        if doc != list(expected):
            raise CaseFailure(f"{conv[0][1]!r}...: cream {doc[:10]}... vs apply_chat_template {list(expected)[:10]}...")
    return f"{len(docs)} conversations as apply_chat_template"


def expected_spm(sp, conv, template):
    bos, eos = sp.bos_id(), sp.eos_id()
    turns = [(f, v) for f, v in conv]
    ids = []
    if template == "llama2":
        system = ""
        i = 0
        while i < len(turns):
            role, text = turns[i]
            if role == "system":
                system = "<<SYS>>\n" + text.strip() + "\n<</SYS>>\n\n"
            elif role == "human":
                segment = "[INST] " + system + text.strip() + " [/INST]"
                system = ""
                answered = i + 1 < len(turns)
                if answered:
                    i += 1
                    segment += " " + turns[i][1].strip() + " "
                ids += [bos] + sp.encode(segment) + ([eos] if answered else [])
            i += 1
        return ids
    system = "A chat between a curious user and an artificial intelligence assistant. The assistant gives " \
             "helpful, detailed, and polite answers to the user's questions."
    if turns and turns[0][0] == "system":
        system = turns.pop(0)[1].strip()
    ids, text = [bos], system + " "
    for role, value in turns:
        if role == "human":
            text += "USER: " + value.strip() + " "
        else:
            text += "ASSISTANT: " + value.strip()
            ids += sp.encode(text) + [eos]
            text = ""
    if text:
        ids += sp.encode(text)
    return ids


def check_sentencepiece(work, template):
    import sentencepiece as spm
    model = train_tokenizer(work / "spm", vocab_size=600, seed=2)
    sp = spm.SentencePieceProcessor(model_file=str(model))
    path = work / f"{template}.json"  # one JSON array, as ShareGPT's dumps are
    path.write_text(json.dumps(sharegpt_lines(CONVERSATIONS), ensure_ascii=False, indent=1))
    docs, _ = prepare(work, template, model, path, template)
    for conv, doc in zip(CONVERSATIONS, docs):
        expected = expected_spm(sp, conv, template)
        if doc != expected:
            raise CaseFailure(f"{conv[0][1]!r}...: cream {doc[:12]} vs {expected[:12]}")
    return f"{len(docs)} conversations from a JSON array"


def check_messages_and_refusals(work):
    model = train_tokenizer(work / "spm2", vocab_size=600, seed=2)
    path = work / "messages.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]}) + "\n")
    docs, _ = prepare(work, "messages", model, path, "vicuna")
    if len(docs) != 1:
        raise CaseFailure(f"{len(docs)} documents from one messages object")
    bad = work / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}]}) + "\n" +
                   json.dumps({"conversations": [{"from": "gpt", "value": "first"}]}) + "\n")
    _, proc = prepare(work, "bad", model, bad, "vicuna", expect_ok=False)
    if proc.returncode == 0 or "bad.jsonl:2" not in proc.stderr or "conversations[0]" not in proc.stderr:
        raise CaseFailure(f"out of turn: exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    proc = run_cream("data", "prepare", "--tokenizer", model, "--input", path, "--out", work / "x", "--format",
                     "sharegpt", expect_ok=False)
    if proc.returncode == 0 or "--chat-template" not in proc.stderr:
        raise CaseFailure(f"no template: exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return proc.stderr.strip().splitlines()[-1][:120]


def main():
    checks = Checks("sharegpt")
    with tempdir("sharegpt") as work:
        work = Path(work)
        corpus = corpus_lines(500, seed=3) + EXTRA_TEXTS * 3
        for family in FAMILIES:
            checks.run(f"{family}: conversations as transformers' chat template", check_family, work, family, corpus)
        for template in ("llama2", "vicuna"):
            checks.run(f"{template}: conversations with a SentencePiece tokenizer", check_sentencepiece, work, template)
        checks.run("messages objects; refusals", check_messages_and_refusals, work)
    return checks.finish()


if __name__ == "__main__":
    main_guard(main)
