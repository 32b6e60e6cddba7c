// Malformed safetensors files: each must be refused with one cream::Error naming the
// file and the problem (and the tensor where one is at fault), never a crash.
#include <gtest/gtest.h>

#include <random>

#include "cream/io/safetensors.h"
#include "io_test_helpers.h"

namespace cream::io {
namespace {

using testing::error_message;
using testing::expect_mentions;
using testing::fresh_dir;
using testing::raw_safetensors;
using testing::write_bytes;

class SafetensorsRead : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fresh_dir("read"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `bytes` to a file, opens it, and checks the error names the file and each fragment.
  void expect_refused(const std::string& bytes, std::initializer_list<std::string> fragments) {
    const auto path = dir_ / "bad.safetensors";
    write_bytes(path, bytes);
    const auto message = error_message([&] { SafetensorsFile file(path); });
    expect_mentions(message, {path.string() + ": "});
    expect_mentions(message, fragments);
  }

  std::filesystem::path dir_;
};

const std::string kEightBytes(8, 'x');

TEST_F(SafetensorsRead, FileShorterThanEightBytes) {
  expect_refused("", {"0 bytes", "too short"});
  expect_refused(std::string("\x02\0\0\0\0", 5), {"5 bytes", "too short"});
}

TEST_F(SafetensorsRead, HeaderLengthOver100MB) {
  expect_refused(testing::length_prefix(100'000'001) + "{}", {"header length 100000001", "100 MB"});
  expect_refused(testing::length_prefix(UINT64_MAX) + "{}", {"100 MB"});
}

TEST_F(SafetensorsRead, HeaderLengthPastEndOfFile) {
  expect_refused(testing::length_prefix(1000) + "{}", {"header length 1000", "past the end of the file"});
}

TEST_F(SafetensorsRead, HeaderNotUtf8) {
  expect_refused(raw_safetensors("{\"a\xff\":1}"), {"not valid UTF-8"});
  expect_refused(raw_safetensors("{\"\xc0\xaf\":1}"), {"not valid UTF-8"});  // overlong '/'
  expect_refused(raw_safetensors("{\"\xe2\x82"), {"not valid UTF-8"});       // cut-off sequence
}

TEST_F(SafetensorsRead, HeaderNotJson) {
  expect_refused(raw_safetensors("{\"x\": {\"dtype\": \"F32\","), {"not valid JSON"});
  expect_refused(raw_safetensors(""), {"not valid JSON"});
  expect_refused(raw_safetensors("{} {}"), {"not valid JSON"});
}

TEST_F(SafetensorsRead, HeaderNotAnObject) {
  expect_refused(raw_safetensors("[1, 2]"), {"not a JSON object", "array"});
  expect_refused(raw_safetensors("7       "), {"not a JSON object"});
}

TEST_F(SafetensorsRead, TensorEntryNotAnObject) {
  expect_refused(raw_safetensors(R"({"x": 5})"), {"tensor 'x'", "must be an object"});
}

TEST_F(SafetensorsRead, TensorEntryMissingFields) {
  expect_refused(raw_safetensors(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", kEightBytes),
                 {"tensor 'w'", "missing \"dtype\""});
  expect_refused(raw_safetensors(R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", kEightBytes),
                 {"tensor 'w'", "missing \"shape\""});
  expect_refused(raw_safetensors(R"({"w": {"dtype": "F32", "shape": [2]}})", kEightBytes),
                 {"tensor 'w'", "missing \"data_offsets\""});
}

TEST_F(SafetensorsRead, TensorEntryWrongTypes) {
  expect_refused(raw_safetensors(R"({"w": {"dtype": 5, "shape": [2], "data_offsets": [0, 8]}})", kEightBytes),
                 {"tensor 'w'", "\"dtype\" must be a string"});
  expect_refused(raw_safetensors(R"({"w": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}})", kEightBytes),
                 {"tensor 'w'", "\"shape\" must be an array"});
  expect_refused(raw_safetensors(R"({"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})", kEightBytes),
                 {"tensor 'w'", "non-integer"});
  expect_refused(raw_safetensors(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8]}})", kEightBytes),
                 {"tensor 'w'", "\"data_offsets\" must be two"});
  expect_refused(raw_safetensors(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, "8"]}})", kEightBytes),
                 {"tensor 'w'", "\"data_offsets\" must be two"});
  expect_refused(raw_safetensors(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-1, 8]}})", kEightBytes),
                 {"tensor 'w'", "\"data_offsets\" must be two"});
}

