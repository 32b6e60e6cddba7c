#include "cream/io/tokenizer.h"

#include <algorithm>

#include <sentencepiece_processor.h>

#include "cream/util/error.h"
#include "cream/util/fs.h"
#include "cream/util/sha256.h"

namespace cream::io {
namespace {

// A serialized SentencePiece ModelProto starts with its repeated `pieces` field
// (field 1, length-delimited: tag byte 0x0A). Checking it first gives a clear
// message for the common mistakes (tiktoken ranks, tokenizer.json) instead of a
// protobuf parse error, and catches inputs protobuf would accept (an empty file).
std::string why_not_sentencepiece(const std::string& bytes) {
  if (bytes.empty()) return "the file is empty";
  if (bytes[0] == '{' || bytes[0] == '[') return "it looks like JSON (a tokenizer.json?)";
  if (static_cast<unsigned char>(bytes[0]) != 0x0A) {
    const bool looks_text = std::all_of(bytes.begin(), bytes.begin() + std::min<size_t>(bytes.size(), 4096),
                                        [](char c) { return c == '\n' || c == '\r' || c == '\t' ||
                                                            static_cast<unsigned char>(c) >= 0x20; });
    return looks_text ? "it is a text file (tiktoken / BPE ranks?)" : "unrecognised binary content";
  }
  return "";
}

// Turns a SentencePiece status into "" (ok) or its message.
std::string status_text(const sentencepiece::util::Status& status) {
  return status.ok() ? std::string() : status.ToString();
}

}  // namespace

Tokenizer::Tokenizer(const std::filesystem::path& model_path)
    : path_(model_path), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  CREAM_CHECK(std::filesystem::is_regular_file(model_path),
              model_path.string() + ": tokenizer file not found");
  const std::string bytes = util::read_text_file(model_path);
  const std::string problem = why_not_sentencepiece(bytes);
  CREAM_CHECK(problem.empty(), model_path.string() + ": not a SentencePiece model (" + problem + ")");
  const std::string error =
      status_text(processor_->LoadFromSerializedProto(bytes));
  CREAM_CHECK(error.empty(), model_path.string() + ": not a SentencePiece model (" + error + ")");
  CREAM_CHECK(processor_->GetPieceSize() > 0, model_path.string() + ": SentencePiece model has no pieces");
  sha256_ = util::sha256_hex(bytes);
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

static_assert(sizeof(int) == sizeof(int32_t), "SentencePiece ids are int; we store int32_t");

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const std::string error = status_text(processor_->Encode(text, &ids));
  CREAM_CHECK(error.empty(), path_.string() + ": encoding failed: " + error);
  return std::vector<int32_t>(ids.begin(), ids.end());
}

void Tokenizer::encode_append(std::string_view text, std::vector<int32_t>& out) const {
  const std::vector<int32_t> ids = encode(text);
  out.insert(out.end(), ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  const int size = vocab_size();
  for (int32_t id : ids)
    CREAM_CHECK(id >= 0 && id < size, "decode: token id " + std::to_string(id) +
                                          " is outside the vocabulary of " + path_.string() + " (size " +
                                          std::to_string(size) + ")");
  std::string text;
  const std::vector<int> plain_ids(ids.begin(), ids.end());
  const std::string error =
      status_text(processor_->Decode(plain_ids, &text));
  CREAM_CHECK(error.empty(), path_.string() + ": decoding failed: " + error);
  return text;
}

int Tokenizer::vocab_size() const { return processor_->GetPieceSize(); }
int Tokenizer::bos_id() const { return processor_->bos_id(); }
int Tokenizer::eos_id() const { return processor_->eos_id(); }
int Tokenizer::pad_id() const { return processor_->pad_id(); }
int Tokenizer::unk_id() const { return processor_->unk_id(); }

std::string Tokenizer::piece(int id) const {
  CREAM_CHECK(id >= 0 && id < vocab_size(), "piece: token id " + std::to_string(id) +
                                                " is outside the vocabulary of " + path_.string());
  return processor_->IdToPiece(id);
}

int Tokenizer::piece_to_id(std::string_view piece) const { return processor_->PieceToId(piece); }

}  // namespace cream::io
