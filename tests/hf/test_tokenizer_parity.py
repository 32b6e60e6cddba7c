"""cream's SentencePiece tokenization equals transformers' Llama tokenizer.

A Llama-style SentencePiece model (BPE, identity normalisation, byte fallback, digits
split, as scripts/demo.sh trains) tokenizes a varied text set (prose, code, digits,
whitespace runs, tabs and newlines, accents, CJK, emoji with skin tones and ZWJ) through
`cream data prepare` (the token shards are read back document by document) and through:
  - transformers' LlamaTokenizer loaded from a folder holding only tokenizer.model;
  - AutoTokenizer loaded from a `cream export` of a model folder with that tokenizer
    (so the export carries what AutoTokenizer needs), with BOS added as cream adds it.
Both must give exactly cream's ids, and decode them back to the text. Texts that start
with whitespace are checked against HF's one documented difference (see hf_common).
"""
from pathlib import Path

import sentencepiece as spm

from hf_common import (LEADING_SPACE_TEXTS, VARIED_TEXTS, CaseFailure, Checks, copy_tokenizer_into, main_guard,
                       read_token_shards, run_cream, tempdir, train_tokenizer, write_jsonl)


def cream_documents(tokenizer, texts, work):
    write_jsonl(work / "texts.jsonl", texts)
    run_cream("data", "prepare", "--tokenizer", tokenizer, "--input", work / "texts.jsonl", "--out", work / "shards",
              "--quiet", "--threads", "1")
    docs = read_token_shards(work / "shards")
    if len(docs) != len(texts):
        raise CaseFailure(f"cream data prepare wrote {len(docs)} documents for {len(texts)} texts")
    return docs


def check_text(text, cream_ids, tok, bos, with_bos):
    """cream_ids start with BOS (data prepare adds it). Returns nothing; raises on a difference."""
    if cream_ids[:1] != [bos]:
        raise CaseFailure(f"cream document does not start with BOS {bos}: {cream_ids[:5]}")
    body = cream_ids[1:]
    got = tok(text, add_special_tokens=with_bos)["input_ids"]
    want = cream_ids if with_bos else body
    if text in LEADING_SPACE_TEXTS:
        # SentencePiece: dummy prefix "▁" + "▁..." for the leading space; HF Metaspace skips the
        # prefix because the text already starts with one, so it lacks exactly that first piece.
        expected_hf = ([bos] if with_bos else []) + body[1:]
        if got != expected_hf or tok.convert_ids_to_tokens(body[:1]) != ["▁"]:
            raise CaseFailure(f"{text!r}: expected HF to drop only cream's leading '▁' piece; cream {body}, HF {got}")
        return
    if got != want:
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        raise CaseFailure(f"{text!r}: first difference at token {first}: cream {want[first:first + 6]} vs HF "
                          f"{got[first:first + 6]} (lengths {len(want)} vs {len(got)})")
    decoded = tok.decode(body)
    if decoded != text:
        raise CaseFailure(f"{text!r}: HF decodes cream's ids to {decoded!r}")


def check_same_as_sentencepiece(texts, docs, sp):
    # cream is SentencePiece itself: the same ids as the Python binding, as a sanity check.
    for text, ids in zip(texts, docs):
        if ids[1:] != sp.encode(text):
            raise CaseFailure(f"{text!r}: cream {ids[1:]} vs sentencepiece {sp.encode(text)}")


def main():
    from transformers import AutoTokenizer, LlamaTokenizer

    checks = Checks("hf_tokenizer_parity")
    with tempdir("tok") as tmp:
        work = Path(tmp)
        tokenizer = train_tokenizer(work / "tok")
        sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
        texts = VARIED_TEXTS + LEADING_SPACE_TEXTS
        docs = checks.run("cream data prepare", cream_documents, tokenizer, texts, work)
        if docs is None:
            return checks.finish()
        # cream is SentencePiece itself: the same ids as the Python binding, as a sanity check.
        checks.run("cream == sentencepiece (python)", check_same_as_sentencepiece, texts, docs, sp)

        plain = work / "plain"
        plain.mkdir()
        copy_tokenizer_into(tokenizer, plain)
        llama = LlamaTokenizer.from_pretrained(str(plain))
        for i, (text, ids) in enumerate(zip(texts, docs)):
            checks.run(f"LlamaTokenizer text {i} {text[:24]!r}", check_text, text, ids, llama, sp.bos_id(), False)

        # An exported model folder: AutoTokenizer must load it and add BOS as cream does.
        model_dir = work / "model"
        run_cream("init", "--preset", "tiny", "--tokenizer", tokenizer, "--out", model_dir)
        run_cream("export", "--checkpoint", model_dir, "--out", work / "export", "--dtype", "fp32")
        auto = checks.run("AutoTokenizer loads the export", AutoTokenizer.from_pretrained, str(work / "export"))
        if auto is not None:
            for i, (text, ids) in enumerate(zip(texts, docs)):
                checks.run(f"AutoTokenizer(export) text {i} {text[:24]!r}", check_text, text, ids, auto, sp.bos_id(),
                           True)
    return checks.finish()


if __name__ == "__main__":
    main_guard(main)
