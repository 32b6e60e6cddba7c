// Prompt builders for the retrieval evaluations (docs/evals.md): passkey (PoSE), LongChat-Lines,
// Lost-in-the-Middle key-value and needle in a haystack. Word lists and the haystack are
// loaded in prompt_sources.cpp.
#include "cream/data/prompts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <unordered_set>

#include "cream/util/error.h"

namespace cream::data {
namespace {

constexpr const char* kVicunaSystem =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions.";

constexpr const char* kPasskeyInstruction =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there.";
constexpr const char* kPasskeyFiller =
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
constexpr const char* kPasskeyQuestion = "What is the pass key? The pass key is";

constexpr const char* kLinesHeader =
    "Below is a record of lines I want you to remember. Each line begins with 'line <line index>' and contains "
    "a '<REGISTER_CONTENT>' at the end of the line as a numerical value. For each line index, memorize its "
    "corresponding <REGISTER_CONTENT>. At the end of the record, I will ask you to retrieve the corresponding "
    "<REGISTER_CONTENT> of a certain line index. Now the record start:\n\n";

constexpr const char* kKeyValueInstruction =
    "Extract the value corresponding to the specified key in the JSON object below.\n\nJSON data:\n";

// Our own wording (the needle protocol has no fixed description line); recorded in details.
constexpr const char* kNeedleDescription =
    "Below is a long text with one important piece of information hidden somewhere inside it. "
    "Read it carefully, then answer the question that follows the text.";

constexpr int64_t kMaxProtocolValue = 50000;

std::string format_number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

void check_depth(double depth_percent) {
  CREAM_CHECK(std::isfinite(depth_percent) && depth_percent >= 0 && depth_percent <= 100,
              "depth " + format_number(depth_percent) + "% is outside 0..100");
}

// The text before and after the message in the chat template.
std::string template_head(ChatTemplate chat) {
  switch (chat) {
    case ChatTemplate::vicuna: return std::string(kVicunaSystem) + " USER: ";
    case ChatTemplate::llama2: return "[INST] ";
    case ChatTemplate::llama3: return "<|start_header_id|>user<|end_header_id|>\n\n";
    case ChatTemplate::qwen2:
      return "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n";
    default: return "";
  }
}
std::string template_tail(ChatTemplate chat) {
  switch (chat) {
    case ChatTemplate::vicuna: return " ASSISTANT:";
    case ChatTemplate::llama2: return " [/INST]";
    case ChatTemplate::llama3: return "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    case ChatTemplate::qwen2: return "<|im_end|>\n<|im_start|>assistant\n";
    default: return "";
  }
}

// The special tokens a template writes.
std::vector<std::string> template_markers(ChatTemplate chat) {
  if (chat == ChatTemplate::llama3) return {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
  if (chat == ChatTemplate::qwen2) return {"<|im_start|>", "<|im_end|>"};
  return {};
}

// Llama-3's template trims the message (the prompts built here never start with
// whitespace, so offsets into the message stay valid).
std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

std::string repeat(const std::string& piece, int64_t times) {
  std::string out;
  out.reserve(piece.size() * static_cast<size_t>(std::max<int64_t>(times, 0)));
  for (int64_t i = 0; i < times; ++i) out += piece;
  return out;
}

// BOS (when the tokenizer has one) followed by `tokens`.
std::vector<int32_t> with_bos(const io::Tokenizer& tokenizer, const std::vector<int32_t>& tokens) {
  std::vector<int32_t> ids;
  ids.reserve(tokens.size() + 1);
  if (tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
  ids.insert(ids.end(), tokens.begin(), tokens.end());
  return ids;
}

int64_t bos_count(const io::Tokenizer& tokenizer) { return tokenizer.bos_id() >= 0 ? 1 : 0; }

// Fills the fields every text-encoded prompt shares: ids, target token, answer tokens, depths.
RetrievalPrompt finish_text_prompt(const io::Tokenizer& tokenizer, std::string text, size_t target_char,
                                   std::string answer, double depth_percent) {
  RetrievalPrompt prompt;
  const std::vector<int32_t> tokens = tokenizer.encode(text);
  prompt.ids = with_bos(tokenizer, tokens);
  prompt.target_token = bos_count(tokenizer) + token_containing_char(tokenizer, tokens, text, target_char);
  prompt.answer_ids = answer_continuation_ids(tokenizer, text, tokens, answer);
  prompt.text = std::move(text);
  prompt.answer = std::move(answer);
  prompt.depth_percent = depth_percent;
  prompt.token_depth_percent =
      100.0 * static_cast<double>(prompt.target_token) / static_cast<double>(prompt.ids.size());
  return prompt;
}

// --- passkey ----------------------------------------------------------------------------------

struct PasskeyText {
  std::string text;
  size_t key_char = 0;  // where the key sentence begins in `text`
};

PasskeyText compose_passkey(int64_t n_prefix, int64_t n_suffix, int64_t key, ChatTemplate chat) {
  const std::string k = std::to_string(key);
  const std::string key_sentence = "The pass key is " + k + ". Remember it. " + k + " is the pass key.";
  std::string message = std::string(kPasskeyInstruction) + "\n" + repeat(kPasskeyFiller, n_prefix) + "\n";
  const size_t key_in_message = message.size();
  message += key_sentence + "\n" + repeat(kPasskeyFiller, n_suffix) + "\n" + kPasskeyQuestion;
  PasskeyText out;
  out.key_char = template_head(chat).size() + key_in_message;
  out.text = apply_chat_template(chat, message);
  return out;
}

int64_t prefix_fillers(double depth_percent, int64_t total) {
  return std::llround(depth_percent / 100.0 * static_cast<double>(total));
}

// Prompt length in tokens (BOS included) with `total` fillers split at the depth.
int64_t passkey_length(const io::Tokenizer& tokenizer, const PasskeyOptions& options, int64_t total) {
  const int64_t n_prefix = prefix_fillers(options.depth_percent, total);
  const auto composed = compose_passkey(n_prefix, total - n_prefix, options.key, options.chat);
  return bos_count(tokenizer) + static_cast<int64_t>(tokenizer.encode(composed.text).size());
}

// The largest filler count whose prompt fits the requested length: an estimate from the
// tokens per filler, then steps on the real encodings (two or three in practice, each one
// encoding of the whole prompt). A prompt must never pass the length: it is usually the
// model's window, and the question at its end would sit at positions it was not made for.
int64_t choose_filler_count(const io::Tokenizer& tokenizer, const PasskeyOptions& options, double tokens_per_filler,
                            int64_t base_length) {
  int64_t fits = 0;  // base_length <= options.length was checked: no fillers always fits
  int64_t too_many = -1;  // smallest count known to pass the length (-1: none yet)
  int64_t total =
      std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(options.length - base_length) / tokens_per_filler));
  for (int step = 0; step < 48 && (too_many < 0 || too_many - fits > 1); ++step) {
    const int64_t gap = options.length - passkey_length(tokenizer, options, total);
    if (gap >= 0) {
      fits = std::max(fits, total);
      total += std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(gap) / tokens_per_filler));
    } else {
      too_many = too_many < 0 ? total : std::min(too_many, total);
      total -= std::max<int64_t>(1, static_cast<int64_t>(std::ceil(static_cast<double>(-gap) / tokens_per_filler)));
    }
    if (too_many >= 0) total = std::min(total, too_many - 1);
    if (total <= fits) {
      if (too_many >= 0 && too_many - fits <= 1) break;
      total = fits + 1;
    }
  }
  return fits;
}

