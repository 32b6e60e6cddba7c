#include "cream/data/synth.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "cream/util/error.h"
#include "cream/util/fs.h"
#include "cream/util/rng.h"

namespace cream::data {
namespace {

void check_list(const std::vector<int64_t>& values, const std::string& flag, int64_t minimum) {
  CREAM_CHECK(!values.empty(), flag + ": the list is empty");
  for (const int64_t value : values)
    CREAM_CHECK(value >= minimum,
                flag + ": " + std::to_string(value) + " is below the minimum " + std::to_string(minimum));
}

template <typename T>
const T& pick(const std::vector<T>& values, util::Rng& rng) {
  return values[rng.uniform_below(values.size())];
}

bool starts_word(const io::Tokenizer& tokenizer, int32_t id) {
  return tokenizer.piece(id).rfind("\xE2\x96\x81", 0) == 0;  // "▁"
}

// A string of 3 to 10 distinct characters of `alphabet` (a partial Fisher-Yates shuffle).
std::string distinct_symbols(std::string alphabet, util::Rng& rng) {
  const auto size = static_cast<int64_t>(alphabet.size());
  const int64_t length = rng.uniform_int(3, std::min<int64_t>(size, 10));
  for (int64_t i = 0; i < length; ++i)
    std::swap(alphabet[static_cast<size_t>(i)], alphabet[static_cast<size_t>(rng.uniform_int(i, size - 1))]);
  return alphabet.substr(0, static_cast<size_t>(length));
}

// `length` words drawn uniformly from the word pieces, without leading space.
std::string word_passage(const io::Tokenizer& tokenizer, const SynthSources& sources, int64_t length,
                         util::Rng& rng) {
  CREAM_CHECK(sources.word_pieces != nullptr, "synth: the repeat task needs the tokenizer's word pieces");
  const std::vector<int32_t>& words = *sources.word_pieces;
  CREAM_CHECK(words.size() >= 2, "--task repeat: the tokenizer has fewer than 2 word pieces");
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < length; ++i) ids.push_back(pick(words, rng));
  std::string passage = tokenizer.decode(ids);
  passage.erase(0, passage.find_first_not_of(' '));  // "Copy: " brings the space
  return passage;
}

// `length` strings of distinct characters of `alphabet`, space-separated.
std::string symbol_passage(const std::string& alphabet, int64_t length, util::Rng& rng) {
  std::string passage;
  for (int64_t i = 0; i < length; ++i) passage += (i ? " " : "") + distinct_symbols(alphabet, rng);
  return passage;
}

std::string repeat_passage(const io::Tokenizer& tokenizer, const SynthOptions& options, const SynthSources& sources,
                           int64_t length, util::Rng& rng) {
  switch (options.units) {
    case RepeatUnits::words:
      return word_passage(tokenizer, sources, length, rng);
    case RepeatUnits::digits:
      return symbol_passage("0123456789", length, rng);
    case RepeatUnits::hex:
      return symbol_passage("0123456789abcdef", length, rng);
  }
  throw Error("synth: unknown repeat units");
}

// The repeat task: the passage, then "Again:" before each copy; the answer is the last copy.
RetrievalPrompt build_repeat(const io::Tokenizer& tokenizer, const SynthOptions& options, const SynthSources& sources,
                             util::Rng& rng) {
  const int64_t length = pick(options.lengths, rng);
  const int64_t repeats = pick(options.repeats, rng);
  RetrievalPrompt prompt;
  prompt.answer = repeat_passage(tokenizer, options, sources, length, rng);
  prompt.text = "Copy: " + prompt.answer;
  for (int64_t i = 1; i < repeats; ++i) prompt.text += "\nAgain: " + prompt.answer;
  prompt.text += "\nAgain:";
  prompt.ids = tokenizer.encode(prompt.text);
  prompt.ids.insert(prompt.ids.begin(), tokenizer.bos_id());
  prompt.details = {{"task", "repeat"}, {"units", repeat_units_name(options.units)}, {"count", length},
                    {"repeats", repeats}};
  return prompt;
}

RetrievalPrompt build_example_prompt(const io::Tokenizer& tokenizer, const SynthOptions& options,
                                     const SynthSources& sources, double depth, util::Rng& rng) {
  switch (options.task) {
    case SynthTask::passkey: {
      PasskeyOptions passkey;
      passkey.length = pick(options.lengths, rng);
      passkey.depth_percent = depth;
      passkey.key = draw_passkey(rng);
      passkey.chat = options.chat;
      try {
        return build_passkey(tokenizer, passkey);
      } catch (const Error& e) {
        throw Error(std::string("--lengths: ") + e.what());
      }
    }
    case SynthTask::lines: {
      CREAM_CHECK(sources.words != nullptr, "synth: the lines task needs word lists");
      LinesOptions lines;
      lines.lines = pick(options.lines, rng);
      lines.depth_percent = depth;
      lines.chat = options.chat;
      return build_lines(tokenizer, *sources.words, lines, rng);
    }
    case SynthTask::kv: {
      KeyValueOptions kv;
      kv.pairs = pick(options.pairs, rng);
      kv.gold_index = std::llround(depth / 100.0 * static_cast<double>(kv.pairs - 1));
      kv.chat = options.chat;
      return build_key_value(tokenizer, kv, rng);
    }
    case SynthTask::repeat:
      return build_repeat(tokenizer, options, sources, rng);
  }
  throw Error("synth: unknown task");
}

// Moves `start` forward to the next token that begins a word ("▁..."), so the natural
// context does not open in the middle of one; stays put when none is near.
int64_t word_start(const io::Tokenizer& tokenizer, const std::vector<int32_t>& ids, int64_t start, int64_t limit) {
  for (int64_t i = start; i < std::min<int64_t>(limit, start + 16); ++i)
    if (starts_word(tokenizer, ids[i])) return i;
  return start;
}

// Embeds `example` at a random token offset inside natural text (see synth.h).
void embed_in_context(const io::Tokenizer& tokenizer, const SynthOptions& options, const Haystack& haystack,
                      util::Rng& rng, SynthExample& example) {
  const int64_t separator = static_cast<int64_t>(encode_continuation(tokenizer, "\n\n").size());
  const int64_t own = static_cast<int64_t>(tokenizer.encode(example.text).size()) + 2 * separator;
  CREAM_CHECK(own <= options.context_tokens, "--context-tokens " + std::to_string(options.context_tokens) +
                                                 " is shorter than the example (" + std::to_string(own) +
                                                 " tokens with its separators)");
  const int64_t natural = options.context_tokens - own;
  const int64_t available = static_cast<int64_t>(haystack.ids.size());
  CREAM_CHECK(natural <= available, "haystack " + haystack.source + " has " + std::to_string(available) +
                                        " tokens, fewer than the " + std::to_string(natural) +
                                        " natural tokens --context-tokens " + std::to_string(options.context_tokens) +
                                        " needs");
  const int64_t start =
      word_start(tokenizer, haystack.ids, rng.uniform_int(0, available - natural), available - natural + 1);
  const int64_t before = rng.uniform_int(0, natural);
  const auto at = [&](int64_t offset) { return haystack.ids.begin() + start + offset; };
  const std::string prefix = tokenizer.decode({at(0), at(before)});
  const std::string suffix = tokenizer.decode({at(before), at(natural)});
  std::string text = prefix.empty() ? "" : prefix + "\n\n";
  text += example.text;
  if (!suffix.empty()) text += "\n\n" + suffix;
  example.text = std::move(text);
  example.context_offset = before;
}

}  // namespace

