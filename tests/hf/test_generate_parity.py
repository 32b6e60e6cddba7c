"""`cream generate` (greedy, KV cache) equals transformers' `generate(do_sample=False)`
token for token, prompts tokenized on each side by its own tokenizer (cream: SentencePiece
with BOS; HF: LlamaTokenizer from the folder's tokenizer.model, BOS prepended).

Models: one made by transformers (GQA, random norms), one made by `cream init --tokenizer`,
and a transformers-made longrope model whose generation crosses the original window (the
long factors take over mid-generation, with earlier keys cached under the short ones).
The smallest top-1 / top-2 logit gap over HF's steps is reported, so a failure on a near
tie can be told from a real difference. CREAM_TEST_DEVICE=cuda runs both sides on the GPU
(scripts/device_check.sh).
"""
from pathlib import Path

import sentencepiece as spm
import torch

from hf_common import (TEST_DEVICE, CaseFailure, Checks, copy_tokenizer_into, load_hf_model, main_guard, run_cream,
                       save_hf_model, tempdir, tiny_config, train_tokenizer)

PROMPTS = ["The model reads a long context and", "def f(x):\n    return", "The pass key is 71432. The pass key is"]
NEW_TOKENS = 24


def hf_greedy(model, prompt_ids, new_tokens):
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt_ids], device=TEST_DEVICE),
                             attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long, device=TEST_DEVICE),
                             max_new_tokens=new_tokens, do_sample=False, output_scores=True,
                             return_dict_in_generate=True, pad_token_id=model.config.eos_token_id)
    tokens = out.sequences[0, len(prompt_ids):].tolist()
    top2 = [torch.topk(step[0].float(), 2).values for step in out.scores]
    return tokens, min(float(t[0] - t[1]) for t in top2)


def cream_greedy(folder, prompt, new_tokens):
    proc = run_cream("generate", "--model", folder, "--prompt", prompt, "--max-new-tokens", new_tokens,
                     "--device", TEST_DEVICE, "--threads", "1", "--print-ids")
    return [int(t) for t in proc.stdout.split()]


def check_folder(folder, sp, new_tokens=NEW_TOKENS, prompts=PROMPTS):
    from transformers import LlamaTokenizer

    model = load_hf_model(folder).to(TEST_DEVICE)
    tok = LlamaTokenizer.from_pretrained(str(folder))
    smallest_gap = float("inf")
    for prompt in prompts:
        prompt_ids = [sp.bos_id()] + tok(prompt, add_special_tokens=False)["input_ids"]
        if prompt_ids[1:] != sp.encode(prompt):
            raise CaseFailure(f"prompt {prompt!r}: HF tokenizer {prompt_ids[1:]} vs SentencePiece {sp.encode(prompt)}")
        theirs, gap = hf_greedy(model, prompt_ids, new_tokens)
        ours = cream_greedy(folder, prompt, new_tokens)
        smallest_gap = min(smallest_gap, gap)
        if ours != theirs:
            first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
            raise CaseFailure(f"prompt {prompt!r}: first difference at new token {first}: cream {ours[first:first + 5]} "
                              f"vs HF {theirs[first:first + 5]} ({len(ours)} vs {len(theirs)} tokens; smallest HF "
                              f"top-1/top-2 gap {gap:.2e})")
    return f"{len(prompts)} prompts x up to {new_tokens} tokens equal; smallest top-1/top-2 gap {smallest_gap:.2e}"


def main():
    checks = Checks("hf_generate_parity")
    with tempdir("generate") as tmp:
        work = Path(tmp)
        tokenizer = train_tokenizer(work / "tok")
        sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
        common = dict(vocab_size=sp.vocab_size(), bos_token_id=sp.bos_id(), eos_token_id=sp.eos_id())

        hf_made = work / "hf_made"
        save_hf_model(hf_made, tiny_config(num_key_value_heads=2, max_position_embeddings=256, **common), seed=11)
        copy_tokenizer_into(tokenizer, hf_made)
        checks.run("transformers-made model", check_folder, hf_made, sp)

        cream_made = work / "cream_made"
        run_cream("init", "--preset", "tiny", "--tokenizer", tokenizer, "--out", cream_made, "--seed", "5")
        checks.run("cream init model", check_folder, cream_made, sp)

        longrope = work / "longrope"
        rope = {"rope_type": "longrope", "factor": 4.0, "original_max_position_embeddings": 32, "rope_theta": 10000.0,
                "short_factor": [1.0 + 0.05 * i for i in range(8)], "long_factor": [1.0 + 0.5 * i for i in range(8)]}
        save_hf_model(longrope, tiny_config(max_position_embeddings=128, rope_parameters=rope, **common), seed=12)
        copy_tokenizer_into(tokenizer, longrope)
        checks.run("longrope crossing its original window", check_folder, longrope, sp, 40, PROMPTS[:1])
    return checks.finish()


if __name__ == "__main__":
    main_guard(main)
