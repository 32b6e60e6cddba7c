// A small, fully specified PRNG and shuffle, so window orders are identical on
// every platform and standard library (std::shuffle's algorithm is unspecified).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace cream::data {

// splitmix64 step: used to expand seeds into generator states.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman & Vigna).
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed) {
    for (auto& word : s_) word = splitmix64(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, bound), bound > 0, without modulo bias (rejection sampling).
  uint64_t below(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;  // largest multiple of bound
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % bound;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// The seed of epoch `epoch` derived from the run seed (distinct streams per epoch).
inline uint64_t epoch_seed(uint64_t seed, uint64_t epoch) {
  uint64_t state = seed;
  const uint64_t a = splitmix64(state);
  state = a ^ (epoch * 0xd1b54a32d192ed03ULL + 0x632be59bd9b4e019ULL);
  return splitmix64(state);
}

// Fisher-Yates: a uniformly random permutation of `items`.
template <typename T>
void fisher_yates(std::vector<T>& items, Xoshiro256& rng) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng.below(i)]);
}

}  // namespace cream::data
