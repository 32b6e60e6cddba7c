// tokenizer.json: Hugging Face's byte-level BPE, as `tokenizers` runs it for Llama-3,
// Qwen2, GPT-2-style files. What is read (anything else is refused by name):
//   normalizer      null, NFC, or a Sequence of those
//   pre_tokenizer   Split (Regex or String pattern, behavior Isolated, invert false),
//                   ByteLevel (add_prefix_space false; use_regex: GPT-2's pattern), or
//                   a Sequence of Splits then one ByteLevel
//   model           BPE over byte-level characters: vocab, merges ("a b" or ["a", "b"]),
//                   ignore_merges, unk_token; no dropout, no affixes, no byte_fallback
//   post_processor  null, ByteLevel, TemplateProcessing whose `single` is at most one
//                   special token then $A (the BOS), or a Sequence of those
//   decoder         ByteLevel (alone or in a Sequence)
//   added_tokens    matched before pre-tokenization, leftmost-longest, on the raw text
//                   (normalized: false) or on the normalized text (normalized: true);
//                   single_word, lstrip and rstrip must be false
// Regexes run on PCRE2 (UTF + UCP), `tokenizers` uses Oniguruma: the one known difference
// is U+180E, which PCRE2's \s matches and Oniguruma's does not.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "cream/util/error.h"
#include "cream/util/fs.h"
#include "io/tokenizer_backend.h"
#include "io/utf8.h"

namespace cream::io::detail {
namespace {

using nlohmann::json;

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class Regex {
 public:
  Regex(const std::string& pattern, const std::string& where) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                          &error, &offset, nullptr);
    if (!code_) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      throw Error(where + ": pattern does not compile at offset " + std::to_string(offset) + ": " +
                  reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is unavailable
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Isolated split: every match and every gap between matches, in order.
  void split(std::string_view text, std::vector<std::string_view>& out) const {
    pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_, nullptr);
    size_t offset = 0, last = 0;
    while (offset <= text.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), offset,
                                 PCRE2_NO_UTF_CHECK, data, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
      const size_t start = ovector[0], end = ovector[1];
      if (start > last) out.push_back(text.substr(last, start - last));
      if (end > start) out.push_back(text.substr(start, end - start));
      last = std::max(last, end);
      if (end == start) {  // an empty match: step over one character
        if (end >= text.size()) break;
        size_t next = end;
        next_code_point(text, next);
        offset = next;
      } else {
        offset = end;
      }
    }
    if (last < text.size()) out.push_back(text.substr(last));
    pcre2_match_data_free(data);
  }

 private:
  pcre2_code* code_ = nullptr;
};

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool normalized = false;
};

// One piece of the input: an added token (id >= 0) or text to pre-tokenize.
struct Segment {
  std::string text;
  int32_t id = -1;
};

std::string nfc(std::string_view text) {
  utf8proc_uint8_t* out = nullptr;
  const auto length = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (length < 0) return std::string(text);  // not reachable for valid UTF-8
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(length));
  std::free(out);
  return result;
}

std::atomic<uint64_t> g_instances{0};

class HfJsonBackend : public TokenizerBackend {
 public:
  HfJsonBackend(const std::filesystem::path& path, const std::string& bytes) : path_(path), instance_(++g_instances) {
    json root;
    try {
      root = json::parse(bytes);
    } catch (const json::parse_error& e) {
      fail("", std::string("not valid JSON (truncated?): ") + e.what());
    }
    if (!root.is_object()) fail("", "not a JSON object");
    read_model(field(root, "model"));
    read_added_tokens(root.value("added_tokens", json::array()));
    read_normalizer(root.value("normalizer", json()));
    read_pre_tokenizer(root.value("pre_tokenizer", json()));
    read_post_processor(root.value("post_processor", json()));
    read_decoder(root.value("decoder", json()));
    if (!byte_level_) fail("pre_tokenizer", "has no ByteLevel step: cream reads byte-level BPE only");
    read_tokenizer_config(path.parent_path() / "tokenizer_config.json");
  }

  void encode_append(std::string_view raw, std::vector<int32_t>& out) const override {
    const std::string text = utf8_lossy(raw);
    for (auto& segment : split_added(text, false)) {
      if (segment.id >= 0) {
        out.push_back(segment.id);
        continue;
      }
      const std::string normalized = nfc_ ? nfc(segment.text) : std::move(segment.text);
      for (const auto& inner : split_added(normalized, true)) {
        if (inner.id >= 0) {
          out.push_back(inner.id);
        } else {
          encode_plain(inner.text, out);
        }
      }
    }
  }

