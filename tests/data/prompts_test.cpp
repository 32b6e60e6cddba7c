// Retrieval prompt builders (evals.md): every check looks at the TOKENS the model gets —
// lengths, where the inserted item begins, what the answer tokens decode to — and at the
// protocol text, parsed back independently of the builders.
#include "cream/data/prompts.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "cream/util/rng.h"
#include "prompt_test_support.h"

namespace {

using namespace cream::data;
using namespace cream::test;
using cream::util::Rng;

const std::string kFiller = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
const std::string kInstruction =
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there.";
const std::string kVicunaHead =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the user's questions. USER: ";

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  parts.push_back(text.substr(start));
  return parts;
}

bool ends_with(const std::string& text, const std::string& end) {
  return text.size() >= end.size() && text.compare(text.size() - end.size(), end.size(), end) == 0;
}

int64_t count_repeats(const std::string& text, const std::string& unit) {
  if (text.empty()) return 0;
  EXPECT_EQ(text.size() % unit.size(), 0u);
  const int64_t n = static_cast<int64_t>(text.size() / unit.size());
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(text.compare(i * unit.size(), unit.size(), unit), 0);
  return n;
}

// ---------------------------------------------------------------------------------------------
TEST(PromptChat, TemplatesWrapAndParse) {
  EXPECT_EQ(apply_chat_template(ChatTemplate::none, "hi"), "hi");
  EXPECT_EQ(apply_chat_template(ChatTemplate::vicuna, "hi"), kVicunaHead + "hi ASSISTANT:");
  EXPECT_EQ(parse_chat_template("vicuna"), ChatTemplate::vicuna);
  EXPECT_EQ(parse_chat_template("none"), ChatTemplate::none);
  EXPECT_STREQ(chat_template_name(ChatTemplate::vicuna), "vicuna");
  EXPECT_EQ(apply_chat_template(ChatTemplate::llama2, "  hi \n"), "[INST] hi [/INST]");
  EXPECT_EQ(apply_chat_template(ChatTemplate::llama3, " hi "),
            "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(apply_chat_template(ChatTemplate::qwen2, "hi"),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
            "<|im_start|>assistant\n");
  for (const char* name : {"none", "vicuna", "llama2", "llama3", "qwen2"})
    EXPECT_STREQ(chat_template_name(parse_chat_template(name)), name);
  expect_error([] { parse_chat_template("chatml"); }, {"--chat-template", "chatml", "vicuna", "qwen2"});
  // A template whose markers the tokenizer does not have as tokens is refused.
  expect_error([] { check_chat_template(prompt_tokenizer(), ChatTemplate::llama3); },
               {"--chat-template llama3", "is not one token"});
}

TEST(PromptTokens, EncodeContinuationDropsOnlyTheDummyPrefix) {
  const auto& tok = prompt_tokenizer();
  const auto plain = tok.encode("\nthe end");
  ASSERT_EQ(tok.piece(plain[0]), "\xE2\x96\x81");  // SentencePiece's lone dummy prefix before "\n"
  EXPECT_EQ(encode_continuation(tok, "\nthe end"), slice(plain, 1, plain.size()));
  EXPECT_EQ(encode_continuation(tok, " the end"), tok.encode(" the end"));  // a written space stays
}

