// Element types of the safetensors format, as raw-byte descriptions (no LibTorch here:
// the model concern maps them to torch dtypes).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace cream::io {

// Every dtype cream reads or writes; names match the safetensors spec ("F32", "BF16"...).
enum class DType { BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F8_E4M3, F8_E5M2, F16, BF16, F32, F64 };

// Bytes per element (BOOL is stored as one byte per element).
std::size_t dtype_size(DType dtype);

// The spec's spelling: "BOOL", "U8", ..., "F8_E4M3", "BF16", "F64".
const char* dtype_name(DType dtype);

// Inverse of dtype_name (exact, case-sensitive as in the spec); nullopt if unknown.
std::optional<DType> parse_dtype(std::string_view name);

}  // namespace cream::io
