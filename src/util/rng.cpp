#include "cream/util/rng.h"

#include <cmath>
#include <cstdio>

#include "cream/util/error.h"

namespace cream::util {
namespace {

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// High and low halves of the 128-bit product a*b.
void multiply_128(std::uint64_t a, std::uint64_t b, std::uint64_t& high, std::uint64_t& low) {
#if defined(__SIZEOF_INT128__)
  const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
  high = static_cast<std::uint64_t>(product >> 64);
  low = static_cast<std::uint64_t>(product);
#else
  const std::uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
  const std::uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
  const std::uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo;
  const std::uint64_t lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
  const std::uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
  high = hi_hi + (hi_lo >> 32) + (cross >> 32);
  low = (cross << 32) | (lo_lo & 0xffffffffu);
#endif
}

bool all_zero(const Rng::State& s) { return (s[0] | s[1] | s[2] | s[3]) == 0; }

}  // namespace

std::uint64_t splitmix64_next(std::uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Rng::Rng(std::uint64_t seed) {
  std::uint64_t sm = seed;
  for (auto& word : state_) word = splitmix64_next(sm);
  // splitmix64 is a bijection of its counter, four consecutive outputs are
  // never all zero; keep the guard for clarity.
  if (all_zero(state_)) state_[0] = 1;
}

Rng Rng::derive(std::uint64_t seed, std::uint64_t stream_id) {
  // Hash the stream id separately, then mix it into the seed before expansion,
  // so (seed, id) and (seed + 1, id - 1) do not collide.
  std::uint64_t id_state = stream_id ^ 0x6a09e667f3bcc909ULL;
  const std::uint64_t id_hash = splitmix64_next(id_state);
  std::uint64_t seed_state = seed;
  const std::uint64_t seed_hash = splitmix64_next(seed_state);
  return Rng(seed_hash ^ rotl(id_hash, 23) ^ (id_hash >> 7));
}

std::uint64_t Rng::next_u64() {
  auto& s = state_;
  const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
  const std::uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

std::uint64_t Rng::uniform_below(std::uint64_t bound) {
  CREAM_CHECK(bound > 0, "Rng::uniform_below: bound must be positive");
  // Lemire: the high word of x*bound is uniform on [0, bound) once the low
  // words that fall in the short first stripe (2^64 mod bound) are rejected.
  std::uint64_t high = 0, low = 0;
  multiply_128(next_u64(), bound, high, low);
  if (low < bound) {
    const std::uint64_t threshold = (0 - bound) % bound;  // 2^64 mod bound
    while (low < threshold) multiply_128(next_u64(), bound, high, low);
  }
  return high;
}

std::int64_t Rng::uniform_int(std::int64_t lo, std::int64_t hi) {
  CREAM_CHECK(lo <= hi, "Rng::uniform_int: empty range [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "]");
  const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
  const std::uint64_t offset = span == UINT64_MAX ? next_u64() : uniform_below(span + 1);
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + offset);
}

double Rng::uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Rng::normal() {
  const double u1 = 1.0 - uniform01();  // (0, 1]: log is finite
  const double u2 = uniform01();
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

void Rng::set_state(const State& state) {
  CREAM_CHECK(!all_zero(state), "Rng::set_state: the all-zero state is invalid for xoshiro256**");
  state_ = state;
}

std::string Rng::state_string() const {
  std::string text;
  char word[17];
  for (std::size_t i = 0; i < state_.size(); ++i) {
    std::snprintf(word, sizeof word, "%016llx", static_cast<unsigned long long>(state_[i]));
    if (i) text += ':';
    text += word;
  }
  return text;
}

Rng Rng::from_state_string(const std::string& text) {
  const std::string error = "invalid rng state '" + text + "' (expected 4 hex words separated by ':')";
  State state{};
  std::size_t pos = 0;
  for (std::size_t i = 0; i < state.size(); ++i) {
    const std::size_t end = i + 1 < state.size() ? text.find(':', pos) : text.size();
    CREAM_CHECK(end != std::string::npos && end > pos && end - pos <= 16, error);
    std::uint64_t value = 0;
    for (std::size_t c = pos; c < end; ++c) {
      const char ch = text[c];
      int digit = -1;
      if (ch >= '0' && ch <= '9') digit = ch - '0';
      if (ch >= 'a' && ch <= 'f') digit = ch - 'a' + 10;
      if (ch >= 'A' && ch <= 'F') digit = ch - 'A' + 10;
      CREAM_CHECK(digit >= 0, error);
      value = (value << 4) | static_cast<std::uint64_t>(digit);
    }
    state[i] = value;
    pos = end + 1;
  }
  CREAM_CHECK(!all_zero(state), error + ": all-zero state");
  Rng rng;
  rng.set_state(state);
  return rng;
}

}  // namespace cream::util