// ---------------------------------------------------------------------------------------------
TEST(PromptPasskey, HitsLengthAndDepthOnTokens) {
  const auto& tok = prompt_tokenizer();
  const double per_filler = static_cast<double>(tok.encode(kFiller + kFiller + kFiller + kFiller).size()) / 4.0;
  // Tokens before the key sentence and whole length when there are no fillers at all.
  const std::string bare = kInstruction +
                           "\n\nThe pass key is 4242. Remember it. 4242 is the pass key.\n\n"
                           "What is the pass key? The pass key is";
  const int64_t bare_length = 1 + static_cast<int64_t>(tok.encode(bare).size());
  const int64_t bare_target = 1 + static_cast<int64_t>(tok.encode(kInstruction + "\n\n").size());
  for (const int64_t length : {300, 1000, 5000}) {  // the fixed parts take ~210 test-model tokens
    for (const double depth : {0.0, 37.0, 50.0, 100.0}) {
      SCOPED_TRACE("length " + std::to_string(length) + " depth " + std::to_string(depth));
      const auto p = build_passkey(tok, {length, depth, 4242, ChatTemplate::none});
      const double tolerance = std::max(std::ceil(0.01 * length), std::ceil(per_filler));
      // Never past the length (it is usually the window), and at most a filler short of it.
      EXPECT_LE(static_cast<double>(p.ids.size()), length);
      EXPECT_GE(static_cast<double>(p.ids.size()), length - tolerance);
      // ids are BOS + the text's own encoding.
      ASSERT_EQ(p.ids[0], tok.bos_id());
      EXPECT_EQ(slice(p.ids, 1, p.ids.size()), tok.encode(p.text));
      // Parse the five "\n"-joined parts back.
      const auto parts = split_lines(p.text);
      ASSERT_EQ(parts.size(), 5u);
      EXPECT_EQ(parts[0], kInstruction);
      EXPECT_EQ(parts[2], "The pass key is 4242. Remember it. 4242 is the pass key.");
      EXPECT_EQ(parts[4], "What is the pass key? The pass key is");
      const int64_t n_prefix = count_repeats(parts[1], kFiller), n_suffix = count_repeats(parts[3], kFiller);
      EXPECT_EQ(p.details["n_prefix"], n_prefix);
      EXPECT_EQ(p.details["n_suffix"], n_suffix);
      EXPECT_EQ(n_prefix, std::llround(depth / 100.0 * (n_prefix + n_suffix)));
      // The target token holds the key sentence's first character...
      expect_token_holds_char(tok, p.ids, 1, p.target_token, p.text.find("The pass key is 4242"));
      // ...and the share of filler tokens before it is the depth, within one filler.
      const double filler_tokens = static_cast<double>(p.ids.size() - bare_length);
      ASSERT_GT(filler_tokens, 0);
      const double share = static_cast<double>(p.target_token - bare_target) / filler_tokens;
      EXPECT_NEAR(share, depth / 100.0, (per_filler + 2) / filler_tokens);
      EXPECT_NEAR(p.token_depth_percent, 100.0 * p.target_token / p.ids.size(), 1e-9);
    }
  }
}

TEST(PromptPasskey, AnswerTokensFollowThePrompt) {
  const auto& tok = prompt_tokenizer();
  for (const int64_t key : {1, 7, 31415, 50000}) {
    const auto p = build_passkey(tok, {800, 50, key, ChatTemplate::none});
    EXPECT_EQ(p.answer, std::to_string(key));
    EXPECT_EQ(decoded_answer(tok, p.answer_ids), std::to_string(key));
    auto joined = slice(p.ids, 1, p.ids.size());
    joined.insert(joined.end(), p.answer_ids.begin(), p.answer_ids.end());
    EXPECT_EQ(joined, tok.encode(p.text + " " + std::to_string(key)));
  }
}

TEST(PromptPasskey, VicunaTemplateWrapsTheWholePrompt) {
  const auto& tok = prompt_tokenizer();
  const auto p = build_passkey(tok, {1500, 25, 123, ChatTemplate::vicuna});
  EXPECT_EQ(p.text.rfind(kVicunaHead + kInstruction + "\n", 0), 0u);
  EXPECT_TRUE(ends_with(p.text, ".\nWhat is the pass key? The pass key is ASSISTANT:"));
  EXPECT_LE(std::abs(static_cast<double>(p.ids.size()) - 1500), 60.0);
  expect_token_holds_char(tok, p.ids, 1, p.target_token, p.text.find("The pass key is 123."));
  EXPECT_EQ(p.details["chat_template"], "vicuna");
}

