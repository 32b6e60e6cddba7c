// Needle in a haystack: the haystack loaders (a text file, perl-doc's POD prose) and the
// needle prompt, joined on tokens, checked by taking the ids apart again.
#include <gtest/gtest.h>

#include "cream/data/prompts.h"
#include "cream/util/fs.h"
#include "prompt_test_support.h"

namespace {

using namespace cream::data;
using namespace cream::test;

const std::string kQuestion = "What is the best thing to do in San Francisco?";

// Position of `needle` inside `ids` at or after `from`, or -1.
int64_t find_tokens(const std::vector<int32_t>& ids, const std::vector<int32_t>& needle, int64_t from) {
  const auto it = std::search(ids.begin() + from, ids.end(), needle.begin(), needle.end());
  return it == ids.end() ? -1 : static_cast<int64_t>(it - ids.begin());
}

// The number of trailing ids that decode to exactly `tail`, or -1.
int64_t tail_tokens(const cream::io::Tokenizer& tok, const std::vector<int32_t>& ids, const std::string& tail) {
  for (int64_t k = 1; k <= 200 && k <= static_cast<int64_t>(ids.size()); ++k)
    if (tok.decode(slice(ids, ids.size() - k, ids.size())) == tail) return k;
  return -1;
}

TEST(PromptHaystack, FileIsEncodedWhole) {
  const auto& tok = prompt_tokenizer();
  const auto file = haystack_file(3000);
  const Haystack hay = load_haystack(tok, file);
  EXPECT_EQ(hay.ids, tok.encode(cream::util::read_text_file(file)));
  EXPECT_EQ(hay.source, file.string());
}

TEST(PromptHaystack, MissingOrEmptyFileIsAnError) {
  const auto& tok = prompt_tokenizer();
  const auto dir = fresh_dir("hay_errors");
  write_file(dir / "empty.txt", "");
  write_file(dir / "blank.txt", " \n\n\t\n");
  expect_error([&] { load_haystack(tok, dir / "empty.txt"); }, {(dir / "empty.txt").string(), "no text"});
  expect_error([&] { load_haystack(tok, dir / "blank.txt"); }, {(dir / "blank.txt").string(), "no text"});
  expect_error([&] { load_haystack(tok, dir / "missing.txt"); }, {(dir / "missing.txt").string(), "does not exist"});
}

TEST(PromptHaystack, PodProseKeepsOnlyTheProse) {
  const std::string pod =
      "=head1 NAME\n\nperlfoo - the foo\n\n=head2 Items\n\n=over 4\n\n=item * one\n\n"
      "The B<bold> word and C<code()> and I<italic\ntext> wrapped\nover lines.\n\n"
      "    my $verbatim = 1;\n    print $verbatim;\n\n"
      "See L<perlfunc/open> and L<the manual|perlsyn>, E<lt>tagE<gt> X<index entry>here Z<>done.\n\n"
      "Double C<< $a <=> $b >> works, and F<file>, S<no break>.\n\n"
      "=begin html\n\n<p>raw html</p>\n\n=end html\n\n"
      "=for comment a\nstill the comment\n\n"
      "Last E<eacute> line with C<unclosed\n\n=cut\n";
  EXPECT_EQ(pod_prose(pod),
            "perlfoo - the foo\n\n"
            "The bold word and code() and italic text wrapped over lines.\n\n"
            "See perlfunc/open and the manual, <tag> here done.\n\n"
            "Double $a <=> $b works, and file, no break.\n\n"
            "Last  line with C<unclosed");
}

TEST(PromptHaystack, DefaultFilesArePerlDocPodsSortedByName) {
  if (!fs::exists("/usr/share/perl")) GTEST_SKIP() << "perl-doc not installed";
  const auto files = default_haystack_files();
  ASSERT_GT(files.size(), 50u);
  for (size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i].extension(), ".pod");
    if (i > 0) {
      EXPECT_LT(files[i - 1].filename().string(), files[i].filename().string());
    }
  }
  const std::string prose = pod_prose(cream::util::read_text_file(files.front()));
  EXPECT_GT(prose.size(), 1000u);
  EXPECT_EQ(prose.find("\n="), std::string::npos);
}

