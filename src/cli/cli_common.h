// Small pieces shared by the subcommands: option parsing that turns bad text into one
// clear cream::Error naming the flag.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "cream/io/dtype.h"

namespace cream::cli {

// "fp32"/"float32" -> F32, "bf16"/"bfloat16" -> BF16, "fp16"/"float16" -> F16.
io::DType parse_float_dtype(const std::string& text, const std::string& flag);

// "1 5 9" or "1,5,9" -> {1, 5, 9}; every item must be an integer.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag);

// "auto" (CUDA when available), "cpu", "cuda", "cuda:1".
c10::Device parse_device(const std::string& text, const std::string& flag);

// A model folder as the user named it: a folder with config.json is itself; a run folder
// (`cream train`'s checkpoint.output_dir) resolves to its newest complete checkpoint, and
// the choice is logged; anything else comes back unchanged for the command's own error.
std::string resolve_model_folder(const std::string& path, const std::string& flag);

// Sets LibTorch's intra-op thread count (0: leave LibTorch's default).
void set_threads(int threads);

}  // namespace cream::cli
