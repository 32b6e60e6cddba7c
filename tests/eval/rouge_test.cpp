// ROUGE-L on hand-checked examples: the LCS of each pair is worked out in the comments.
#include <gtest/gtest.h>

#include "cream/eval/rouge.h"

namespace cream::eval {
namespace {

using Tokens = std::vector<std::string>;

TEST(RougeTokens, LowerCasesAndSplitsOnEverythingButAsciiLettersAndDigits) {
  EXPECT_EQ(rouge_tokens("Dolores-Park, ON A sunny_day!"), (Tokens{"dolores", "park", "on", "a", "sunny", "day"}));
  EXPECT_EQ(rouge_tokens("  line 42:\tvalue<7>\n"), (Tokens{"line", "42", "value", "7"}));
  // Non-ASCII letters are separators, as in rouge_score's [^a-z0-9]+ rule: "café" -> "caf".
  EXPECT_EQ(rouge_tokens("caf\xc3\xa9 au lait"), (Tokens{"caf", "au", "lait"}));
  EXPECT_TRUE(rouge_tokens("").empty());
  EXPECT_TRUE(rouge_tokens("?! ... --").empty());
}

TEST(RougeL, LcsOfHandWorkedPairs) {
  // a b c d vs b d a c: "a b c d" and "b d a c" share "b c", "b d", "a c" but no 3-token
  // subsequence (after b: c d vs d a c -> one more at most, and then nothing follows).
  EXPECT_EQ(lcs_length({"a", "b", "c", "d"}, {"b", "d", "a", "c"}), 2u);
  // a a a vs a b a: the two a's of the reference.
  EXPECT_EQ(lcs_length({"a", "a", "a"}, {"a", "b", "a"}), 2u);
  EXPECT_EQ(lcs_length({}, {"a"}), 0u);
}

TEST(RougeL, OneWordSwapped) {
  // the cat sat on the mat / the cat is on the mat: LCS = the cat on the mat = 5 of 6 each.
  const auto s = rouge_l("the cat sat on the mat", "The cat is on the mat.");
  EXPECT_DOUBLE_EQ(s.precision, 5.0 / 6.0);
  EXPECT_DOUBLE_EQ(s.recall, 5.0 / 6.0);
  EXPECT_DOUBLE_EQ(s.f1, 5.0 / 6.0);
}

TEST(RougeL, ShortAnswerAgainstTheNeedle) {
  // Candidate: eat a sandwich (3 tokens). The needle has 21 tokens: the best thing to do in
  // san francisco is eat a sandwich and sit in dolores park on a sunny day. LCS = 3.
  // P = 3/3, R = 3/21 = 1/7, F1 = 2 * (1/7) / (8/7) = 1/4.
  const auto s = rouge_l("Eat a sandwich!",
                         "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.");
  EXPECT_DOUBLE_EQ(s.precision, 1.0);
  EXPECT_DOUBLE_EQ(s.recall, 1.0 / 7.0);
  EXPECT_NEAR(s.f1, 0.25, 1e-15);
}

TEST(RougeL, OrderMattersAndPrecisionRecallDiffer) {
  // b a vs a b: LCS 1 -> P = R = F1 = 1/2.
  EXPECT_DOUBLE_EQ(rouge_l("b a", "a b").f1, 0.5);
  // Candidate a b c d e f (6) vs reference a c e (3): LCS = a c e = 3; P = 1/2, R = 1,
  // F1 = 2 * 0.5 / 1.5 = 2/3.
  const auto s = rouge_l("a b c d e f", "a c e");
  EXPECT_DOUBLE_EQ(s.precision, 0.5);
  EXPECT_DOUBLE_EQ(s.recall, 1.0);
  EXPECT_NEAR(s.f1, 2.0 / 3.0, 1e-15);
}

TEST(RougeL, EmptyOrDisjointTextsScoreZero) {
  for (const auto& [candidate, reference] : std::vector<std::pair<std::string, std::string>>{
           {"", "a b"}, {"a b", ""}, {"", ""}, {"!!!", "a"}, {"x y", "a b"}}) {
    const auto s = rouge_l(candidate, reference);
    EXPECT_EQ(s.f1, 0.0) << "'" << candidate << "' vs '" << reference << "'";
    EXPECT_EQ(s.precision, 0.0);
    EXPECT_EQ(s.recall, 0.0);
  }
  EXPECT_DOUBLE_EQ(rouge_l("Same words here", "same, words; HERE").f1, 1.0);
}

}  // namespace
}  // namespace cream::eval