TEST(PromptNeedle, NeedleAtTheExactTokenOffsetAndExactLength) {
  const auto& tok = prompt_tokenizer();
  const Haystack hay = load_haystack(tok, haystack_file(6000));
  const auto needle_ids = tok.encode(kDefaultNeedle);
  for (const int64_t length : {400, 1000, 5000}) {  // the fixed parts take ~250 test-model tokens
    for (const double depth : {0.0, 20.0, 50.0, 100.0}) {
      SCOPED_TRACE("length " + std::to_string(length) + " depth " + std::to_string(depth));
      NeedleOptions options;
      options.length = length;
      options.depth_percent = depth;
      const auto p = build_needle(tok, hay, options);
      ASSERT_EQ(static_cast<int64_t>(p.ids.size()), length);
      ASSERT_EQ(p.ids[0], tok.bos_id());
      // Take the ids apart: description line, haystack with the needle, question.
      const auto head = tok.encode(p.details["description"].get<std::string>() + "\n");
      ASSERT_EQ(slice(p.ids, 1, 1 + head.size()), head);
      const int64_t tail = tail_tokens(tok, p.ids, "\n" + kQuestion);
      ASSERT_GT(tail, 0);
      const int64_t hay_begin = 1 + head.size();
      const int64_t needle_at = find_tokens(p.ids, needle_ids, hay_begin);
      ASSERT_GE(needle_at, hay_begin);
      const int64_t hay_tokens = length - hay_begin - static_cast<int64_t>(needle_ids.size()) - tail;
      const int64_t offset = needle_at - hay_begin;
      EXPECT_EQ(offset, std::llround(depth / 100.0 * hay_tokens));
      EXPECT_EQ(slice(p.ids, hay_begin, needle_at), slice(hay.ids, 0, offset));
      EXPECT_EQ(slice(p.ids, needle_at + needle_ids.size(), length - tail), slice(hay.ids, offset, hay_tokens));
      EXPECT_EQ(p.target_token, needle_at);
      EXPECT_EQ(p.details["needle_offset"], offset);
      EXPECT_EQ(p.answer, kDefaultNeedle);
      EXPECT_EQ(decoded_answer(tok, p.answer_ids), kDefaultNeedle);
      EXPECT_EQ(p.text, tok.decode(slice(p.ids, 1, length)));
    }
  }
}

TEST(PromptNeedle, VicunaTemplateAndOwnNeedle) {
  const auto& tok = prompt_tokenizer();
  const Haystack hay = load_haystack(tok, haystack_file(3000));
  NeedleOptions options;
  options.length = 900;
  options.depth_percent = 60;
  options.needle = "The magic number is 8812.";
  options.question = "What is the magic number?";
  options.chat = ChatTemplate::vicuna;
  const auto p = build_needle(tok, hay, options);
  EXPECT_EQ(p.ids.size(), 900u);
  EXPECT_EQ(p.text.rfind("A chat between a curious user", 0), 0u);
  EXPECT_GT(tail_tokens(tok, p.ids, "\nWhat is the magic number? ASSISTANT:"), 0);
  EXPECT_EQ(slice(p.ids, p.target_token, p.target_token + tok.encode(options.needle).size()),
            tok.encode(options.needle));
  EXPECT_NEAR(p.token_depth_percent, 100.0 * p.target_token / 900.0, 1e-9);
}

TEST(PromptNeedle, BadInputIsOneClearLine) {
  const auto& tok = prompt_tokenizer();
  const auto file = haystack_file(3000);
  const Haystack hay = load_haystack(tok, file);
  NeedleOptions options;
  options.length = 1000;
  options.depth_percent = -1;
  expect_error([&] { build_needle(tok, hay, options); }, {"depth -1%"});
  options.depth_percent = 101;
  expect_error([&] { build_needle(tok, hay, options); }, {"depth 101%"});
  options.depth_percent = 50;
  options.length = 1000000;
  expect_error([&] { build_needle(tok, hay, options); },
               {file.string(), std::to_string(hay.ids.size()) + " tokens", "length 1000000"});
  options.length = 30;
  expect_error([&] { build_needle(tok, hay, options); }, {"needle", "more than the length 30"});
  expect_error([&] { build_needle(tok, Haystack{{}, "nothing.txt"}, options); }, {"nothing.txt", "empty"});
}

}  // namespace
