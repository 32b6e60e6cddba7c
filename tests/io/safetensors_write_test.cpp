// Writing safetensors files: bit-exact round trips, the raw layout the spec requires,
// atomicity, and byte-count checks on the tensor callbacks.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include <nlohmann/json.hpp>

#include "cream/io/safetensors.h"
#include "io_test_helpers.h"

namespace cream::io {
namespace {

using testing::count_entries;
using testing::error_message;
using testing::expect_mentions;
using testing::fresh_dir;
using testing::read_bytes;

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string bytes(n, '\0');
  for (auto& b : bytes) b = static_cast<char>(rng() & 0xFF);
  return bytes;
}

TensorSource source(const std::string& name, DType dtype, std::vector<int64_t> shape, const std::string& bytes) {
  return TensorSource{name, dtype, std::move(shape),
                      [bytes](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); }};
}

// Tensors of many dtypes (incl. BF16/F16/I64 and a zero-size one) with random payloads.
struct Sample {
  std::vector<TensorSource> sources;
  std::map<std::string, std::string> bytes;
};

Sample make_sample() {
  struct Spec { const char* name; DType dtype; std::vector<int64_t> shape; };
  const std::vector<Spec> specs = {
      {"model.embed_tokens.weight", DType::BF16, {7, 5}},
      {"model.norm.weight", DType::F16, {5}},
      {"position_ids", DType::I64, {1, 9}},
      {"empty", DType::F32, {0, 3}},
      {"scalar", DType::F64, {}},
      {"mask", DType::BOOL, {3}},
      {"lm_head.weight", DType::F32, {3, 7}},
      {"fp8", DType::F8_E4M3, {2, 2}},
  };
  Sample sample;
  unsigned seed = 1;
  for (const auto& spec : specs) {
    TensorSource probe{spec.name, spec.dtype, spec.shape, nullptr};
    const auto bytes = random_bytes(probe.nbytes(), seed++);
    sample.bytes[spec.name] = bytes;
    sample.sources.push_back(source(spec.name, spec.dtype, spec.shape, bytes));
  }
  return sample;
}

class SafetensorsWrite : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fresh_dir("write"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(SafetensorsWrite, RoundTripIsBitExact) {
  const auto sample = make_sample();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"cream.note", "ünïcode ok"}};
  const auto path = dir_ / "model.safetensors";
  write_safetensors_file(path, sample.sources, metadata);

  SafetensorsFile file(path);
  EXPECT_EQ(file.metadata(), metadata);
  ASSERT_EQ(file.tensors().size(), sample.sources.size());
  uint64_t offset = 0;
  for (std::size_t i = 0; i < sample.sources.size(); ++i) {
    const auto& expected = sample.sources[i];
    const auto& info = file.tensors()[i];  // sorted by offset == the order given
    EXPECT_EQ(info.name, expected.name);
    EXPECT_EQ(info.dtype, expected.dtype);
    EXPECT_EQ(info.shape, expected.shape);
    EXPECT_EQ(info.begin, offset);
    EXPECT_EQ(info.nbytes(), expected.nbytes());
    offset = info.end;
    const auto& bytes = sample.bytes.at(expected.name);
    EXPECT_EQ(std::memcmp(file.data(info), bytes.data(), bytes.size()), 0) << expected.name;
  }
  EXPECT_EQ(file.find("empty")->nbytes(), 0u);
  EXPECT_EQ(file.find("position_ids")->nbytes(), 72u);
  EXPECT_EQ(count_entries(dir_), 1u) << "no temporary file may remain";
}

