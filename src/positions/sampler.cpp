#include "cream/positions/sampler.h"

#include <algorithm>
#include <numeric>

#include "cream/util/error.h"

namespace cream::positions {
namespace {

// Appends first, first+1, ..., first+count-1.
void append_run(std::vector<std::int64_t>& values, std::int64_t first, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) values.push_back(first + i);
}

}  // namespace

const char* branch_name(Branch branch) {
  switch (branch) {
    case Branch::relativity: return "relativity";
    case Branch::continuity: return "continuity";
    case Branch::none: return "none";
  }
  return "none";
}

Sampler::Sampler(Options options) : options_(std::move(options)) {
  options_.validate();
  if (options_.method == Method::cream)
    middle_scale_.emplace(options_.scale_factor(), options_.sigma, options_.exact_truncnorm);
}

std::int64_t Sampler::sequence_length() const {
  return options_.method == Method::full ? options_.target_length : options_.train_length;
}

std::int64_t Sampler::min_window_length() const { return sequence_length(); }

void Sampler::restore(std::int64_t draws, Branch batch_branch) {
  CREAM_CHECK(draws >= 0, "positions sampler state: negative draw count " + std::to_string(draws));
  draws_ = draws;
  batch_branch_ = batch_branch;
}

Sample Sampler::draw(std::int64_t window_length, util::Rng& rng) {
  CREAM_CHECK(window_length >= min_window_length(),
              "positions: method " + method_name(options_.method) + " needs a window of at least " +
                  std::to_string(min_window_length()) + " tokens, got " + std::to_string(window_length));
  Sample sample;
  switch (options_.method) {
    case Method::cream: sample = draw_cream(window_length, rng); break;
    case Method::pose: sample = draw_pose(window_length, rng); break;
    case Method::randpos: sample = draw_randpos(rng); break;
    case Method::full: sample = draw_prefix(options_.target_length); break;
    case Method::standard: sample = draw_prefix(options_.train_length); break;
  }
  ++draws_;
  return sample;
}

Branch Sampler::next_branch(util::Rng& rng) {
  const auto toss = [&] {
    return rng.bernoulli(options_.relativity_share) ? Branch::relativity : Branch::continuity;
  };
  if (options_.branch_per == BranchPer::sequence) return toss();
  // The authors' variant: one coin per batch of branch_batch_size sequences.
  if (draws_ % options_.branch_batch_size == 0 || batch_branch_ == Branch::none) batch_branch_ = toss();
  return batch_branch_;
}

// docs/method.md "CREAM sampler", steps 1-6.
Sample Sampler::draw_cream(std::int64_t window_length, util::Rng& rng) {
  const std::int64_t n = options_.train_length, l = options_.target_length;
  SampleInfo info;
  info.branch = next_branch(rng);
  const std::int64_t h = info.branch == Branch::relativity ? n / 3 : options_.resolved_continuity_length();
  const std::int64_t t = h, m = n - h - t;
  const std::int64_t r = middle_scale_->draw(rng);
  // e ~ U{floor(h + (m-1) r/2) .. r N/2 - t - 1}, in exact integer arithmetic.
  const std::int64_t e_low = (2 * h + (m - 1) * r) / 2;
  const std::int64_t e_high = r * n / 2 - t - 1;
  const std::int64_t e = rng.uniform_int(e_low, e_high);
  info.head = h;
  info.tail = t;
  info.middle = m;
  info.scale = r;
  info.middle_end = e;

  Sample sample;
  sample.positions.reserve(n);
  append_run(sample.positions, 0, h);
  append_run(sample.positions, e - m + 1, m);
  append_run(sample.positions, l - t, t);

  // Step 6: the middle tokens sit at their positions when they end before the
  // window's tail; otherwise take the m tokens right before the tail.
  const std::int64_t d = window_length;
  info.middle_fallback = e >= d - t;
  const std::int64_t middle_first = info.middle_fallback ? d - t - m : e - m + 1;
  sample.token_indices.reserve(n);
  append_run(sample.token_indices, 0, h);
  append_run(sample.token_indices, middle_first, m);
  append_run(sample.token_indices, d - t, t);
  sample.info = info;
  return sample;
}

// PoSE with two chunks (docs/method.md "Baselines").
Sample Sampler::draw_pose(std::int64_t window_length, util::Rng& rng) const {
  const std::int64_t n = options_.train_length, l = options_.target_length;
  const std::int64_t d = std::min(window_length, l);  // the document cut to at most L tokens
  const std::int64_t a = rng.uniform_int(1, (n + 1) / 2);
  const std::int64_t b = rng.uniform_int(n, d);
  const std::int64_t s = rng.uniform_int(0, l - n);
  Sample sample;
  sample.positions.reserve(n);
  append_run(sample.positions, 0, a);
  append_run(sample.positions, a + s, n - a);
  sample.token_indices.reserve(n);
  append_run(sample.token_indices, 0, a);
  append_run(sample.token_indices, b - (n - a), n - a);
  sample.info.head = a;
  sample.info.middle = n - a;
  sample.info.middle_end = n - 1 + s;
  sample.info.shift = s;
  sample.info.chunk_end = b;
  return sample;
}

// N distinct positions, uniform without replacement from [0, L) (Floyd's
// algorithm: exactly N draws), sorted; tokens D[0..N-1].
Sample Sampler::draw_randpos(util::Rng& rng) const {
  const std::int64_t n = options_.train_length, l = options_.target_length;
  std::vector<bool> taken(static_cast<std::size_t>(l), false);
  Sample sample;
  sample.positions.reserve(n);
  for (std::int64_t j = l - n; j < l; ++j) {
    const std::int64_t candidate = rng.uniform_int(0, j);
    const std::int64_t chosen = taken[candidate] ? j : candidate;
    taken[chosen] = true;
    sample.positions.push_back(chosen);
  }
  std::sort(sample.positions.begin(), sample.positions.end());
  sample.token_indices.resize(n);
  std::iota(sample.token_indices.begin(), sample.token_indices.end(), 0);
  return sample;
}

Sample Sampler::draw_prefix(std::int64_t length) const {
  Sample sample;
  sample.positions.resize(length);
  std::iota(sample.positions.begin(), sample.positions.end(), 0);
  sample.token_indices = sample.positions;
  return sample;
}

util::Rng sampler_stream(std::uint64_t seed, std::uint64_t rank) {
  constexpr std::uint64_t kPositionsStream = 0x706f736974696f6eULL;  // "position"
  return util::Rng::derive(seed, kPositionsStream + rank);
}

void check_indices(const Sample& sample, std::int64_t window_length) {
  for (const std::int64_t index : sample.token_indices)
    CREAM_CHECK(index >= 0 && index < window_length,
                "positions: token index " + std::to_string(index) + " outside the window of " +
                    std::to_string(window_length) + " tokens");
}

}  // namespace cream::positions
