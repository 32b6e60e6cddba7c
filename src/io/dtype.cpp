#include "cream/io/dtype.h"

#include <array>

namespace cream::io {

namespace {

struct DTypeDescription {
  DType dtype;
  const char* name;
  std::size_t size;
};

// One row per enum value, in enum order (dtype_name/dtype_size index it directly).
constexpr std::array<DTypeDescription, 15> kDTypes{{
    {DType::BOOL, "BOOL", 1},
    {DType::U8, "U8", 1},
    {DType::I8, "I8", 1},
    {DType::U16, "U16", 2},
    {DType::I16, "I16", 2},
    {DType::U32, "U32", 4},
    {DType::I32, "I32", 4},
    {DType::U64, "U64", 8},
    {DType::I64, "I64", 8},
    {DType::F8_E4M3, "F8_E4M3", 1},
    {DType::F8_E5M2, "F8_E5M2", 1},
    {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2},
    {DType::F32, "F32", 4},
    {DType::F64, "F64", 8},
}};

const DTypeDescription& describe(DType dtype) { return kDTypes.at(static_cast<std::size_t>(dtype)); }

}  // namespace

std::size_t dtype_size(DType dtype) { return describe(dtype).size; }

const char* dtype_name(DType dtype) { return describe(dtype).name; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& row : kDTypes) {
    if (name == row.name) return row.dtype;
  }
  return std::nullopt;
}

}  // namespace cream::io