TEST_F(SafetensorsRead, UnknownDtype) {
  expect_refused(raw_safetensors(R"({"w": {"dtype": "F12", "shape": [2], "data_offsets": [0, 8]}})", kEightBytes),
                 {"tensor 'w'", "unknown dtype 'F12'"});
  // Case matters in the spec.
  expect_refused(raw_safetensors(R"({"w": {"dtype": "f32", "shape": [2], "data_offsets": [0, 8]}})", kEightBytes),
                 {"unknown dtype 'f32'"});
}

TEST_F(SafetensorsRead, DuplicateTensorNames) {
  const std::string header = R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                             R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})";
  expect_refused(raw_safetensors(header, kEightBytes), {"'w' twice"});
  const std::string metadata_twice = R"({"__metadata__": {"a": "1"}, "__metadata__": {"a": "2"}})";
  expect_refused(raw_safetensors(metadata_twice), {"'__metadata__' twice"});
}

TEST_F(SafetensorsRead, MetadataNotStringToString) {
  expect_refused(raw_safetensors(R"({"__metadata__": [1]})"), {"\"__metadata__\" must be an object"});
  expect_refused(raw_safetensors(R"({"__metadata__": {"k": 1}})"), {"\"__metadata__\" entry 'k'", "string"});
  expect_refused(raw_safetensors(R"({"__metadata__": "pt"})"), {"\"__metadata__\" must be an object"});
}

TEST_F(SafetensorsRead, OverlappingOffsets) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  expect_refused(raw_safetensors(header, std::string(12, '\0')), {"tensor 'b'", "overlap", "'a'"});
}

TEST_F(SafetensorsRead, GapBetweenTensors) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}})";
  expect_refused(raw_safetensors(header, std::string(20, '\0')), {"tensor 'b'", "gap of 4"});
  // A first tensor that does not start at 0 leaves a gap too.
  expect_refused(raw_safetensors(R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}})",
                                 std::string(4, '\0')),
                 {"tensor 'a'", "gap of 2"});
}

TEST_F(SafetensorsRead, OffsetsRunningBackwards) {
  expect_refused(raw_safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", kEightBytes),
                 {"tensor 'a'", "backwards"});
}

TEST_F(SafetensorsRead, OffsetsPastEndOfFile) {
  expect_refused(raw_safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "1234"),
                 {"tensor 'a'", "past the end", "(4 bytes)"});
}

TEST_F(SafetensorsRead, TrailingBytesAfterLastTensor) {
  expect_refused(raw_safetensors(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                                 std::string(12, '\0')),
                 {"4 trailing bytes"});
  expect_refused(raw_safetensors("{}", "x"), {"1 trailing bytes"});
}

TEST_F(SafetensorsRead, ByteSizeDisagreesWithShapeAndDtype) {
  expect_refused(raw_safetensors(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", kEightBytes),
                 {"tensor 'a'", "span 8 bytes", "F32 needs 12"});
  expect_refused(raw_safetensors(R"({"a": {"dtype": "BF16", "shape": [], "data_offsets": [0, 8]}})", kEightBytes),
                 {"tensor 'a'", "needs 2"});
}

TEST_F(SafetensorsRead, ShapeProductOverflow) {
  expect_refused(raw_safetensors(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})"),
                 {"tensor 'a'", "overflows"});
  // numel fits in 64 bits but numel x 4 bytes does not.
  expect_refused(raw_safetensors(R"({"a": {"dtype": "F32", "shape": [4611686018427387905], "data_offsets": [0, 0]}})"),
                 {"tensor 'a'", "overflows"});
  expect_refused(raw_safetensors(R"({"a": {"dtype": "U8", "shape": [18446744073709551615], "data_offsets": [0, 0]}})"),
                 {"tensor 'a'", "too large"});
}

