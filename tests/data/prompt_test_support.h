// Helpers for the prompt-builder and synth tests: the shared test tokenizer, a haystack file
// of generated prose, and token-level checks written independently of src/data/prompts.cpp.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cream/data/prompts.h"
#include "cream/io/tokenizer.h"
#include "data_test_support.h"

namespace cream::test {

inline const io::Tokenizer& prompt_tokenizer() {
  static const io::Tokenizer tokenizer(test_tokenizer());
  return tokenizer;
}

// A plain-text haystack of generated prose (about 1.3 tokens per word with the test model).
inline fs::path haystack_file(int words) {
  static const fs::path dir = fresh_dir("haystack");
  const fs::path file = dir / ("hay_" + std::to_string(words) + ".txt");
  if (!fs::exists(file)) write_file(file, generated_text(777, words));
  return file;
}

inline std::vector<int32_t> slice(const std::vector<int32_t>& ids, int64_t begin, int64_t end) {
  return {ids.begin() + begin, ids.begin() + end};
}

// The token at `target` holds byte `char_offset` of the text the ids (after `skip` leading
// special ids) decode to: the tokens before it decode to less, with it to more.
inline void expect_token_holds_char(const io::Tokenizer& tokenizer, const std::vector<int32_t>& ids, int64_t skip,
                                    int64_t target, size_t char_offset) {
  ASSERT_GE(target, skip);
  ASSERT_LT(target, static_cast<int64_t>(ids.size()));
  const size_t before = tokenizer.decode(slice(ids, skip, target)).size();
  const size_t with = tokenizer.decode(slice(ids, skip, target + 1)).size();
  EXPECT_LE(before, char_offset) << "target token starts after the item";
  EXPECT_GT(with, char_offset) << "target token ends before the item";
}

// Decoded answer tokens, without the space the tokenizer's dummy prefix stands for.
inline std::string decoded_answer(const io::Tokenizer& tokenizer, const std::vector<int32_t>& answer_ids) {
  std::string text = tokenizer.decode(answer_ids);
  if (!text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

inline int64_t bos_offset(const io::Tokenizer& tokenizer) { return tokenizer.bos_id() >= 0 ? 1 : 0; }

}  // namespace cream::test
