// Serves training windows cut from a prepared TokenDataset, in a deterministic
// order given by a seed, with a cursor that can be saved and restored.
//
// Window plan (fixed for a dataset and options, built once):
//  * A document with |D| >= L yields floor(|D| / L) consecutive FULL windows of
//    exactly L tokens. Its remainder R = |D| mod L is served as a SHORT window
//    when R >= N (the sampler then uses docs/method.md's N <= |D| < L fallback);
//    a remainder 0 < R < N is treated like a short document (below).
//  * A document with N <= |D| < L is one SHORT window (the whole document).
//  * Documents (and remainders) with |D| < N: short_docs = pack concatenates them,
//    in dataset order, into a stream cut into PACKED windows of exactly L tokens
//    (every document brings its own BOS from prepare; a document may straddle two
//    packed windows). The final piece of the stream is served as one more packed
//    window if it has >= N tokens, else dropped. short_docs = skip drops them.
// Order: every epoch is a permutation of all windows (Fisher-Yates with a
// xoshiro256** generator seeded from (seed, epoch)), or the plan order when
// shuffle is off. Ranks take every world_size-th window of that order
// (rank, rank + W, ...); the last (windows mod W) of each epoch are dropped so
// every rank serves the same number of windows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cream/data/token_dataset.h"

namespace cream::data {

enum class ShortDocs { kPack, kSkip };
ShortDocs parse_short_docs(const std::string& name);  // "pack" | "skip"
std::string short_docs_name(ShortDocs mode);

enum class WindowKind { kFull, kShort, kPacked };

struct WindowLoaderOptions {
  uint64_t target_length = 0;  // L
  uint64_t min_length = 0;     // N (<= L)
  uint64_t seed = 0;
  bool shuffle = true;
  ShortDocs short_docs = ShortDocs::kPack;
  int rank = 0;
  int world_size = 1;
  bool log_plan = true;  // log the window counts once at construction
};

// What the plan made of the dataset (all ranks together).
struct WindowCounts {
  uint64_t full_windows = 0;
  uint64_t short_windows = 0;
  uint64_t packed_windows = 0;
  uint64_t packed_documents = 0;   // short documents/remainders that went into packing
  uint64_t skipped_documents = 0;  // short documents/remainders dropped (skip mode)
  uint64_t dropped_tokens = 0;     // tokens in skipped pieces and in a final pack piece < N
  uint64_t total_windows() const { return full_windows + short_windows + packed_windows; }
};

struct Window {
  std::vector<int32_t> tokens;
  WindowKind kind = WindowKind::kFull;
  uint64_t epoch = 0;
};

class WindowLoader {
 public:
  // `dataset` must outlive the loader. Throws when the options are invalid or the
  // dataset yields no window for this rank.
  WindowLoader(const TokenDataset& dataset, WindowLoaderOptions options);

  // The next window for this rank; moves to the next epoch (reshuffled) at the end.
  Window next();

  const WindowCounts& counts() const { return counts_; }
  uint64_t windows_per_epoch() const { return per_rank_; }  // for this rank
  uint64_t epoch() const { return epoch_; }
  uint64_t index() const { return index_; }  // position within this rank's epoch

  // The cursor (epoch, index) plus what must match to resume: seed, lengths,
  // shuffle, short_docs, rank, world_size, and the window count.
  nlohmann::json state() const;
  // Restores a cursor saved by state(); refuses one from different options or data.
  void restore(const nlohmann::json& state);

 private:
  struct Span {           // a window in the plan
    uint64_t start;       // global token offset (full/short) or pack-stream offset (packed)
    uint64_t length;
    WindowKind kind;
  };
  struct Piece {          // a short document or remainder inside the pack stream
    uint64_t stream_offset;
    uint64_t start;       // global token offset
    uint64_t length;
  };

  void build_plan();
  void add_short_piece(uint64_t start, uint64_t length);
  void finish_packing();
  void shuffle_for_epoch();
  void read_packed(uint64_t stream_offset, uint64_t length, int32_t* out) const;

  const TokenDataset& dataset_;
  WindowLoaderOptions options_;
  WindowCounts counts_;
  std::vector<Span> plan_;
  std::vector<Piece> pieces_;
  uint64_t pack_stream_length_ = 0;
  std::vector<uint64_t> order_;  // permutation of plan_ for the current epoch
  uint64_t per_rank_ = 0;
  uint64_t epoch_ = 0;
  uint64_t index_ = 0;
};

}  // namespace cream::data