std::vector<int32_t> repeat_words(const io::Tokenizer& tokenizer) {
  std::vector<int32_t> words;
  for (int id = 0; id < tokenizer.vocab_size(); ++id) {
    const std::string piece = tokenizer.piece(id);
    if (piece.size() <= 3 || !starts_word(tokenizer, id)) continue;  // "▁" alone or not a word start
    if (piece.find('\n') != std::string::npos || piece.find('<') == 3) continue;
    if (tokenizer.decode({id}).find_first_not_of(' ') == std::string::npos) continue;
    words.push_back(id);
  }
  return words;
}

SynthTask parse_synth_task(const std::string& name) {
  if (name == "passkey") return SynthTask::passkey;
  if (name == "lines") return SynthTask::lines;
  if (name == "kv") return SynthTask::kv;
  if (name == "repeat") return SynthTask::repeat;
  throw Error("--task: unknown task '" + name + "' (valid: passkey, lines, kv, repeat)");
}

RepeatUnits parse_repeat_units(const std::string& name) {
  for (const RepeatUnits units : {RepeatUnits::words, RepeatUnits::digits, RepeatUnits::hex})
    if (name == repeat_units_name(units)) return units;
  throw Error("--units: unknown units '" + name + "' (valid: words, digits, hex)");
}