// --- key-value --------------------------------------------------------------------------------

std::string json_quoted(const std::string& text) { return "\"" + text + "\""; }

}  // namespace

// --- chat template ------------------------------------------------------------------------------

ChatTemplate parse_chat_template(const std::string& name) {
  for (const auto chat :
       {ChatTemplate::none, ChatTemplate::vicuna, ChatTemplate::llama2, ChatTemplate::llama3, ChatTemplate::qwen2})
    if (name == chat_template_name(chat)) return chat;
  throw Error("--chat-template: unknown template '" + name + "' (valid: none, vicuna, llama2, llama3, qwen2)");
}

const char* chat_template_name(ChatTemplate chat) {
  switch (chat) {
    case ChatTemplate::vicuna: return "vicuna";
    case ChatTemplate::llama2: return "llama2";
    case ChatTemplate::llama3: return "llama3";
    case ChatTemplate::qwen2: return "qwen2";
    default: return "none";
  }
}

std::string apply_chat_template(ChatTemplate chat, const std::string& message) {
  const bool trims = chat == ChatTemplate::llama3 || chat == ChatTemplate::llama2;
  return template_head(chat) + (trims ? trimmed(message) : message) + template_tail(chat);
}

const char* vicuna_system_prompt() { return kVicunaSystem; }