TEST(PromptPasskey, KeysAreUniformOnTheProtocolRange) {
  Rng rng(11);
  const int n = 40000;
  double sum = 0;
  int64_t lo = 50000, hi = 1;
  std::vector<int> tenths(10, 0);
  for (int i = 0; i < n; ++i) {
    const int64_t key = draw_passkey(rng);
    lo = std::min(lo, key), hi = std::max(hi, key), sum += key;
    ++tenths[(key - 1) / 5000];
  }
  EXPECT_GE(lo, 1);
  EXPECT_LE(hi, 50000);
  EXPECT_NEAR(sum / n, 25000.5, 5 * 14433.8 / std::sqrt(n));
  double chi2 = 0;
  for (const int count : tenths) chi2 += std::pow(count - n / 10.0, 2) / (n / 10.0);
  EXPECT_LT(chi2, 27.9);  // chi-square, 9 degrees of freedom, p = 0.001
}

TEST(PromptPasskey, BadInputIsOneClearLine) {
  const auto& tok = prompt_tokenizer();
  expect_error([&] { build_passkey(tok, {1000, -1, 5, ChatTemplate::none}); }, {"depth -1%", "0..100"});
  expect_error([&] { build_passkey(tok, {1000, 101, 5, ChatTemplate::none}); }, {"depth 101%"});
  expect_error([&] { build_passkey(tok, {20, 50, 5, ChatTemplate::none}); }, {"fixed parts", "length 20"});
}

// ---------------------------------------------------------------------------------------------
// A small WordNet-shaped folder: license lines (two leading spaces), multi-word lemmas, digits,
// capitals, too short / too long words — only 3..10 lower-case letters survive.
fs::path fake_wordnet(int words_per_kind) {
  const fs::path dir = fresh_dir("wordnet");
  for (const std::string kind : {"adj", "noun"}) {
    std::string text = "  1 This software and database is being provided\n  2 Princeton University\n";
    text += "ab a 1 0\nabcdefghijk a 1 0\nice_cream n 1\nx-ray n 1\n3d a 1\nUpper a 1\n";
    for (int i = 0; i < words_per_kind; ++i) {
      std::string word = kind.substr(0, 1);
      for (int v = i; v > 0 || word.size() < 3; v /= 26) word += static_cast<char>('a' + v % 26);
      text += word + " x 1 0 @ 01\n";
      text += word + " x 1 0 @ 01\n";  // a duplicate, dropped
    }
    write_file(dir / ("index." + kind), text);
  }
  return dir;
}

TEST(PromptLines, WordListsKeepPlainLowercaseWords) {
  const auto words = load_word_lists(fake_wordnet(150));
  EXPECT_EQ(words.adjectives.size(), 150u);
  EXPECT_EQ(words.nouns.size(), 150u);
  EXPECT_TRUE(std::is_sorted(words.adjectives.begin(), words.adjectives.end()));
  for (const auto& w : words.nouns) EXPECT_TRUE(std::regex_match(w, std::regex("n[a-z]{2,9}"))) << w;
  expect_error([] { load_word_lists(fake_wordnet(50)); }, {"index.adj", "50 usable words"});
  expect_error([] { load_word_lists("/no/such/wordnet"); }, {"/no/such/wordnet/index.adj", "wordnet-base"});
}

TEST(PromptLines, SystemWordNetGivesThousandsOfWords) {
  if (!fs::exists("/usr/share/wordnet/index.noun")) GTEST_SKIP() << "wordnet-base not installed";
  const auto words = load_word_lists();
  EXPECT_GT(words.adjectives.size(), 3000u);
  EXPECT_GT(words.nouns.size(), 10000u);
  EXPECT_TRUE(std::binary_search(words.adjectives.begin(), words.adjectives.end(), "green"));
  EXPECT_TRUE(std::binary_search(words.nouns.begin(), words.nouns.end(), "house"));
}

