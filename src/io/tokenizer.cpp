#include "cream/io/tokenizer.h"

#include <algorithm>

#include <sentencepiece_processor.h>

#include "cream/util/error.h"
#include "cream/util/fs.h"
#include "cream/util/sha256.h"
#include "io/tokenizer_backend.h"

namespace cream::io {
namespace detail {
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

class SentencePieceBackend : public TokenizerBackend {
 public:
  SentencePieceBackend(const std::filesystem::path& path, const std::string& bytes)
      : path_(path), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
    const std::string problem = why_not_sentencepiece(bytes);
    CREAM_CHECK(problem.empty(), path.string() + ": not a SentencePiece model (" + problem + ")");
    const std::string error = status_text(processor_->LoadFromSerializedProto(bytes));
    CREAM_CHECK(error.empty(), path.string() + ": not a SentencePiece model (" + error + ")");
    CREAM_CHECK(processor_->GetPieceSize() > 0, path.string() + ": SentencePiece model has no pieces");
  }

  void encode_append(std::string_view text, std::vector<int32_t>& out) const override {
    std::vector<int> ids;
    const std::string error = status_text(processor_->Encode(text, &ids));
    CREAM_CHECK(error.empty(), path_.string() + ": encoding failed: " + error);
    out.insert(out.end(), ids.begin(), ids.end());
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string text;
    const std::vector<int> plain_ids(ids.begin(), ids.end());
    const std::string error = status_text(processor_->Decode(plain_ids, &text));
    CREAM_CHECK(error.empty(), path_.string() + ": decoding failed: " + error);
    return text;
  }

  int vocab_size() const override { return processor_->GetPieceSize(); }
  int bos_id() const override { return processor_->bos_id(); }
  int eos_id() const override { return processor_->eos_id(); }
  int pad_id() const override { return processor_->pad_id(); }
  int unk_id() const override { return processor_->unk_id(); }
  std::string piece(int id) const override { return processor_->IdToPiece(id); }
  int piece_to_id(std::string_view piece) const override { return processor_->PieceToId(piece); }

 private:
  std::filesystem::path path_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace

std::unique_ptr<TokenizerBackend> make_sentencepiece(const std::filesystem::path& path, const std::string& bytes) {
  return std::make_unique<SentencePieceBackend>(path, bytes);
}

}  // namespace detail

static_assert(sizeof(int) == sizeof(int32_t), "SentencePiece ids are int; we store int32_t");

Tokenizer::Tokenizer(const std::filesystem::path& model_path) : path_(model_path) {
  CREAM_CHECK(std::filesystem::is_regular_file(model_path), model_path.string() + ": tokenizer file not found");
  const std::string bytes = util::read_text_file(model_path);
  // tokenizer.json is a JSON object; everything else must be a SentencePiece model.
  const auto first = bytes.find_first_not_of(" \t\r\n");
  const bool json = first != std::string::npos && bytes[first] == '{' && model_path.extension() == ".json";
  backend_ = json ? detail::make_hf_json(model_path, bytes) : detail::make_sentencepiece(model_path, bytes);
  kind_ = json ? Kind::hf_json : Kind::sentencepiece;
  sha256_ = util::sha256_hex(bytes);
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  backend_->encode_append(text, ids);
  return ids;
}

void Tokenizer::encode_append(std::string_view text, std::vector<int32_t>& out) const {
  backend_->encode_append(text, out);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  const int size = vocab_size();
  for (int32_t id : ids)
    CREAM_CHECK(id >= 0 && id < size, "decode: token id " + std::to_string(id) +
                                          " is outside the vocabulary of " + path_.string() + " (size " +
                                          std::to_string(size) + ")");
  return backend_->decode(ids);
}

int Tokenizer::vocab_size() const { return backend_->vocab_size(); }
int Tokenizer::bos_id() const { return backend_->bos_id(); }
int Tokenizer::eos_id() const { return backend_->eos_id(); }
int Tokenizer::pad_id() const { return backend_->pad_id(); }
int Tokenizer::unk_id() const { return backend_->unk_id(); }

std::string Tokenizer::piece(int id) const {
  CREAM_CHECK(id >= 0 && id < vocab_size(), "piece: token id " + std::to_string(id) +
                                                " is outside the vocabulary of " + path_.string());
  return backend_->piece(id);
}

int Tokenizer::piece_to_id(std::string_view piece) const { return backend_->piece_to_id(piece); }

void copy_tokenizer_files(const Tokenizer& tokenizer, const std::filesystem::path& folder) {
  std::filesystem::copy_file(tokenizer.path(), folder / tokenizer.file_name(),
                             std::filesystem::copy_options::overwrite_existing);
  const auto config = tokenizer.path().parent_path() / "tokenizer_config.json";
  if (tokenizer.kind() == Tokenizer::Kind::hf_json && std::filesystem::is_regular_file(config))
    std::filesystem::copy_file(config, folder / "tokenizer_config.json", std::filesystem::copy_options::overwrite_existing);
}

std::filesystem::path tokenizer_file_in(const std::filesystem::path& folder) {
  if (std::filesystem::is_regular_file(folder / "tokenizer.model")) return folder / "tokenizer.model";
  if (std::filesystem::is_regular_file(folder / "tokenizer.json")) return folder / "tokenizer.json";
  return {};
}

}  // namespace cream::io