void check_chat_template(const io::Tokenizer& tokenizer, ChatTemplate chat) {
  for (const auto& marker : template_markers(chat)) {
    CREAM_CHECK(tokenizer.encode(marker).size() == 1,
                "--chat-template " + std::string(chat_template_name(chat)) + ": " + marker + " is not one token of " +
                    tokenizer.path().string() + " (that template belongs to another model family)");
  }
}

// --- token helpers ------------------------------------------------------------------------------

int64_t token_containing_char(const io::Tokenizer& tokenizer, const std::vector<int32_t>& tokens,
                              const std::string& text, size_t char_offset) {
  CREAM_CHECK(char_offset <= text.size(), "token_containing_char: offset past the end of the text");
  // Fast path: the text before the offset encodes to a prefix of the tokens, so the item
  // starts exactly on a token boundary.
  const std::vector<int32_t> before = tokenizer.encode(std::string_view(text).substr(0, char_offset));
  if (before.size() <= tokens.size() && std::equal(before.begin(), before.end(), tokens.begin()))
    return static_cast<int64_t>(before.size());
  // Otherwise a token straddles the offset: the first prefix of tokens whose text reaches
  // past the offset ends with that token (decoded lengths grow with the prefix).
  int64_t lo = 0, hi = static_cast<int64_t>(tokens.size());  // answer in [lo, hi)
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    const std::vector<int32_t> head(tokens.begin(), tokens.begin() + mid);
    if (tokenizer.decode(head).size() > char_offset)
      hi = mid;
    else
      lo = mid;
  }
  return lo;
}

std::vector<int32_t> encode_continuation(const io::Tokenizer& tokenizer, const std::string& text) {
  std::vector<int32_t> ids = tokenizer.encode(text);
  // SentencePiece's dummy prefix turns "\nWhat" into "▁", "\n", "What": inside a prompt
  // that lone "▁" would be a space nobody wrote.
  if (!ids.empty() && !text.empty() && text[0] != ' ' && tokenizer.piece(ids[0]) == "\xE2\x96\x81")
    ids.erase(ids.begin());
  return ids;
}

std::vector<int32_t> answer_continuation_ids(const io::Tokenizer& tokenizer, const std::string& prompt_text,
                                             const std::vector<int32_t>& prompt_tokens, const std::string& answer) {
  const std::vector<int32_t> joined = tokenizer.encode(prompt_text + " " + answer);
  if (joined.size() > prompt_tokens.size() && std::equal(prompt_tokens.begin(), prompt_tokens.end(), joined.begin()))
    return {joined.begin() + static_cast<std::ptrdiff_t>(prompt_tokens.size()), joined.end()};
  // The answer merged with the prompt's last token: fall back to the answer alone, whose
  // dummy prefix ("▁") stands for the separating space.
  return tokenizer.encode(answer);
}

// --- passkey ------------------------------------------------------------------------------------

int64_t draw_passkey(util::Rng& rng) { return rng.uniform_int(1, kMaxProtocolValue); }

RetrievalPrompt build_passkey(const io::Tokenizer& tokenizer, const PasskeyOptions& options) {
  check_chat_template(tokenizer, options.chat);
  check_depth(options.depth_percent);
  CREAM_CHECK(options.length > 0, "passkey: length " + std::to_string(options.length) + " must be positive");
  const int64_t base_length = passkey_length(tokenizer, options, 0);
  CREAM_CHECK(base_length <= options.length, "passkey: the fixed parts alone take " + std::to_string(base_length) +
                                                 " tokens, more than the length " + std::to_string(options.length));
  const double tokens_per_filler = static_cast<double>(tokenizer.encode(repeat(kPasskeyFiller, 8)).size()) / 8.0;
  const int64_t tolerance = std::max<int64_t>(static_cast<int64_t>(std::ceil(0.01 * options.length)),
                                              static_cast<int64_t>(std::ceil(tokens_per_filler)));

  const int64_t total = choose_filler_count(tokenizer, options, tokens_per_filler, base_length);
  const int64_t n_prefix = prefix_fillers(options.depth_percent, total);
  auto composed = compose_passkey(n_prefix, total - n_prefix, options.key, options.chat);
  RetrievalPrompt prompt = finish_text_prompt(tokenizer, std::move(composed.text), composed.key_char,
                                              std::to_string(options.key), options.depth_percent);
  const int64_t gap = options.length - static_cast<int64_t>(prompt.ids.size());
  CREAM_CHECK(gap >= 0 && gap <= tolerance, "passkey: cannot reach the length " + std::to_string(options.length) +
                                                " (closest below it: " + std::to_string(prompt.ids.size()) + " tokens)");
  prompt.details = {{"task", "passkey"},
                    {"key", options.key},
                    {"n_prefix", n_prefix},
                    {"n_suffix", total - n_prefix},
                    {"filler_joiner", ""},
                    {"tokens_per_filler", tokens_per_filler},
                    {"chat_template", chat_template_name(options.chat)}};
  return prompt;
}

