// SentencePiece tokenizer (Llama's tokenizer.model), identified by the SHA-256 of
// its file so that data and models can be checked against each other.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace cream::io {

class Tokenizer {
 public:
  // Loads a SentencePiece model file. Anything else (a tiktoken / BPE-ranks text
  // file, a tokenizer.json, garbage, an empty file) is refused with a cream::Error
  // naming the file.
  explicit Tokenizer(const std::filesystem::path& model_path);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Token ids of `text`, without BOS/EOS. Thread-safe (SentencePiece encoding is const).
  std::vector<int32_t> encode(std::string_view text) const;
  // Appends the ids of `text` to `out` (no BOS/EOS); avoids a copy in bulk tokenization.
  void encode_append(std::string_view text, std::vector<int32_t>& out) const;
  // Text of `ids`; control tokens (BOS/EOS/PAD) decode to nothing.
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

 private:
  std::filesystem::path path_;
  std::string sha256_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace cream::io