TEST(PromptLines, AskedLineSitsAtTheDepthOnTokens) {
  const auto& tok = prompt_tokenizer();
  const auto words = load_word_lists(fake_wordnet(120));
  const std::string header =
      "Below is a record of lines I want you to remember. Each line begins with 'line <line index>' and contains a "
      "'<REGISTER_CONTENT>' at the end of the line as a numerical value. For each line index, memorize its "
      "corresponding <REGISTER_CONTENT>. At the end of the record, I will ask you to retrieve the corresponding "
      "<REGISTER_CONTENT> of a certain line index. Now the record start:\n\n";
  const std::regex record("line ([a-z]+-[a-z]+): REGISTER_CONTENT is <([0-9]+)>");
  for (const int64_t lines : {1, 7, 60}) {
    for (const double depth : {0.0, 50.0, 100.0}) {
      SCOPED_TRACE("lines " + std::to_string(lines) + " depth " + std::to_string(depth));
      Rng rng(lines * 1000 + static_cast<int64_t>(depth));
      const auto p = build_lines(tok, words, {lines, depth, ChatTemplate::none}, rng);
      ASSERT_EQ(p.text.rfind(header, 0), 0u);
      EXPECT_EQ(slice(p.ids, 1, p.ids.size()), tok.encode(p.text));
      const auto rows = split_lines(p.text.substr(header.size()));
      ASSERT_EQ(rows.size(), static_cast<size_t>(lines) + 2);
      std::vector<std::string> labels;
      std::map<std::string, int64_t> values;
      for (int64_t i = 0; i < lines; ++i) {
        std::smatch m;
        ASSERT_TRUE(std::regex_match(rows[i], m, record)) << rows[i];
        labels.push_back(m[1]);
        values[m[1]] = std::stoll(m[2]);
        EXPECT_LE(values[m[1]], 50000);
      }
      EXPECT_EQ(values.size(), labels.size()) << "labels must be unique";
      EXPECT_EQ(rows[lines], "");
      const int64_t asked = std::llround(depth / 100.0 * (lines - 1));
      EXPECT_EQ(rows[lines + 1], "Now the record is over. Tell me what is the <REGISTER_CONTENT> in line " +
                                     labels[asked] + "? I need the number.");
      EXPECT_EQ(p.answer, std::to_string(values[labels[asked]]));
      EXPECT_EQ(decoded_answer(tok, p.answer_ids), p.answer);
      expect_token_holds_char(tok, p.ids, 1, p.target_token, p.text.find("line " + labels[asked] + ":"));
      EXPECT_EQ(p.details["asked_index"], asked);
    }
  }
}

TEST(PromptLines, ReproducibleUnderTheSameSeedAndWrappedByTheTemplate) {
  const auto& tok = prompt_tokenizer();
  const auto words = load_word_lists(fake_wordnet(120));
  Rng a(5), b(5), c(6);
  const auto pa = build_lines(tok, words, {30, 40, ChatTemplate::vicuna}, a);
  const auto pb = build_lines(tok, words, {30, 40, ChatTemplate::vicuna}, b);
  const auto pc = build_lines(tok, words, {30, 40, ChatTemplate::vicuna}, c);
  EXPECT_EQ(pa.ids, pb.ids);
  EXPECT_NE(pa.text, pc.text);
  EXPECT_EQ(pa.text.rfind(kVicunaHead + "Below is a record", 0), 0u);
  EXPECT_TRUE(ends_with(pa.text, "? I need the number. ASSISTANT:"));
  expect_token_holds_char(tok, pa.ids, 1, pa.target_token,
                          pa.text.find("line " + pa.details["label"].get<std::string>() + ":"));
}

TEST(PromptLines, BadInputIsOneClearLine) {
  const auto& tok = prompt_tokenizer();
  const auto words = load_word_lists(fake_wordnet(120));
  Rng rng(1);
  expect_error([&] { build_lines(tok, words, {0, 50, ChatTemplate::none}, rng); }, {"lines", "0", ">= 1"});
  expect_error([&] { build_lines(tok, words, {5, -1, ChatTemplate::none}, rng); }, {"depth -1%"});
  expect_error([&] { build_lines(tok, words, {5, 101, ChatTemplate::none}, rng); }, {"depth 101%"});
  expect_error([&] { build_lines(tok, words, {8000, 50, ChatTemplate::none}, rng); }, {"8000 lines", "labels"});
}

// ---------------------------------------------------------------------------------------------
const std::regex kUuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");