// --- LongChat-Lines -----------------------------------------------------------------------------

RetrievalPrompt build_lines(const io::Tokenizer& tokenizer, const WordLists& words, const LinesOptions& options,
                            util::Rng& rng) {
  check_chat_template(tokenizer, options.chat);
  check_depth(options.depth_percent);
  CREAM_CHECK(options.lines >= 1, "lines: the number of lines " + std::to_string(options.lines) + " must be >= 1");
  CREAM_CHECK(!words.adjectives.empty() && !words.nouns.empty(), "lines: the word lists are empty");
  const double labels_available =
      static_cast<double>(words.adjectives.size()) * static_cast<double>(words.nouns.size());
  CREAM_CHECK(static_cast<double>(options.lines) <= labels_available / 2,
              "lines: " + std::to_string(options.lines) + " lines need more distinct labels than the word lists give");

  std::vector<std::string> labels;
  std::vector<int64_t> values;
  std::unordered_set<std::string> used;
  while (static_cast<int64_t>(labels.size()) < options.lines) {
    const auto& adjective = words.adjectives[rng.uniform_below(words.adjectives.size())];
    const auto& noun = words.nouns[rng.uniform_below(words.nouns.size())];
    std::string label = adjective + "-" + noun;
    if (!used.insert(label).second) continue;  // labels must be unique within the prompt
    labels.push_back(std::move(label));
    values.push_back(rng.uniform_int(0, kMaxProtocolValue));
  }
  const int64_t asked = std::llround(options.depth_percent / 100.0 * static_cast<double>(options.lines - 1));

  std::string message = kLinesHeader;
  size_t asked_char = 0;
  for (int64_t i = 0; i < options.lines; ++i) {
    if (i == asked) asked_char = message.size();
    message += "line " + labels[i] + ": REGISTER_CONTENT is <" + std::to_string(values[i]) + ">\n";
  }
  message += "\nNow the record is over. Tell me what is the <REGISTER_CONTENT> in line " + labels[asked] +
             "? I need the number.";
  RetrievalPrompt prompt = finish_text_prompt(tokenizer, apply_chat_template(options.chat, message),
                                              template_head(options.chat).size() + asked_char,
                                              std::to_string(values[asked]), options.depth_percent);
  prompt.details = {{"task", "lines"},
                    {"lines", options.lines},
                    {"asked_index", asked},
                    {"label", labels[asked]},
                    {"value", values[asked]},
                    {"word_lists", words.source},
                    {"chat_template", chat_template_name(options.chat)}};
  return prompt;
}

// --- key-value ----------------------------------------------------------------------------------

std::string random_uuid(util::Rng& rng) {
  uint64_t high = rng.next_u64(), low = rng.next_u64();
  high = (high & ~0xF000ULL) | 0x4000ULL;                       // version nibble 4
  low = (low & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10xx
  char buffer[37];
  std::snprintf(buffer, sizeof(buffer), "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(high >> 32), static_cast<unsigned long long>((high >> 16) & 0xFFFF),
                static_cast<unsigned long long>(high & 0xFFFF), static_cast<unsigned long long>(low >> 48),
                static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFULL));
  return buffer;
}

