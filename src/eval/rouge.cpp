// ROUGE-L: see include/cream/eval/rouge.h.
#include "cream/eval/rouge.h"

#include <algorithm>

namespace cream::eval {

std::vector<std::string> rouge_tokens(const std::string& text) {
  std::vector<std::string> tokens;
  std::string current;
  for (const char raw : text) {
    const auto c = static_cast<unsigned char>(raw);
    const bool digit = c >= '0' && c <= '9';
    const bool lower = c >= 'a' && c <= 'z';
    const bool upper = c >= 'A' && c <= 'Z';
    if (digit || lower || upper) {
      current.push_back(upper ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
    } else if (!current.empty()) {
      tokens.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
}

size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  // One row of the classic dynamic programme: row[j] = LCS of a[0..i) and b[0..j).
  std::vector<size_t> row(b.size() + 1, 0);
  for (const auto& token : a) {
    size_t diagonal = 0;  // row[j - 1] of the previous i
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = token == b[j - 1] ? diagonal + 1 : std::max(row[j], row[j - 1]);
      diagonal = above;
    }
  }
  return row.back();
}

RougeScore rouge_l(const std::string& candidate, const std::string& reference) {
  const auto c = rouge_tokens(candidate);
  const auto r = rouge_tokens(reference);
  RougeScore score;
  if (c.empty() || r.empty()) return score;
  const double lcs = static_cast<double>(lcs_length(c, r));
  if (lcs == 0.0) return score;
  score.precision = lcs / static_cast<double>(c.size());
  score.recall = lcs / static_cast<double>(r.size());
  score.f1 = 2.0 * score.precision * score.recall / (score.precision + score.recall);
  return score;
}

}  // namespace cream::eval
