// Position samplers (docs/method.md): each draw turns the length of a document
// window D and a random stream into the position ids of one training sequence
// and the indices (into D) of the tokens that carry them.
//
// Preconditions on |D| (cream::Error otherwise):
//   cream, pose, randpos, standard: |D| >= N;   full: |D| >= L.
// Our loader serves windows of exactly L tokens; then, for cream, full and
// standard, token index == position id (every token sits at the distance its
// position claims). Shorter windows (N <= |D| < L) use docs/method.md's fallbacks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cream/positions/middle_scale.h"
#include "cream/positions/options.h"
#include "cream/util/rng.h"

namespace cream::positions {

enum class Branch { none, relativity, continuity };
const char* branch_name(Branch branch);

// What a draw decided, for statistics and tests. Fields that do not apply to
// a method keep their defaults.
struct SampleInfo {
  Branch branch = Branch::none;  // cream: the coin
  std::int64_t head = 0;         // cream: h; pose: a (length of the unshifted chunk)
  std::int64_t middle = 0;       // cream: m; pose: N - a (shifted chunk)
  std::int64_t tail = 0;         // cream: t
  std::int64_t scale = 0;        // cream: r in [2, 2f]
  std::int64_t middle_end = -1;  // cream: e (last middle position); pose: last position N-1+s
  std::int64_t shift = -1;       // pose: s
  std::int64_t chunk_end = -1;   // pose: b (end, exclusive, of the second token chunk)
  bool middle_fallback = false;  // cream: middle tokens taken right before the tail (e >= |D| - t)
};

struct Sample {
  std::vector<std::int64_t> positions;      // length N (L for full), strictly increasing
  std::vector<std::int64_t> token_indices;  // same length: indices into the window D
  SampleInfo info;
};

// Not thread-safe (per-batch branch state); use one sampler per data stream.
class Sampler {
 public:
  explicit Sampler(Options options);  // validates

  const Options& options() const { return options_; }
  // Length of every sample: N, or L for full.
  std::int64_t sequence_length() const;
  // The smallest window a draw accepts: N, or L for full.
  std::int64_t min_window_length() const;

  // One sample for a window of `window_length` tokens.
  Sample draw(std::int64_t window_length, util::Rng& rng);

  // Per-batch branch state, for checkpoints: draws made so far and the coin
  // of the current batch. restore() continues the sequence exactly.
  std::int64_t draws() const { return draws_; }
  Branch batch_branch() const { return batch_branch_; }
  void restore(std::int64_t draws, Branch batch_branch);

 private:
  Sample draw_cream(std::int64_t window_length, util::Rng& rng);
  Sample draw_pose(std::int64_t window_length, util::Rng& rng) const;
  Sample draw_randpos(util::Rng& rng) const;
  Sample draw_prefix(std::int64_t length) const;  // full and standard
  Branch next_branch(util::Rng& rng);

  Options options_;
  std::optional<MiddleScaleLaw> middle_scale_;  // cream only
  std::int64_t draws_ = 0;
  Branch batch_branch_ = Branch::none;
};

// The random stream of the position sampler for a run seed and data-parallel
// rank. Training and `cream positions` both draw from it, so the CLI shows
// exactly the positions a run with the same seed draws on rank 0.
util::Rng sampler_stream(std::uint64_t seed, std::uint64_t rank = 0);

// Throws cream::Error unless every token index lies in [0, window_length).
void check_indices(const Sample& sample, std::int64_t window_length);

// The tokens of a window (e.g. a memory-mapped shard slice) at the sample's
// indices, in order; they are also the labels (next-token loss).
template <typename Token>
std::vector<Token> gather(const Token* window, std::int64_t window_length, const Sample& sample) {
  check_indices(sample, window_length);
  std::vector<Token> tokens;
  tokens.reserve(sample.token_indices.size());
  for (const std::int64_t index : sample.token_indices) tokens.push_back(window[index]);
  return tokens;
}

template <typename Token>
std::vector<Token> gather(const std::vector<Token>& window, const Sample& sample) {
  return gather(window.data(), static_cast<std::int64_t>(window.size()), sample);
}

}  // namespace cream::positions
