#include "cream/positions/options.h"

#include <cmath>

#include "cream/util/error.h"

namespace cream::positions {
namespace {

std::string positions_error(const std::string& parameter, const std::string& problem) {
  return "positions." + parameter + ": " + problem;
}

}  // namespace

Method parse_method(const std::string& name) {
  if (name == "cream") return Method::cream;
  if (name == "pose") return Method::pose;
  if (name == "randpos") return Method::randpos;
  if (name == "full") return Method::full;
  if (name == "standard") return Method::standard;
  throw Error(positions_error("method", "unknown method '" + name +
                                            "' (expected cream, pose, randpos, full or standard)"));
}

std::string method_name(Method method) {
  switch (method) {
    case Method::cream: return "cream";
    case Method::pose: return "pose";
    case Method::randpos: return "randpos";
    case Method::full: return "full";
    case Method::standard: return "standard";
  }
  return "unknown";
}

BranchPer parse_branch_per(const std::string& name) {
  if (name == "sequence") return BranchPer::sequence;
  if (name == "batch") return BranchPer::batch;
  throw Error(positions_error("branch_per", "unknown value '" + name + "' (expected sequence or batch)"));
}

std::string branch_per_name(BranchPer per) { return per == BranchPer::batch ? "batch" : "sequence"; }

std::int64_t Options::resolved_continuity_length() const {
  return continuity_length ? *continuity_length : 4 * scale_factor();
}

void Options::validate() const {
  const std::string n = std::to_string(train_length), l = std::to_string(target_length);
  CREAM_CHECK(train_length >= 2, positions_error("train_length", "must be >= 2, got " + n));
  CREAM_CHECK(train_length % 2 == 0,
              positions_error("train_length", "must be even (r*N/2 must be an integer), got " + n));
  CREAM_CHECK(target_length >= train_length,
              positions_error("target_length", "must be >= train_length " + n + ", got " + l));
  CREAM_CHECK(target_length % train_length == 0,
              positions_error("target_length", "must be a multiple of train_length " + n + ", got " + l));
  CREAM_CHECK(method == Method::standard || target_length >= 2 * train_length,
              positions_error("target_length", "must be at least 2 * train_length (" + std::to_string(2 * train_length) +
                                                    ") for method " + method_name(method) + ", got " + l));
  if (method != Method::cream) return;

  CREAM_CHECK(std::isfinite(sigma) && sigma > 0,
              positions_error("sigma", "must be a positive number, got " + std::to_string(sigma)));
  CREAM_CHECK(std::isfinite(relativity_share) && relativity_share >= 0 && relativity_share <= 1,
              positions_error("relativity_share", "must lie in [0, 1], got " + std::to_string(relativity_share)));
  CREAM_CHECK(!continuity_length || *continuity_length >= 1,
              positions_error("continuity_length", "must be >= 1, got " + std::to_string(*continuity_length)));
  CREAM_CHECK(branch_batch_size >= 1,
              positions_error("branch_batch_size", "must be >= 1, got " + std::to_string(branch_batch_size)));
  const std::int64_t k = resolved_continuity_length();
  if (relativity_share < 1) {
    CREAM_CHECK(train_length - 2 * k >= 1,
                positions_error("continuity_length", "k = " + std::to_string(k) + " leaves an empty middle: need N - 2k >= 1 with N = " + n));
  }
  if (relativity_share > 0) {
    // Relativity uses h = t = floor(N/3); an empty head would break "first position 0".
    CREAM_CHECK(train_length >= 4,
                positions_error("train_length", "must be >= 4 for cream's relativity branch (head floor(N/3) >= 1), got " + n));
  }
}

}  // namespace cream::positions
