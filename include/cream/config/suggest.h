// "Did you mean ...?" suggestions for misspelt keys and values.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace cream::config {

// Optimal-string-alignment distance: insertions, deletions, substitutions and
// swaps of two adjacent characters each cost 1 ("lrr" -> "lr" is 1,
// "stpes" -> "steps" is 1).
std::size_t edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word`, if it is close enough to be a plausible
// typo: distance <= max(1, word length / 3), ties going to the earlier one.
std::optional<std::string> closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace cream::config
