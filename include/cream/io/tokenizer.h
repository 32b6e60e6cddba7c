// The model's tokenizer: SentencePiece (Llama-2's tokenizer.model) or Hugging Face's
// tokenizer.json (byte-level BPE: Llama-3, Qwen2, ...; src/io/hf_tokenizer.cpp says
// exactly what of the format is read, and refuses the rest by name). Identified by the
// SHA-256 of its file so that data and models can be checked against each other.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cream::io {

namespace detail {
class TokenizerBackend;
}

class Tokenizer {
 public:
  enum class Kind { sentencepiece, hf_json };

  // Loads a SentencePiece model file, or a tokenizer.json (a file named *.json holding
  // a JSON object). Anything else (a tiktoken / BPE-ranks text file, garbage, an empty
  // file) is refused with a cream::Error naming the file. tokenizer.json's BOS / EOS
  // come from tokenizer_config.json beside it when present (bos_token, eos_token), else
  // BOS from the TemplateProcessing post-processor.
  explicit Tokenizer(const std::filesystem::path& model_path);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Token ids of `text`, without BOS/EOS (tokenizer.json: added and special tokens in
  // the text are matched, as `tokenizers` does; invalid UTF-8 is first replaced by
  // U+FFFD per maximal invalid subsequence). Thread-safe.
  std::vector<int32_t> encode(std::string_view text) const;
  // Appends the ids of `text` to `out` (no BOS/EOS); avoids a copy in bulk tokenization.
  void encode_append(std::string_view text, std::vector<int32_t>& out) const;
  // Text of `ids`; control tokens (BOS/EOS/PAD; tokenizer.json: special tokens) decode
  // to nothing; bytes that are not UTF-8 become U+FFFD.
  std::string decode(const std::vector<int32_t>& ids) const;

  int vocab_size() const;
  int bos_id() const;  // -1 when the model has none
  int eos_id() const;  // -1 when the model has none
  int pad_id() const;  // -1 when the model has none
  int unk_id() const;
  // The piece string of `id` (e.g. "▁the", "<0x0A>"); throws on an out-of-range id.
  std::string piece(int id) const;
  // The id of `piece`, or unk_id() when the vocabulary has no such piece.
  int piece_to_id(std::string_view piece) const;

  // Lower-case hex SHA-256 of the model file's bytes.
  const std::string& sha256() const { return sha256_; }
  const std::filesystem::path& path() const { return path_; }
  Kind kind() const { return kind_; }
  // The name a model folder gives this kind's file: tokenizer.model or tokenizer.json.
  const char* file_name() const { return kind_ == Kind::hf_json ? "tokenizer.json" : "tokenizer.model"; }

 private:
  std::filesystem::path path_;
  std::string sha256_;
  Kind kind_ = Kind::sentencepiece;
  std::unique_ptr<detail::TokenizerBackend> backend_;
};

// The tokenizer file of a model folder: tokenizer.model, else tokenizer.json; empty
// when it has neither.
std::filesystem::path tokenizer_file_in(const std::filesystem::path& folder);

// Copies the tokenizer into a model folder under its kind's name (tokenizer.model or
// tokenizer.json; with tokenizer.json also the tokenizer_config.json beside it).
void copy_tokenizer_files(const Tokenizer& tokenizer, const std::filesystem::path& folder);

}  // namespace cream::io