TEST_F(SafetensorsWrite, RawLayoutFollowsTheSpec) {
  const auto sample = make_sample();
  const auto path = dir_ / "raw.safetensors";
  write_safetensors_file(path, sample.sources);
  const auto raw = read_bytes(path);
  ASSERT_GE(raw.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(raw[i]);
  EXPECT_EQ(n % 8, 0u) << "header must be padded to a multiple of 8";
  const std::string header = raw.substr(8, n);
  const auto json_end = header.find_last_of('}');
  ASSERT_NE(json_end, std::string::npos);
  EXPECT_LT(header.size() - json_end - 1, 8u);
  EXPECT_EQ(header.substr(json_end + 1), std::string(header.size() - json_end - 1, ' '))
      << "padding must be spaces";
  const auto parsed = nlohmann::ordered_json::parse(header);
  auto it = parsed.begin();
  EXPECT_EQ(it.key(), "__metadata__");
  EXPECT_EQ(it.value(), nlohmann::ordered_json({{"format", "pt"}}));
  uint64_t offset = 0, total = 0;
  for (const auto& tensor : sample.sources) {
    ++it;
    ASSERT_NE(it, parsed.end());
    EXPECT_EQ(it.key(), tensor.name) << "tensors in the given order";
    EXPECT_EQ(it.value()["dtype"], dtype_name(tensor.dtype));
    EXPECT_EQ(it.value()["data_offsets"][0].get<uint64_t>(), offset);
    offset += tensor.nbytes();
    EXPECT_EQ(it.value()["data_offsets"][1].get<uint64_t>(), offset);
    total += tensor.nbytes();
  }
  EXPECT_EQ(raw.size(), 8 + n + total);
}

TEST_F(SafetensorsWrite, EmptyMetadataIsOmitted) {
  const auto path = dir_ / "nometa.safetensors";
  write_safetensors_file(path, {source("x", DType::U8, {2}, "ab")}, {});
  const auto raw = read_bytes(path);
  EXPECT_EQ(raw.find("__metadata__"), std::string::npos);
  EXPECT_TRUE(SafetensorsFile(path).metadata().empty());
}

TEST_F(SafetensorsWrite, ThrowingCallbackLeavesNothingBehind) {
  auto tensors = make_sample().sources;
  tensors[2].write = [](std::ostream& out) {
    out.write("1234", 4);
    throw std::runtime_error("source tensor unavailable");
  };
  const auto path = dir_ / "model.safetensors";
  EXPECT_THROW(write_safetensors_file(path, tensors), std::runtime_error);
  EXPECT_EQ(count_entries(dir_), 0u) << "neither the file nor a temporary may remain";
}

TEST_F(SafetensorsWrite, WrongByteCountIsRefusedNamingTheTensor) {
  const auto path = dir_ / "model.safetensors";
  const auto too_few = error_message(
      [&] { write_safetensors_file(path, {source("a", DType::U8, {2}, "ab"), source("b.weight", DType::F32, {2}, "1234")}); });
  expect_mentions(too_few, {path.string(), "tensor 'b.weight'", "produced 4 bytes, expected 8"});
  EXPECT_EQ(count_entries(dir_), 0u);
  const auto too_many =
      error_message([&] { write_safetensors_file(path, {source("c", DType::BF16, {1}, "xyz")}); });
  expect_mentions(too_many, {"tensor 'c'", "produced 3 bytes, expected 2"});
  EXPECT_EQ(count_entries(dir_), 0u);
}

TEST_F(SafetensorsWrite, OverwritesAnExistingFileAtomically) {
  const auto path = dir_ / "model.safetensors";
  write_safetensors_file(path, {source("old", DType::U8, {1}, "o")});
  write_safetensors_file(path, {source("new", DType::U8, {1}, "n")});
  SafetensorsFile file(path);
  EXPECT_NE(file.find("new"), nullptr);
  EXPECT_EQ(file.find("old"), nullptr);
  EXPECT_EQ(count_entries(dir_), 1u);
}

TEST_F(SafetensorsWrite, BadTensorListsAreRefusedBeforeWriting) {
  const auto path = dir_ / "model.safetensors";
  expect_mentions(error_message([&] {
                    write_safetensors_file(path, {source("a", DType::U8, {1}, "x"), source("a", DType::U8, {1}, "y")});
                  }),
                  {path.string(), "tensor 'a'", "twice"});
  expect_mentions(error_message([&] { write_safetensors_file(path, {source("n", DType::F32, {-2}, "")}); }),
                  {path.string(), "tensor 'n'", "negative dimension"});
  expect_mentions(error_message([&] { write_safetensors_file(path, {TensorSource{"cb", DType::U8, {1}, nullptr}}); }),
                  {"tensor 'cb'", "no write callback"});
  expect_mentions(error_message([&] {
                    write_safetensors_file(path, {source("__metadata__", DType::U8, {1}, "x")});
                  }),
                  {"reserved"});
  EXPECT_EQ(count_entries(dir_), 0u);
}

TEST_F(SafetensorsWrite, MissingFolderIsAnError) {
  const auto path = dir_ / "no" / "such" / "model.safetensors";
  expect_mentions(error_message([&] { write_safetensors_file(path, {source("a", DType::U8, {1}, "x")}); }),
                  {path.string(), "cannot open for writing"});
}

TEST(DType, NamesSizesAndParsingAgree) {
  const std::vector<std::tuple<DType, const char*, std::size_t>> table = {
      {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},   {DType::I8, "I8", 1},
      {DType::U16, "U16", 2},   {DType::I16, "I16", 2}, {DType::U32, "U32", 4},
      {DType::I32, "I32", 4},   {DType::U64, "U64", 8}, {DType::I64, "I64", 8},
      {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
      {DType::F16, "F16", 2},   {DType::BF16, "BF16", 2}, {DType::F32, "F32", 4},
      {DType::F64, "F64", 8}};
  for (const auto& [dtype, name, size] : table) {
    EXPECT_STREQ(dtype_name(dtype), name);
    EXPECT_EQ(dtype_size(dtype), size) << name;
    EXPECT_EQ(parse_dtype(name), dtype) << name;
  }
  EXPECT_FALSE(parse_dtype("bf16").has_value());
  EXPECT_FALSE(parse_dtype("").has_value());
  EXPECT_FALSE(parse_dtype("F32 ").has_value());
}

}  // namespace
}  // namespace cream::io
