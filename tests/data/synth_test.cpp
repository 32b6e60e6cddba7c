// `cream data synth`'s library: examples reproducible one by one, the answer appended to the
// eval prompt, depths uniform, natural-text context of the asked size, JSONL written whole.
#include "cream/data/synth.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "cream/util/fs.h"
#include "prompt_test_support.h"

namespace {

using namespace cream::data;
using namespace cream::test;

WordLists small_words() {
  WordLists words;
  for (const char* w : {"red", "blue", "green", "quiet", "rapid", "brave", "calm", "dark"})
    words.adjectives.push_back(w);
  for (const char* w : {"river", "stone", "house", "cloud", "tiger", "lamp", "field", "ship"}) words.nouns.push_back(w);
  words.source = "test";
  return words;
}

SynthOptions options_for(SynthTask task, int64_t count = 4) {
  SynthOptions options;
  options.task = task;
  options.count = count;
  options.seed = 17;
  options.lengths = {300, 400};
  options.lines = {3, 6};
  options.pairs = {2, 5};
  return options;
}

TEST(SynthExamples, PromptFollowedByItsAnswerAndReproducible) {
  const auto& tok = prompt_tokenizer();
  const WordLists words = small_words();
  const SynthSources sources{&words, nullptr};
  const std::map<SynthTask, std::regex> answers{{SynthTask::passkey, std::regex("[1-9][0-9]{0,4}")},
                                                {SynthTask::lines, std::regex("[0-9]{1,5}")},
                                                {SynthTask::kv, std::regex("[0-9a-f-]{36}")}};
  for (const auto& [task, answer_shape] : answers) {
    SCOPED_TRACE(synth_task_name(task));
    const auto options = options_for(task);
    for (int64_t i = 0; i < 4; ++i) {
      const SynthExample example = synth_example(tok, options, sources, i);
      EXPECT_EQ(example.task, synth_task_name(task));
      EXPECT_TRUE(std::regex_match(example.answer, answer_shape)) << example.answer;
      ASSERT_GT(example.text.size(), example.answer.size() + 1);
      EXPECT_EQ(example.text.substr(example.text.size() - example.answer.size() - 1), " " + example.answer);
      EXPECT_EQ(example.tokens, static_cast<int64_t>(tok.encode(example.text).size()));
      EXPECT_EQ(example.context_offset, 0);
      EXPECT_EQ(synth_example(tok, options, sources, i).text, example.text) << "same index, same example";
      EXPECT_NE(synth_example(tok, options, sources, i + 1).text, example.text);
      if (task == SynthTask::passkey) {
        const int64_t length = example.prompt_tokens;
        EXPECT_TRUE(std::abs(length - 300) <= 45 || std::abs(length - 400) <= 45) << length;
      }
    }
  }
}

TEST(SynthExamples, DepthsAreUniform) {
  const auto& tok = prompt_tokenizer();
  const WordLists words = small_words();
  auto options = options_for(SynthTask::lines, 600);
  options.lines = {2};
  std::vector<int> tenths(10, 0);
  double sum = 0;
  for (int64_t i = 0; i < options.count; ++i) {
    const double depth = synth_example(tok, options, {&words, nullptr}, i).depth_percent;
    ASSERT_GE(depth, 0.0);
    ASSERT_LT(depth, 100.0);
    sum += depth;
    ++tenths[static_cast<int>(depth / 10)];
  }
  const double n = static_cast<double>(options.count);
  EXPECT_NEAR(sum / n, 50.0, 5 * 28.87 / std::sqrt(n));
  double chi2 = 0;
  for (const int count : tenths) chi2 += std::pow(count - n / 10, 2) / (n / 10);
  EXPECT_LT(chi2, 27.9);  // 9 degrees of freedom, p = 0.001
}

TEST(SynthExamples, ContextEmbedsTheExampleInNaturalText) {
  const auto& tok = prompt_tokenizer();
  const Haystack hay = load_haystack(tok, haystack_file(6000));
  auto options = options_for(SynthTask::kv);
  options.context_tokens = 1200;
  auto bare_options = options;
  bare_options.context_tokens = 0;
  bool saw_prefix = false;
  for (int64_t i = 0; i < 6; ++i) {
    const SynthExample example = synth_example(tok, options, {nullptr, &hay}, i);
    const SynthExample bare = synth_example(tok, bare_options, {nullptr, nullptr}, i);
    const auto at = example.text.find(bare.text);
    ASSERT_NE(at, std::string::npos) << "the example appears whole inside its context";
    if (at > 0) {
      saw_prefix = true;
      EXPECT_EQ(example.text.substr(at - 2, 2), "\n\n");
      EXPECT_GT(example.context_offset, 0);
      // The prefix is text of the haystack.
      const std::string prefix = example.text.substr(0, at - 2);
      EXPECT_NE(tok.decode(hay.ids).find(prefix.substr(prefix.size() / 2)), std::string::npos);
    }
    EXPECT_NEAR(static_cast<double>(example.tokens), 1200.0, 12.0);
  }
  EXPECT_TRUE(saw_prefix);
}

TEST(SynthExamples, RepeatCopiesAPassageOfRandomWords) {
  const auto& tok = prompt_tokenizer();
  auto options = options_for(SynthTask::repeat, 40);
  options.lengths = {20, 50};
  const std::vector<int32_t> pieces = repeat_words(tok);
  const SynthSources sources{nullptr, nullptr, &pieces};
  std::map<std::string, int> seen;
  for (int64_t i = 0; i < options.count; ++i) {
    const SynthExample example = synth_example(tok, options, sources, i);
    EXPECT_EQ(example.task, "repeat");
    EXPECT_EQ(example.text, "Copy: " + example.answer + "\nAgain: " + example.answer);
    EXPECT_EQ(example.answer.find('\n'), std::string::npos);
    std::istringstream words(example.answer);
    int64_t count = 0;
    for (std::string word; words >> word; ++count) {
      // Each word is one whole-word piece of the vocabulary.
      EXPECT_EQ(tok.encode(word).size(), 1u) << word;
      ++seen[word];
    }
    const auto asked = example.details["count"].get<int64_t>();
    EXPECT_TRUE(asked == 20 || asked == 50) << asked;
    EXPECT_EQ(count, asked) << example.answer;
    EXPECT_EQ(synth_example(tok, options, sources, i).text, example.text);
  }
  expect_error([&] { synth_example(tok, options, {}, 0); }, {"repeat", "word pieces"});
  // Uniform over the word pieces: many distinct words, none far above the mean count.
  int most = 0, total = 0;
  for (const auto& [word, n] : seen) most = std::max(most, n), total += n;
  EXPECT_GT(seen.size(), 30u);
  EXPECT_LT(most, 2.5 * total / static_cast<double>(seen.size()));
}

TEST(SynthExamples, RepeatOfDigitsAndHexCopiesDistinctSymbolsTheAskedNumberOfTimes) {
  const auto& tok = prompt_tokenizer();
  for (const RepeatUnits units : {RepeatUnits::digits, RepeatUnits::hex}) {
    SCOPED_TRACE(repeat_units_name(units));
    auto options = options_for(SynthTask::repeat, 60);
    options.units = units;
    options.lengths = {1, 3};
    options.repeats = {1, 4};
    const std::regex unit_shape(units == RepeatUnits::digits ? "[0-9]{3,10}" : "[0-9a-f]{3,10}");
    std::map<size_t, int> unit_lengths;
    std::map<int64_t, int> repeats_seen;
    bool saw_letter = false;
    for (int64_t i = 0; i < options.count; ++i) {
      const SynthExample example = synth_example(tok, options, {}, i);  // no word pieces needed
      const auto repeats = example.details["repeats"].get<int64_t>();
      ++repeats_seen[repeats];
      std::string expected = "Copy: " + example.answer;
      for (int64_t r = 0; r < repeats; ++r) expected += "\nAgain: " + example.answer;
      EXPECT_EQ(example.text, expected);
      std::istringstream units_in(example.answer);
      int64_t count = 0;
      for (std::string unit; units_in >> unit; ++count) {
        EXPECT_TRUE(std::regex_match(unit, unit_shape)) << unit;
        EXPECT_EQ(std::set<char>(unit.begin(), unit.end()).size(), unit.size()) << "repeated symbol in " << unit;
        ++unit_lengths[unit.size()];
        saw_letter |= unit.find_first_of("abcdef") != std::string::npos;
      }
      EXPECT_EQ(count, example.details["count"].get<int64_t>());
      EXPECT_EQ(synth_example(tok, options, {}, i).text, example.text);
    }
    EXPECT_EQ(repeats_seen.size(), 2u);  // both asked counts drawn
    EXPECT_GE(unit_lengths.size(), 6u);  // lengths spread over 3..10
    EXPECT_EQ(unit_lengths.begin()->first, 3u);
    EXPECT_EQ(saw_letter, units == RepeatUnits::hex);  // hex draws from all 16 characters
  }
  auto options = options_for(SynthTask::repeat);
  options.repeats = {0};
  expect_error([&] { check_synth_options(options); }, {"--repeats", "0"});
  expect_error([] { parse_repeat_units("letters"); }, {"--units", "letters", "words, digits, hex"});
}

TEST(SynthExamples, ContextErrorsNameTheFlagAndTheHaystack) {
  const auto& tok = prompt_tokenizer();
  const auto file = haystack_file(300);
  const Haystack hay = load_haystack(tok, file);
  auto options = options_for(SynthTask::kv);
  options.context_tokens = 40;
  expect_error([&] { synth_example(tok, options, {nullptr, &hay}, 0); }, {"--context-tokens 40", "shorter"});
  options.context_tokens = 5000;
  expect_error([&] { synth_example(tok, options, {nullptr, &hay}, 0); }, {file.string(), "--context-tokens 5000"});
}

TEST(SynthWrite, JsonlHoldsEveryExampleAndTheSummaryIsItsMean) {
  const auto& tok = prompt_tokenizer();
  const WordLists words = small_words();
  const auto dir = fresh_dir("synth_write");
  auto options = options_for(SynthTask::lines, 7);
  options.chat = ChatTemplate::vicuna;
  const SynthSummary summary = write_synth(tok, options, {&words, nullptr}, dir / "out.jsonl");
  std::ifstream in(dir / "out.jsonl");
  double total = 0;
  int64_t index = 0;
  for (std::string line; std::getline(in, line); ++index) {
    const auto row = nlohmann::json::parse(line);
    const SynthExample expected = synth_example(tok, options, {&words, nullptr}, index);
    EXPECT_EQ(row["text"], expected.text);
    EXPECT_EQ(row["task"], "lines");
    EXPECT_EQ(row["answer"], expected.answer);
    EXPECT_EQ(row["prompt_tokens"], expected.prompt_tokens);
    EXPECT_DOUBLE_EQ(row["depth_percent"].get<double>(), expected.depth_percent);
    EXPECT_EQ(row["details"]["chat_template"], "vicuna");
    total += row["tokens"].get<double>();
  }
  EXPECT_EQ(index, 7);
  EXPECT_EQ(summary.count, 7);
  EXPECT_NEAR(summary.mean_tokens, total / 7, 1e-9);

  // A longer run starts with the same examples: example i depends on (seed, i) only.
  options.count = 9;
  write_synth(tok, options, {&words, nullptr}, dir / "longer.jsonl");
  const std::string shorter = cream::util::read_text_file(dir / "out.jsonl");
  EXPECT_EQ(cream::util::read_text_file(dir / "longer.jsonl").substr(0, shorter.size()), shorter);
}

TEST(SynthWrite, BadOptionsNameTheFlagAndLeaveNoFile) {
  const auto& tok = prompt_tokenizer();
  const auto dir = fresh_dir("synth_errors");
  auto options = options_for(SynthTask::passkey, 0);
  expect_error([&] { check_synth_options(options); }, {"--count", "0"});
  options.count = 2;
  options.lengths = {};
  expect_error([&] { check_synth_options(options); }, {"--lengths", "empty"});
  options.lengths = {300, 0};
  expect_error([&] { check_synth_options(options); }, {"--lengths", "0"});
  options = options_for(SynthTask::kv);
  options.pairs = {};
  expect_error([&] { check_synth_options(options); }, {"--pairs"});
  options = options_for(SynthTask::lines);
  options.lines = {-3};
  expect_error([&] { check_synth_options(options); }, {"--lines", "-3"});
  expect_error([] { parse_synth_task("needle"); }, {"--task", "needle", "passkey, lines, kv, repeat"});

  // A failure part-way (the 10-token passkey cannot be built) leaves nothing behind.
  options = options_for(SynthTask::passkey, 3);
  options.lengths = {10};
  expect_error([&] { write_synth(tok, options, {}, dir / "out.jsonl"); }, {"--lengths", "length 10"});
  EXPECT_TRUE(fs::is_empty(dir));
}

}  // namespace