const char* repeat_units_name(RepeatUnits units) {
  switch (units) {
    case RepeatUnits::words:
      return "words";
    case RepeatUnits::digits:
      return "digits";
    case RepeatUnits::hex:
      return "hex";
  }
  return "?";
}

const char* synth_task_name(SynthTask task) {
  switch (task) {
    case SynthTask::passkey:
      return "passkey";
    case SynthTask::lines:
      return "lines";
    case SynthTask::kv:
      return "kv";
    case SynthTask::repeat:
      return "repeat";
  }
  return "?";
}

void check_synth_options(const SynthOptions& options) {
  CREAM_CHECK(options.count >= 1, "--count: " + std::to_string(options.count) + " must be at least 1");
  CREAM_CHECK(options.context_tokens >= 0,
              "--context-tokens: " + std::to_string(options.context_tokens) + " must not be negative");
  switch (options.task) {
    case SynthTask::passkey:
      return check_list(options.lengths, "--lengths", 1);
    case SynthTask::repeat:
      check_list(options.repeats, "--repeats", 1);
      return check_list(options.lengths, "--lengths", 1);
    case SynthTask::lines:
      return check_list(options.lines, "--lines", 1);
    case SynthTask::kv:
      return check_list(options.pairs, "--pairs", 1);
  }
}

nlohmann::json SynthExample::to_json() const {
  return {{"text", text},
          {"task", task},
          {"answer", answer},
          {"depth_percent", depth_percent},
          {"prompt_tokens", prompt_tokens},
          {"tokens", tokens},
          {"context_offset", context_offset},
          {"details", details}};
}

SynthExample synth_example(const io::Tokenizer& tokenizer, const SynthOptions& options, const SynthSources& sources,
                           int64_t index) {
  util::Rng rng = util::Rng::derive(options.seed, static_cast<uint64_t>(index));
  const double depth = 100.0 * rng.uniform01();
  const RetrievalPrompt prompt = build_example_prompt(tokenizer, options, sources, depth, rng);
  SynthExample example;
  example.text = prompt.text + " " + prompt.answer;
  example.task = synth_task_name(options.task);
  example.answer = prompt.answer;
  example.depth_percent = prompt.depth_percent;
  example.prompt_tokens = static_cast<int64_t>(prompt.ids.size());
  example.details = prompt.details;
  if (options.context_tokens > 0) {
    CREAM_CHECK(sources.haystack != nullptr, "synth: --context-tokens needs a haystack");
    embed_in_context(tokenizer, options, *sources.haystack, rng, example);
  }
  example.tokens = static_cast<int64_t>(tokenizer.encode(example.text).size());
  return example;
}

SynthSummary write_synth(const io::Tokenizer& tokenizer, const SynthOptions& options, const SynthSources& sources,
                         const std::filesystem::path& out) {
  check_synth_options(options);
  std::ostringstream jsonl;
  SynthSummary summary;
  int64_t total_tokens = 0;
  for (int64_t i = 0; i < options.count; ++i) {
    const SynthExample example = synth_example(tokenizer, options, sources, i);
    jsonl << example.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    total_tokens += example.tokens;
  }
  util::write_file_atomic(out, jsonl.str());
  summary.count = options.count;
  summary.mean_tokens = static_cast<double>(total_tokens) / static_cast<double>(options.count);
  return summary;
}

}  // namespace cream::data
