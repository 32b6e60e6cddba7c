// A small, portable pseudo-random generator: xoshiro256** seeded through
// splitmix64, with our own integer / real distributions. std:: distributions
// are avoided on purpose: their outputs are implementation-defined, and a run
// must be reproducible (and resumable) on any standard library.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace cream::util {

// splitmix64 step: advances `state` and returns the next output. Used to
// expand a seed into a full xoshiro state and to hash stream ids.
std::uint64_t splitmix64_next(std::uint64_t& state);

class Rng {
 public:
  using State = std::array<std::uint64_t, 4>;

  // Seeds the four state words with splitmix64(seed) outputs (never all zero).
  explicit Rng(std::uint64_t seed = 0);

  // An independent stream for (seed, stream_id): e.g. one per rank or per
  // purpose. Different stream ids give unrelated states for the same seed.
  static Rng derive(std::uint64_t seed, std::uint64_t stream_id);

  // Raw 64 random bits (xoshiro256**).
  std::uint64_t next_u64();

  // Uniform integer in [0, bound), unbiased (Lemire's multiply-and-reject).
  // bound must be > 0.
  std::uint64_t uniform_below(std::uint64_t bound);

  // Uniform integer in [lo, hi], both ends included; throws cream::Error if lo > hi.
  std::int64_t uniform_int(std::int64_t lo, std::int64_t hi);

  // Uniform real in [0, 1) with 53 random bits (all doubles k * 2^-53).
  double uniform01();

  // Standard normal (Box-Muller; consumes two uniforms, keeps no cached value
  // so that the whole generator state is the four words below).
  double normal();

  // True with probability p (p <= 0: never, p >= 1: always).
  bool bernoulli(double p) { return uniform01() < p; }

  // Save / restore: the stream continues exactly where it was.
  State state() const { return state_; }
  void set_state(const State& state);  // throws cream::Error on the all-zero state

  // The same state as text: four lowercase 16-digit hex words separated by ':'.
  std::string state_string() const;
  static Rng from_state_string(const std::string& text);  // throws cream::Error naming the text

 private:
  State state_{};
};

}  // namespace cream::util