TEST_F(SafetensorsRead, NegativeDimension) {
  expect_refused(raw_safetensors(R"({"a": {"dtype": "F32", "shape": [-1, -4], "data_offsets": [0, 16]}})",
                                 std::string(16, '\0')),
                 {"tensor 'a'", "negative dimension"});
}

TEST_F(SafetensorsRead, MissingFileAndFolderAreErrors) {
  const auto missing = dir_ / "absent.safetensors";
  expect_mentions(error_message([&] { SafetensorsFile file(missing); }), {missing.string(), "cannot open"});
  expect_mentions(error_message([&] { SafetensorsFile file(dir_); }), {dir_.string()});
}

TEST_F(SafetensorsRead, AcceptsPaddedHeaderZeroSizeTensorsAndAnyHeaderOrder) {
  // Header keys out of offset order, zero-size tensors at shared offsets, trailing spaces.
  std::string header = R"({"c": {"dtype": "I16", "shape": [1, 2], "data_offsets": [4, 8]},)"
                       R"( "z": {"dtype": "F32", "shape": [0, 3], "data_offsets": [4, 4]},)"
                       R"( "__metadata__": {"format": "pt"},)"
                       R"( "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},)"
                       R"( "e": {"dtype": "F64", "shape": [0], "data_offsets": [8, 8]}})";
  header.append((8 - header.size() % 8) % 8 + 8, ' ');
  const auto path = dir_ / "ok.safetensors";
  write_bytes(path, raw_safetensors(header, std::string("\x01\x02\x03\x04\x05\x00\x06\x00", 8)));
  SafetensorsFile file(path);
  ASSERT_EQ(file.tensors().size(), 4u);
  EXPECT_EQ(file.tensors()[0].name, "a");
  EXPECT_EQ(file.tensors()[1].name, "z");
  EXPECT_EQ(file.tensors()[2].name, "c");
  EXPECT_EQ(file.tensors()[3].name, "e");
  EXPECT_EQ(file.metadata().at("format"), "pt");
  const auto* c = file.find("c");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->dtype, DType::I16);
  EXPECT_EQ(c->shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(c->numel(), 2u);
  EXPECT_EQ(static_cast<int>(file.data(*c)[0]), 5);
  EXPECT_EQ(file.find("z")->numel(), 0u);
  EXPECT_EQ(file.find("z")->nbytes(), 0u);
  EXPECT_EQ(file.find("missing"), nullptr);
  EXPECT_EQ(file.find("__metadata__"), nullptr);

  SafetensorsFile moved(std::move(file));
  EXPECT_EQ(static_cast<int>(moved.data(*moved.find("a"))[3]), 4);
}

TEST_F(SafetensorsRead, EmptyHeaderIsAValidEmptyFile) {
  const auto path = dir_ / "empty.safetensors";
  write_bytes(path, raw_safetensors("{}      "));
  SafetensorsFile file(path);
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_TRUE(file.metadata().empty());
}

// Every truncation and random corruption of a valid file either opens or fails with
// cream::Error: the reader never crashes or reads out of bounds (run under ASan too).
TEST_F(SafetensorsRead, TruncationsAndCorruptionsNeverCrash) {
  const std::string header = R"({"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2],)"
                             R"( "data_offsets": [0, 8]}, "b": {"dtype": "U8", "shape": [3], "data_offsets": [8, 11]}})";
  const std::string valid = raw_safetensors(header, std::string(11, '\x07'));
  const auto path = dir_ / "fuzz.safetensors";
  for (std::size_t length = 0; length < valid.size(); ++length) {
    write_bytes(path, valid.substr(0, length));
    error_message([&] { SafetensorsFile file(path); });  // every proper prefix is invalid
  }
  std::mt19937 rng(42);
  for (int trial = 0; trial < 400; ++trial) {
    std::string bytes = valid;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) bytes[rng() % (8 + header.size())] = static_cast<char>(rng() & 0xFF);
    write_bytes(path, bytes);
    try {
      SafetensorsFile file(path);
      for (const auto& info : file.tensors()) {
        ASSERT_LE(info.end, file.file_size() - 8 - file.header_size());
      }
    } catch (const cream::Error&) {
      // refusing is fine
    }
  }
}

}  // namespace
}  // namespace cream::io
