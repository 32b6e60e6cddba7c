// ROUGE-L between a candidate text and a reference, as the rouge_score package computes it
// with its default tokenizer and no stemming: lower-case, every character other than an
// ASCII letter or digit becomes a space, split on whitespace; precision and recall are the
// longest common subsequence over the candidate's and the reference's token counts.
#pragma once

#include <string>
#include <vector>

namespace cream::eval {

// "Eat a sandwich, sit!" -> {"eat", "a", "sandwich", "sit"}.
std::vector<std::string> rouge_tokens(const std::string& text);

// Length of the longest common subsequence of two token sequences.
size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b);

struct RougeScore {
  double precision = 0.0;  // LCS / candidate tokens
  double recall = 0.0;     // LCS / reference tokens
  double f1 = 0.0;         // 2PR / (P + R); 0 when the LCS is 0 or either text has no tokens
};

RougeScore rouge_l(const std::string& candidate, const std::string& reference);

}  // namespace cream::eval
