#!/usr/bin/env python3
"""Writes tests/fixtures/io/reference.safetensors by hand from the safetensors spec
(8-byte little-endian header length, JSON header padded with spaces to a multiple of 8,
raw little-endian tensor bytes), independently of cream's writer, plus
reference_values.json with the logical values the C++ test must decode.

torch 1.13 has no safetensors module, so the format is produced with struct/json; torch
is used only to round values to float16/bfloat16 and get their bit patterns.

Run: /usr/bin/python3 scripts/reference/make_safetensors_fixture.py
"""
import json
import os
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "io")


def tensors():
    """(name, dtype, shape, values, raw bytes) in the order the data section holds them."""
    gen = torch.Generator().manual_seed(1234)
    out = []

    def add(name, dtype, shape, torch_dtype, values_tensor):
        t = values_tensor.to(torch_dtype).reshape(shape)
        if torch_dtype in (torch.float16, torch.bfloat16):
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
            values = t.to(torch.float64).flatten().tolist()
        elif torch_dtype == torch.bool:
            raw = t.numpy().astype(np.uint8).tobytes()
            values = [bool(v) for v in t.flatten().tolist()]
        else:
            np_le = {torch.float32: "<f4", torch.float64: "<f8", torch.int64: "<i8",
                     torch.int32: "<i4", torch.uint8: "u1", torch.int8: "i1", torch.int16: "<i2"}[torch_dtype]
            raw = t.numpy().astype(np_le).tobytes()
            values = t.flatten().tolist()
        out.append((name, dtype, list(shape), values, raw))

    # Layout order differs from the header's (name) order on purpose.
    add("model.layers.0.mlp.up_proj.weight", "BF16", (3, 4), torch.bfloat16, torch.randn(12, generator=gen) * 3)
    add("model.embed_tokens.weight", "F32", (2, 3), torch.float32, torch.randn(6, generator=gen))
    add("lm_head.weight", "F16", (2, 2, 2), torch.float16, torch.randn(8, generator=gen) * 100)
    add("position_ids", "I64", (5,), torch.int64, torch.tensor([0, 1, -7, 2**40 + 3, -(2**62)]))
    add("empty.bias", "F32", (0, 4), torch.float32, torch.zeros(0))
    add("scalar.f64", "F64", (), torch.float64, torch.tensor([1.0 / 3.0], dtype=torch.float64))
    add("counts.i32", "I32", (2, 2), torch.int32, torch.tensor([2**31 - 1, -(2**31), 5, -5]))
    add("bytes.u8", "U8", (3,), torch.uint8, torch.tensor([0, 128, 255]))
    add("mask.bool", "BOOL", (4,), torch.bool, torch.tensor([True, False, False, True]))
    add("noms.ünicode", "I8", (2,), torch.int8, torch.tensor([-128, 127]))
    return out


def main():
    items = tensors()
    header = {}
    offset = 0
    for name, dtype, shape, _, raw in items:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    ordered = {"__metadata__": {"format": "pt", "producer": "make_safetensors_fixture.py"}}
    ordered.update({k: header[k] for k in sorted(header)})
    text = json.dumps(ordered, ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "reference.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, _, raw in items:
            f.write(raw)
    expected = {name: {"dtype": dtype, "shape": shape, "values": values} for name, dtype, shape, values, _ in items}
    expected["__metadata__"] = ordered["__metadata__"]
    with open(os.path.join(OUT, "reference_values.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
