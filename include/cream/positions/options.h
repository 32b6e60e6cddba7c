// Which position sampler to use and its parameters (docs/method.md, "CREAM sampler"
// and "Baselines"). Integers in, integers out: nothing here knows LibTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cream::positions {

enum class Method { cream, pose, randpos, full, standard };

// "cream" -> Method::cream ...; throws cream::Error listing the valid names.
Method parse_method(const std::string& name);
std::string method_name(Method method);

// When the CREAM relativity/continuity coin is tossed: for every sequence
// (ours, default) or once per batch of `branch_batch_size` sequences (the
// authors toss it once per preprocessing batch of 3000 documents).
enum class BranchPer { sequence, batch };

BranchPer parse_branch_per(const std::string& name);  // "sequence" | "batch"
std::string branch_per_name(BranchPer per);

struct Options {
  Method method = Method::cream;
  std::int64_t train_length = 4096;    // N: tokens per training sequence
  std::int64_t target_length = 32768;  // L: positions are drawn from [0, L)

  // CREAM only.
  double sigma = 3.0;                  // spread of the middle-scale Gaussian
  std::optional<std::int64_t> continuity_length;  // k; unset means the default 4 * f
  double relativity_share = 0.5;       // probability of the relativity branch
  // Draw the middle scale from the exact normal truncated to [2, 2f] (inverse
  // CDF) instead of the authors' 1000-point piecewise-linear approximation.
  bool exact_truncnorm = false;
  BranchPer branch_per = BranchPer::sequence;
  std::int64_t branch_batch_size = 3000;

  // Throws cream::Error naming the first offending parameter. Call before any work.
  void validate() const;

  // f = L / N (call after validate()).
  std::int64_t scale_factor() const { return target_length / train_length; }
  // k with the default resolved (4 * f when continuity_length is unset).
  std::int64_t resolved_continuity_length() const;
};

}  // namespace cream::positions