RetrievalPrompt build_key_value(const io::Tokenizer& tokenizer, const KeyValueOptions& options, util::Rng& rng) {
  check_chat_template(tokenizer, options.chat);
  CREAM_CHECK(options.pairs >= 1, "kv: the number of pairs " + std::to_string(options.pairs) + " must be >= 1");
  CREAM_CHECK(
      options.gold_index >= 0 && options.gold_index < options.pairs,
      "kv: gold index " + std::to_string(options.gold_index) + " is outside 0.." + std::to_string(options.pairs - 1));
  std::vector<std::string> keys, values;
  std::unordered_set<std::string> used;
  while (static_cast<int64_t>(keys.size()) < options.pairs) {
    std::string key = random_uuid(rng);
    std::string value = random_uuid(rng);
    if (!used.insert(key).second) continue;  // a repeated key would make the question ambiguous
    keys.push_back(std::move(key));
    values.push_back(std::move(value));
  }

  // {"k1": "v1",\n "k2": "v2",\n ... "kn": "vn"}
  std::string message = kKeyValueInstruction;
  message += "{";
  size_t gold_char = 0;
  for (int64_t i = 0; i < options.pairs; ++i) {
    if (i > 0) message += ",\n ";
    if (i == options.gold_index) gold_char = message.size();
    message += json_quoted(keys[i]) + ": " + json_quoted(values[i]);
  }
  message += "}\n\nKey: " + json_quoted(keys[options.gold_index]) + "\nCorresponding value:";
  const double depth = options.pairs == 1 ? 0.0 : 100.0 * options.gold_index / static_cast<double>(options.pairs - 1);
  RetrievalPrompt prompt =
      finish_text_prompt(tokenizer, apply_chat_template(options.chat, message),
                         template_head(options.chat).size() + gold_char, values[options.gold_index], depth);
  prompt.details = {{"task", "kv"},
                    {"pairs", options.pairs},
                    {"gold_index", options.gold_index},
                    {"key", keys[options.gold_index]},
                    {"chat_template", chat_template_name(options.chat)}};
  return prompt;
}

// --- needle in a haystack -----------------------------------------------------------------------

RetrievalPrompt build_needle(const io::Tokenizer& tokenizer, const Haystack& haystack, const NeedleOptions& options) {
  check_chat_template(tokenizer, options.chat);
  check_depth(options.depth_percent);
  CREAM_CHECK(!haystack.ids.empty(), "needle: the haystack " + haystack.source + " is empty");
  CREAM_CHECK(!options.needle.empty(), "needle: the needle text is empty");
  // Parts encoded separately and joined on tokens, so the needle lands at an exact offset.
  const std::vector<int32_t> head = tokenizer.encode(template_head(options.chat) + kNeedleDescription + "\n");
  const std::vector<int32_t> needle = tokenizer.encode(options.needle);  // its "▁" is the space before it
  const std::vector<int32_t> tail =
      encode_continuation(tokenizer, "\n" + options.question + template_tail(options.chat));
  const int64_t fixed = bos_count(tokenizer) + static_cast<int64_t>(head.size() + needle.size() + tail.size());
  CREAM_CHECK(fixed <= options.length, "needle: the description, needle and question take " + std::to_string(fixed) +
                                           " tokens, more than the length " + std::to_string(options.length));
  const int64_t hay_tokens = options.length - fixed;
  CREAM_CHECK(hay_tokens <= static_cast<int64_t>(haystack.ids.size()),
              "needle: the haystack " + haystack.source + " has " + std::to_string(haystack.ids.size()) +
                  " tokens, fewer than the " + std::to_string(hay_tokens) + " the length " +
                  std::to_string(options.length) + " needs");
  const int64_t offset = std::llround(options.depth_percent / 100.0 * static_cast<double>(hay_tokens));

  std::vector<int32_t> tokens;
  tokens.reserve(static_cast<size_t>(options.length));
  tokens.insert(tokens.end(), head.begin(), head.end());
  tokens.insert(tokens.end(), haystack.ids.begin(), haystack.ids.begin() + offset);
  tokens.insert(tokens.end(), needle.begin(), needle.end());
  tokens.insert(tokens.end(), haystack.ids.begin() + offset, haystack.ids.begin() + hay_tokens);
  tokens.insert(tokens.end(), tail.begin(), tail.end());

  RetrievalPrompt prompt;
  prompt.ids = with_bos(tokenizer, tokens);
  prompt.text = tokenizer.decode(tokens);
  prompt.answer = options.needle;
  prompt.answer_ids = answer_continuation_ids(tokenizer, prompt.text, tokenizer.encode(prompt.text), options.needle);
  prompt.target_token = bos_count(tokenizer) + static_cast<int64_t>(head.size()) + offset;
  prompt.depth_percent = options.depth_percent;
  prompt.token_depth_percent =
      100.0 * static_cast<double>(prompt.target_token) / static_cast<double>(prompt.ids.size());
  prompt.details = {{"task", "needle"},
                    {"description", kNeedleDescription},
                    {"needle", options.needle},
                    {"question", options.question},
                    {"haystack", haystack.source},
                    {"haystack_tokens", hay_tokens},
                    {"needle_offset", offset},
                    {"needle_tokens", needle.size()},
                    {"chat_template", chat_template_name(options.chat)}};
  return prompt;
}

}  // namespace cream::data