TEST(PromptKeyValue, UuidsAreWellFormedDistinctAndUniform) {
  Rng rng(3);
  std::set<std::string> seen;
  std::vector<int> first_digit(16, 0), variant(4, 0);
  const int n = 16000;
  for (int i = 0; i < n; ++i) {
    const std::string uuid = random_uuid(rng);
    ASSERT_TRUE(std::regex_match(uuid, kUuid)) << uuid;
    seen.insert(uuid);
    ++first_digit[std::stoi(uuid.substr(0, 1), nullptr, 16)];
    ++variant[std::stoi(uuid.substr(19, 1), nullptr, 16) - 8];
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(n));
  double chi2 = 0, chi2_variant = 0;
  for (const int count : first_digit) chi2 += std::pow(count - n / 16.0, 2) / (n / 16.0);
  for (const int count : variant) chi2_variant += std::pow(count - n / 4.0, 2) / (n / 4.0);
  EXPECT_LT(chi2, 37.7);          // 15 degrees of freedom, p = 0.001
  EXPECT_LT(chi2_variant, 16.3);  // 3 degrees of freedom, p = 0.001
}

TEST(PromptKeyValue, GoldPairSitsAtItsIndexOnTokens) {
  const auto& tok = prompt_tokenizer();
  const std::string intro =
      "Extract the value corresponding to the specified key in the JSON object below.\n\nJSON data:\n";
  for (const int64_t pairs : {1, 10, 75}) {
    for (const int64_t gold : {int64_t{0}, pairs / 2, pairs - 1}) {
      SCOPED_TRACE("pairs " + std::to_string(pairs) + " gold " + std::to_string(gold));
      Rng rng(pairs * 100 + gold);
      const auto p = build_key_value(tok, {pairs, gold, ChatTemplate::none}, rng);
      ASSERT_EQ(p.text.rfind(intro, 0), 0u);
      const auto key_at = p.text.find("}\n\nKey: \"");
      ASSERT_NE(key_at, std::string::npos);
      const std::string object = p.text.substr(intro.size(), key_at + 1 - intro.size());
      // One pair per line: {"k1": "v1",\n "k2": "v2",\n ... "kn": "vn"}
      const auto rows = split_lines(object);
      ASSERT_EQ(rows.size(), static_cast<size_t>(pairs));
      for (size_t i = 0; i < rows.size(); ++i) {
        const std::string lead = i == 0 ? "{" : " ";
        const std::string end = i + 1 == rows.size() ? "}" : ",";
        EXPECT_EQ(rows[i].substr(0, 1), lead);
        EXPECT_EQ(rows[i].substr(rows[i].size() - 1), end);
      }
      const auto parsed = nlohmann::ordered_json::parse(object);
      ASSERT_EQ(parsed.size(), static_cast<size_t>(pairs)) << "keys must be distinct";
      auto gold_pair = parsed.begin();
      std::advance(gold_pair, gold);
      for (const auto& pair : parsed.items()) {
        EXPECT_TRUE(std::regex_match(pair.key(), kUuid)) << pair.key();
        EXPECT_TRUE(std::regex_match(pair.value().get<std::string>(), kUuid));
      }
      EXPECT_EQ(p.text.substr(key_at + 1), "\n\nKey: \"" + gold_pair.key() + "\"\nCorresponding value:");
      EXPECT_EQ(p.answer, gold_pair.value().get<std::string>());
      EXPECT_EQ(decoded_answer(tok, p.answer_ids), p.answer);
      expect_token_holds_char(tok, p.ids, 1, p.target_token, p.text.find("\"" + gold_pair.key() + "\": "));
      EXPECT_EQ(slice(p.ids, 1, p.ids.size()), tok.encode(p.text));
    }
  }
}

TEST(PromptKeyValue, ReproducibleAndCheckedArguments) {
  const auto& tok = prompt_tokenizer();
  Rng a(9), b(9);
  EXPECT_EQ(build_key_value(tok, {20, 3, ChatTemplate::vicuna}, a).text,
            build_key_value(tok, {20, 3, ChatTemplate::vicuna}, b).text);
  Rng rng(1);
  expect_error([&] { build_key_value(tok, {0, 0, ChatTemplate::none}, rng); }, {"pairs", ">= 1"});
  expect_error([&] { build_key_value(tok, {5, 5, ChatTemplate::none}, rng); }, {"gold index 5", "0..4"});
  expect_error([&] { build_key_value(tok, {5, -1, ChatTemplate::none}, rng); }, {"gold index -1"});
}

}  // namespace
