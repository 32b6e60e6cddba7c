// Interop: tests/fixtures/io/reference.safetensors was written by hand from the spec by
// scripts/reference/make_safetensors_fixture.py (values rounded by torch, stored in
// reference_values.json). The reader must decode exactly those values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "cream/io/safetensors.h"
#include "cream/util/fs.h"
#include "io_test_helpers.h"

namespace cream::io {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(CREAM_SOURCE_DIR) / "tests" / "fixtures" / "io";

template <typename T>
T load(const std::byte* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));  // the fixture and this machine are little-endian
  return value;
}

// IEEE binary16 -> double, written out from the format definition.
double half_to_double(uint16_t bits) {
  const int sign = bits >> 15, exponent = (bits >> 10) & 0x1F, mantissa = bits & 0x3FF;
  double magnitude;
  if (exponent == 0) magnitude = std::ldexp(mantissa, -24);  // subnormal
  else if (exponent == 31) magnitude = mantissa ? NAN : INFINITY;
  else magnitude = std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -magnitude : magnitude;
}

// bfloat16 is the top half of a float32.
double bf16_to_double(uint16_t bits) {
  const uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof value);
  return value;
}

// Element i of a tensor, as the JSON value the generator recorded.
nlohmann::json element(DType dtype, const std::byte* data, std::size_t i) {
  const std::byte* at = data + i * dtype_size(dtype);
  switch (dtype) {
    case DType::F32: return static_cast<double>(load<float>(at));
    case DType::F64: return load<double>(at);
    case DType::F16: return half_to_double(load<uint16_t>(at));
    case DType::BF16: return bf16_to_double(load<uint16_t>(at));
    case DType::I64: return load<int64_t>(at);
    case DType::I32: return load<int32_t>(at);
    case DType::I8: return load<int8_t>(at);
    case DType::U8: return load<uint8_t>(at);
    case DType::BOOL: return load<uint8_t>(at) != 0;
    default: ADD_FAILURE() << "fixture holds an unexpected dtype " << dtype_name(dtype); return nullptr;
  }
}

TEST(ReferenceFixture, ReaderDecodesEveryTensorOfTheHandWrittenFile) {
  SafetensorsFile file(kFixtures / "reference.safetensors");
  const auto expected = nlohmann::json::parse(util::read_text_file(kFixtures / "reference_values.json"));
  EXPECT_EQ(nlohmann::json(file.metadata()), expected.at("__metadata__"));
  EXPECT_EQ(file.tensors().size() + 1, expected.size());
  for (const auto& [name, want] : expected.items()) {
    if (name == "__metadata__") continue;
    const auto* info = file.find(name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_STREQ(dtype_name(info->dtype), want.at("dtype").get<std::string>().c_str()) << name;
    EXPECT_EQ(info->shape, want.at("shape").get<std::vector<int64_t>>()) << name;
    const auto& values = want.at("values");
    ASSERT_EQ(info->numel(), values.size()) << name;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const auto got = element(info->dtype, file.data(*info), i);
      if (values[i].is_number_float()) {
        EXPECT_EQ(got.get<double>(), values[i].get<double>()) << name << "[" << i << "]";
      } else {
        EXPECT_EQ(got, values[i]) << name << "[" << i << "]";
      }
    }
  }
  // Layout order in the file differs from the header's name order.
  EXPECT_EQ(file.tensors().front().name, "model.layers.0.mlp.up_proj.weight");
  EXPECT_EQ(file.find("empty.bias")->nbytes(), 0u);
}

TEST(ReferenceFixture, RewritingThroughOurWriterKeepsEveryByte) {
  const auto dir = testing::fresh_dir("rewrite");
  SafetensorsFile original(kFixtures / "reference.safetensors");
  std::vector<TensorSource> sources;
  for (const auto& info : original.tensors()) {
    const std::byte* data = original.data(info);
    const auto size = info.nbytes();
    sources.push_back({info.name, info.dtype, info.shape, [data, size](std::ostream& out) {
                         out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
                       }});
  }
  write_safetensors_file(dir / "copy.safetensors", sources, original.metadata());
  SafetensorsFile copy(dir / "copy.safetensors");
  EXPECT_EQ(copy.metadata(), original.metadata());
  ASSERT_EQ(copy.tensors().size(), original.tensors().size());
  for (const auto& info : original.tensors()) {
    const auto* copied = copy.find(info.name);
    ASSERT_NE(copied, nullptr);
    EXPECT_EQ(copied->shape, info.shape);
    EXPECT_EQ(copied->dtype, info.dtype);
    EXPECT_EQ(std::memcmp(copy.data(*copied), original.data(info), info.nbytes()), 0) << info.name;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cream::io