  std::string decode(const std::vector<int32_t>& ids) const override {
    const auto& map = byte_level_map();
    std::string bytes;
    for (const int32_t id : ids) {
      const auto added = added_by_id_.find(id);
      if (added != added_by_id_.end() && added->second->special) continue;
      const std::string& token = added != added_by_id_.end() ? added->second->content : pieces_[id];
      // A token whose every character is a byte character gives those bytes; any other
      // token (an added token's plain text) gives its own UTF-8, as `tokenizers` does.
      std::string decoded;
      bool all_bytes = true;
      for (size_t i = 0; i < token.size() && all_bytes;) {
        const int b = map.byte_of(next_code_point(token, i));
        if (b < 0) all_bytes = false;
        decoded += static_cast<char>(b);
      }
      bytes += all_bytes ? decoded : token;
    }
    return utf8_lossy(bytes);
  }

  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }
  int pad_id() const override { return pad_; }
  int unk_id() const override { return unk_; }
  std::string piece(int id) const override {
    const auto added = added_by_id_.find(id);
    return added != added_by_id_.end() ? added->second->content : pieces_[id];
  }
  int piece_to_id(std::string_view piece) const override {
    const auto it = ids_.find(std::string(piece));
    return it != ids_.end() ? it->second : unk_;
  }

 private:
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw Error(path_.string() + ": " + (key.empty() ? "" : key + ": ") + problem);
  }

  const json& field(const json& object, const char* name, const std::string& parent = "") const {
    const std::string key = parent.empty() ? name : parent + "." + name;
    if (!object.is_object() || !object.contains(name)) fail(key, "missing");
    return object.at(name);
  }

  std::string string_field(const json& object, const char* name, const std::string& parent) const {
    const auto& value = field(object, name, parent);
    if (!value.is_string()) fail(parent + "." + name, "expected a string");
    return value.get<std::string>();
  }

  void read_model(const json& model) {
    const std::string type = model.value("type", std::string("BPE"));
    if (type != "BPE") fail("model.type", "\"" + type + "\" is not supported (cream reads byte-level BPE)");
    for (const char* key : {"dropout", "continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(key) && !model.at(key).is_null() && model.at(key) != "")
        fail(std::string("model.") + key, "is not supported (set in this file)");
    }
    if (model.value("byte_fallback", false)) fail("model.byte_fallback", "true is not supported (byte-level BPE needs none)");
    ignore_merges_ = model.value("ignore_merges", false);
    read_vocab(field(model, "vocab", "model"));
    read_merges(field(model, "merges", "model"));
    if (model.contains("unk_token") && model.at("unk_token").is_string()) {
      const auto it = ids_.find(model.at("unk_token").get<std::string>());
      if (it == ids_.end()) fail("model.unk_token", "is not in model.vocab");
      unk_ = it->second;
    }
  }

  void read_vocab(const json& vocab) {
    if (!vocab.is_object() || vocab.empty()) fail("model.vocab", "expected a non-empty object of token -> id");
    int32_t largest = -1;
    for (const auto& [token, id] : vocab.items()) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (int64_t{1} << 30))
        fail("model.vocab", "\"" + token + "\": id must be a non-negative integer");
      largest = std::max(largest, id.get<int32_t>());
    }
    pieces_.assign(static_cast<size_t>(largest) + 1, std::string());
    std::vector<bool> used(pieces_.size(), false);
    for (const auto& [token, value] : vocab.items()) {
      const auto id = value.get<int32_t>();
      if (used[id]) fail("model.vocab", "id " + std::to_string(id) + " is given to both \"" + pieces_[id] + "\" and \"" + token + "\"");
      used[id] = true;
      pieces_[id] = token;
      ids_[token] = id;
    }
    // Byte-level BPE starts from the 256 byte characters: each must be a token.
    const auto& map = byte_level_map();
    for (int b = 0; b < 256; ++b) {
      const auto it = ids_.find(map.char_of(static_cast<uint8_t>(b)));
      if (it == ids_.end()) {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "0x%02X", b);
        fail("model.vocab", std::string("byte ") + hex + " (\"" + map.char_of(static_cast<uint8_t>(b)) +
                                "\") has no token: not a byte-level BPE vocabulary");
      }
      byte_ids_[b] = it->second;
    }
  }

  void read_merges(const json& merges) {
    if (!merges.is_array()) fail("model.merges", "expected a list");
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& merge = merges[rank];
      std::string left, right;
      if (merge.is_string()) {
        const auto text = merge.get<std::string>();
        const auto space = text.find(' ');
        if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
          fail("model.merges[" + std::to_string(rank) + "]", "\"" + text + "\" is not two tokens separated by one space");
        left = text.substr(0, space);
        right = text.substr(space + 1);
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
        left = merge[0].get<std::string>();
        right = merge[1].get<std::string>();
      } else {
        fail("model.merges[" + std::to_string(rank) + "]", "expected \"a b\" or [\"a\", \"b\"]");
      }
      const auto a = ids_.find(left), b = ids_.find(right), merged = ids_.find(left + right);
      if (a == ids_.end() || b == ids_.end() || merged == ids_.end())
        fail("model.merges[" + std::to_string(rank) + "]",
             "\"" + left + "\" + \"" + right + "\": " +
                 (a == ids_.end() ? left : b == ids_.end() ? right : left + right) + " is not in model.vocab");
      merges_.emplace(pair_key(a->second, b->second), std::make_pair(static_cast<int32_t>(rank), merged->second));
    }
  }

  void read_added_tokens(const json& tokens) {
    if (!tokens.is_array()) fail("added_tokens", "expected a list");
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string key = "added_tokens[" + std::to_string(i) + "]";
      const auto& t = tokens[i];
      AddedToken token;
      token.content = string_field(t, "content", key);
      const auto& id = field(t, "id", key);
      if (!id.is_number_integer() || id.get<int64_t>() < 0) fail(key + ".id", "must be a non-negative integer");
      token.id = id.get<int32_t>();
      token.special = t.value("special", false);
      token.normalized = t.value("normalized", !token.special);
      for (const char* flag : {"single_word", "lstrip", "rstrip"})
        if (t.value(flag, false)) fail(key + "." + flag, "true is not supported");
      if (token.content.empty()) fail(key + ".content", "is empty");
      if (static_cast<size_t>(token.id) < pieces_.size() && !pieces_[token.id].empty() && pieces_[token.id] != token.content)
        fail(key, "id " + std::to_string(token.id) + " is \"" + pieces_[token.id] + "\" in model.vocab, not \"" +
                      token.content + "\"");
      if (static_cast<size_t>(token.id) >= pieces_.size()) pieces_.resize(static_cast<size_t>(token.id) + 1);
      pieces_[token.id] = token.content;
      ids_[token.content] = token.id;
      added_.push_back(token);
    }
    // Longest first: at one position the longest token wins (leftmost-longest).
    std::stable_sort(added_.begin(), added_.end(),
                     [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
    for (const auto& token : added_) {
      added_by_id_[token.id] = &token;
      (token.normalized ? by_first_normalized_ : by_first_raw_)[static_cast<uint8_t>(token.content[0])].push_back(&token);
    }
  }

  void read_normalizer(const json& normalizer) {
    if (normalizer.is_null()) return;
    const std::string type = normalizer.value("type", std::string());
    if (type == "Sequence") {
      for (const auto& inner : field(normalizer, "normalizers", "normalizer")) read_normalizer(inner);
    } else if (type == "NFC") {
      nfc_ = true;
    } else {
      fail("normalizer.type", "\"" + type + "\" is not supported (only NFC)");
    }
  }

  void read_pre_tokenizer(const json& pre) {
    if (pre.is_null()) fail("pre_tokenizer", "null: a byte-level BPE needs a ByteLevel pre-tokenizer");
    const std::string type = pre.value("type", std::string());
    if (type == "Sequence") {
      for (const auto& inner : field(pre, "pretokenizers", "pre_tokenizer")) read_pre_tokenizer(inner);
    } else if (type == "Split") {
      if (byte_level_) fail("pre_tokenizer", "a Split after ByteLevel is not supported");
      const std::string behavior = pre.value("behavior", std::string("Isolated"));
      if (behavior != "Isolated") fail("pre_tokenizer.behavior", "\"" + behavior + "\" is not supported (only Isolated)");
      if (pre.value("invert", false)) fail("pre_tokenizer.invert", "true is not supported");
      const auto& pattern = field(pre, "pattern", "pre_tokenizer");
      if (pattern.contains("Regex")) {
        splits_.push_back(std::make_unique<Regex>(pattern.at("Regex").get<std::string>(), path_.string() + ": pre_tokenizer.pattern.Regex"));
      } else if (pattern.contains("String")) {
        splits_.push_back(std::make_unique<Regex>("\\Q" + pattern.at("String").get<std::string>() + "\\E",
                                                  path_.string() + ": pre_tokenizer.pattern.String"));
      } else {
        fail("pre_tokenizer.pattern", "expected Regex or String");
      }
    } else if (type == "ByteLevel") {
      if (pre.value("add_prefix_space", false)) fail("pre_tokenizer.add_prefix_space", "true is not supported");
      byte_level_ = true;
      if (pre.value("use_regex", true)) splits_.push_back(std::make_unique<Regex>(kGpt2Pattern, "ByteLevel"));
    } else {
      fail("pre_tokenizer.type", "\"" + type + "\" is not supported (Split, ByteLevel, Sequence)");
    }
  }

  void read_post_processor(const json& post) {
    if (post.is_null()) return;
    const std::string type = post.value("type", std::string());
    if (type == "Sequence") {
      for (const auto& inner : field(post, "processors", "post_processor")) read_post_processor(inner);
    } else if (type == "TemplateProcessing") {
      const auto& single = field(post, "single", "post_processor");
      bool seen_sequence = false;
      for (const auto& item : single) {
        if (item.contains("Sequence")) {
          seen_sequence = true;
        } else if (item.contains("SpecialToken") && !seen_sequence && template_bos_ < 0) {
          const auto name = item.at("SpecialToken").value("id", std::string());
          const auto it = ids_.find(name);
          if (it == ids_.end()) fail("post_processor.single", "\"" + name + "\" is not a token");
          template_bos_ = it->second;
        } else {
          fail("post_processor.single", "only one special token before $A is supported");
        }
      }
    } else if (type != "ByteLevel") {
      fail("post_processor.type", "\"" + type + "\" is not supported (TemplateProcessing, ByteLevel)");
    }
  }

  void read_decoder(const json& decoder) {
    const std::string type = decoder.is_null() ? "null" : decoder.value("type", std::string());
    if (type == "Sequence") {
      for (const auto& inner : field(decoder, "decoders", "decoder")) read_decoder(inner);
    } else if (type != "ByteLevel") {
      fail("decoder.type", "\"" + type + "\" is not supported (ByteLevel)");
    }
  }

  // BOS / EOS / PAD named by tokenizer_config.json (a string or {"content": ...}).
  void read_tokenizer_config(const std::filesystem::path& config_path) {
    bos_ = template_bos_;
    if (!std::filesystem::is_regular_file(config_path)) return;
    json config;
    try {
      config = json::parse(util::read_text_file(config_path));
    } catch (const json::parse_error& e) {
      throw Error(config_path.string() + ": not valid JSON: " + e.what());
    }
    auto id_of = [&](const char* key, int fallback) {
      if (!config.contains(key) || config.at(key).is_null()) return fallback;
      const auto& value = config.at(key);
      const std::string content = value.is_string() ? value.get<std::string>() : value.value("content", std::string());
      const auto it = ids_.find(content);
      if (it == ids_.end()) throw Error(config_path.string() + ": " + key + ": \"" + content + "\" is not a token of " + path_.string());
      return static_cast<int>(it->second);
    };
    bos_ = id_of("bos_token", template_bos_);
    eos_ = id_of("eos_token", -1);
    pad_ = id_of("pad_token", -1);
  }

  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  // Added tokens (normalized or raw ones) cut out of `text`, leftmost-longest.
  std::vector<Segment> split_added(const std::string& text, bool normalized) const {
    const auto& by_first = normalized ? by_first_normalized_ : by_first_raw_;
    std::vector<Segment> out;
    if (by_first.empty()) {
      out.push_back({text, -1});
      return out;
    }
    size_t plain_start = 0;
    for (size_t i = 0; i < text.size();) {
      const auto candidates = by_first.find(static_cast<uint8_t>(text[i]));
      const AddedToken* hit = nullptr;
      if (candidates != by_first.end())
        for (const AddedToken* token : candidates->second)
          if (text.compare(i, token->content.size(), token->content) == 0) {
            hit = token;
            break;
          }
      if (!hit) {
        ++i;
        continue;
      }
      if (i > plain_start) out.push_back({text.substr(plain_start, i - plain_start), -1});
      out.push_back({std::string(), hit->id});
      i += hit->content.size();
      plain_start = i;
    }
    if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
    return out;
  }

  void encode_plain(const std::string& text, std::vector<int32_t>& out) const {
    std::vector<std::string_view> pieces{text}, next;
    for (const auto& regex : splits_) {
      next.clear();
      for (const auto piece : pieces) regex->split(piece, next);
      std::swap(pieces, next);
    }
    for (const auto piece : pieces) encode_piece(piece, out);
  }

  // One pre-token: from the cache, or through the merges.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
    thread_local std::unordered_map<uint64_t, std::unordered_map<std::string, std::vector<int32_t>>> caches;
    auto& cache = caches[instance_];
    const std::string key(piece);
    if (const auto hit = cache.find(key); hit != cache.end()) {
      out.insert(out.end(), hit->second.begin(), hit->second.end());
      return;
    }
    auto ids = merge(piece);
    out.insert(out.end(), ids.begin(), ids.end());
    if (cache.size() < kCacheEntries) cache.emplace(key, std::move(ids));
  }

  // tokenizers' BPE: repeatedly merge the lowest-ranked adjacent pair (leftmost first).
  std::vector<int32_t> merge(std::string_view piece) const {
    if (ignore_merges_) {
      const auto whole = ids_.find(byte_level_map().encode(piece));
      if (whole != ids_.end()) return {whole->second};
    }
    const auto n = piece.size();
    std::vector<int32_t> id(n);
    std::vector<int> prev(n), next(n);
    std::vector<bool> alive(n, true);
    for (size_t i = 0; i < n; ++i) {
      id[i] = byte_ids_[static_cast<uint8_t>(piece[i])];
      prev[i] = static_cast<int>(i) - 1;
      next[i] = i + 1 < n ? static_cast<int>(i + 1) : -1;
    }
    struct Candidate {
      int32_t rank;
      int pos;
      int32_t merged;
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
    auto consider = [&](int left) {
      if (left < 0 || next[left] < 0) return;
      const auto it = merges_.find(pair_key(id[left], id[next[left]]));
      if (it != merges_.end()) queue.push({it->second.first, left, it->second.second});
    };
    for (int i = 0; i + 1 < static_cast<int>(n); ++i) consider(i);
    while (!queue.empty()) {
      const auto top = queue.top();
      queue.pop();
      if (!alive[top.pos] || next[top.pos] < 0) continue;
      const int right = next[top.pos];
      const auto it = merges_.find(pair_key(id[top.pos], id[right]));
      if (it == merges_.end() || it->second.second != top.merged) continue;  // stale
      id[top.pos] = top.merged;
      alive[right] = false;
      next[top.pos] = next[right];
      if (next[right] >= 0) prev[next[right]] = top.pos;
      consider(prev[top.pos]);
      consider(top.pos);
    }
    std::vector<int32_t> ids;
    for (int i = 0; i >= 0; i = next[i]) ids.push_back(id[i]);
    return ids;
  }

  static constexpr size_t kCacheEntries = 1 << 18;

  std::filesystem::path path_;
  uint64_t instance_;
  std::vector<std::string> pieces_;                   // id -> token (byte-level characters, or an added token)
  std::unordered_map<std::string, int32_t> ids_;      // token -> id
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (left, right) -> (rank, merged id)
  std::array<int32_t, 256> byte_ids_{};
  bool ignore_merges_ = false;
  bool nfc_ = false;
  bool byte_level_ = false;
  std::vector<std::unique_ptr<Regex>> splits_;
  std::vector<AddedToken> added_;
  std::unordered_map<int32_t, const AddedToken*> added_by_id_;
  std::map<uint8_t, std::vector<const AddedToken*>> by_first_raw_, by_first_normalized_;
  int template_bos_ = -1;
  int bos_ = -1, eos_ = -1, pad_ = -1, unk_ = -1;
};

}  // namespace

std::unique_ptr<TokenizerBackend> make_hf_json(const std::filesystem::path& path, const std::string& bytes) {
  auto backend = std::make_unique<HfJsonBackend>(path, bytes);
  return backend;
}

}  // namespace cream::io::detail
