#include "cream/data/window_loader.h"

#include <algorithm>
#include <numeric>

#include "cream/util/error.h"
#include "cream/util/log.h"
#include "cream/util/rng.h"

namespace cream::data {

ShortDocs parse_short_docs(const std::string& name) {
  if (name == "pack") return ShortDocs::kPack;
  if (name == "skip") return ShortDocs::kSkip;
  throw Error("short_docs: unknown value '" + name + "' (expected pack or skip)");
}

std::string short_docs_name(ShortDocs mode) { return mode == ShortDocs::kPack ? "pack" : "skip"; }

WindowLoader::WindowLoader(const TokenDataset& dataset, WindowLoaderOptions options)
    : dataset_(dataset), options_(options) {
  const auto& o = options_;
  CREAM_CHECK(o.target_length > 0, "window loader: target length L must be positive");
  CREAM_CHECK(o.min_length > 0 && o.min_length <= o.target_length,
              "window loader: min length N must be in [1, L] (N = " + std::to_string(o.min_length) +
                  ", L = " + std::to_string(o.target_length) + ")");
  CREAM_CHECK(o.world_size >= 1 && o.rank >= 0 && o.rank < o.world_size,
              "window loader: rank " + std::to_string(o.rank) + " is not in [0, world_size = " +
                  std::to_string(o.world_size) + ")");
  build_plan();
  per_rank_ = plan_.size() / static_cast<uint64_t>(o.world_size);
  CREAM_CHECK(per_rank_ > 0, dataset.folder().string() + ": no training windows (" + std::to_string(plan_.size()) +
                                 " windows of at least N = " + std::to_string(o.min_length) + " tokens for " +
                                 std::to_string(o.world_size) + " rank(s))");
  shuffle_for_epoch();
  if (!o.log_plan) return;
  log::info("data {}: {} full windows (L = {}), {} short windows (N <= len < L), {} packed windows from {} short "
            "pieces, {} skipped pieces, {} tokens dropped; {} windows per epoch on rank {}/{}",
            dataset.folder().string(), counts_.full_windows, o.target_length, counts_.short_windows,
            counts_.packed_windows, counts_.packed_documents, counts_.skipped_documents, counts_.dropped_tokens,
            per_rank_, o.rank, o.world_size);
}

void WindowLoader::build_plan() {
  const uint64_t L = options_.target_length, N = options_.min_length;
  for (uint64_t doc = 0; doc < dataset_.num_documents(); ++doc) {
    const uint64_t start = dataset_.document_start(doc), length = dataset_.document_length(doc);
    const uint64_t full = length / L;
    for (uint64_t w = 0; w < full; ++w) plan_.push_back({start + w * L, L, WindowKind::kFull});
    counts_.full_windows += full;
    const uint64_t rest = length - full * L;
    if (rest >= N) {
      plan_.push_back({start + full * L, rest, WindowKind::kShort});
      ++counts_.short_windows;
    } else if (rest > 0) {
      add_short_piece(start + full * L, rest);
    }
  }
  finish_packing();
}

void WindowLoader::add_short_piece(uint64_t start, uint64_t length) {
  if (options_.short_docs == ShortDocs::kSkip) {
    ++counts_.skipped_documents;
    counts_.dropped_tokens += length;
    return;
  }
  pieces_.push_back({pack_stream_length_, start, length});
  pack_stream_length_ += length;
  ++counts_.packed_documents;
}

void WindowLoader::finish_packing() {
  const uint64_t L = options_.target_length;
  for (uint64_t offset = 0; offset < pack_stream_length_; offset += L) {
    const uint64_t length = std::min(L, pack_stream_length_ - offset);
    if (length < options_.min_length) {  // the tail of the stream is too short to train on
      counts_.dropped_tokens += length;
      break;
    }
    plan_.push_back({offset, length, WindowKind::kPacked});
    ++counts_.packed_windows;
  }
}

void WindowLoader::shuffle_for_epoch() {
  order_.resize(plan_.size());
  std::iota(order_.begin(), order_.end(), uint64_t(0));
  if (!options_.shuffle) return;
  // Fisher-Yates with our portable generator (std::shuffle's algorithm is unspecified),
  // one independent stream per epoch.
  auto rng = util::Rng::derive(options_.seed, epoch_);
  for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.uniform_below(i)]);
}

void WindowLoader::read_packed(uint64_t stream_offset, uint64_t length, int32_t* out) const {
  // The piece holding `stream_offset`: the last one starting at or before it.
  auto piece = std::upper_bound(pieces_.begin(), pieces_.end(), stream_offset,
                                [](uint64_t offset, const Piece& p) { return offset < p.stream_offset; }) - 1;
  while (length > 0) {
    const uint64_t inside = stream_offset - piece->stream_offset;
    const uint64_t take = std::min(length, piece->length - inside);
    dataset_.read_tokens(piece->start + inside, take, out);
    out += take;
    stream_offset += take;
    length -= take;
    ++piece;
  }
}

Window WindowLoader::next() {
  if (index_ == per_rank_) {
    ++epoch_;
    index_ = 0;
    shuffle_for_epoch();
  }
  const uint64_t position = index_ * static_cast<uint64_t>(options_.world_size) + static_cast<uint64_t>(options_.rank);
  const Span& span = plan_[order_[position]];
  Window window;
  window.kind = span.kind;
  window.epoch = epoch_;
  window.tokens.resize(span.length);
  if (span.kind == WindowKind::kPacked) read_packed(span.start, span.length, window.tokens.data());
  else dataset_.read_tokens(span.start, span.length, window.tokens.data());
  ++index_;
  return window;
}

nlohmann::json WindowLoader::state() const {
  return {{"epoch", epoch_},
          {"index", index_},
          {"seed", options_.seed},
          {"target_length", options_.target_length},
          {"min_length", options_.min_length},
          {"shuffle", options_.shuffle},
          {"short_docs", short_docs_name(options_.short_docs)},
          {"rank", options_.rank},
          {"world_size", options_.world_size},
          {"windows", plan_.size()},
          {"tokenizer_sha256", dataset_.manifest().tokenizer_sha256},
          {"tokens", dataset_.num_tokens()}};
}

void WindowLoader::restore(const nlohmann::json& saved) {
  const nlohmann::json current = state();
  CREAM_CHECK(saved.is_object(), "data loader state: not a JSON object");
  for (const auto& [key, value] : current.items()) {
    if (key == "epoch" || key == "index") continue;
    CREAM_CHECK(saved.contains(key), "data loader state: missing key '" + key + "'");
    CREAM_CHECK(saved.at(key) == value, "data loader state: '" + key + "' was " + saved.at(key).dump() +
                                            ", now " + value.dump() + " (cannot resume the same data order)");
  }
  for (const char* key : {"epoch", "index"})
    CREAM_CHECK(saved.contains(key) && saved.at(key).is_number_unsigned(),
                std::string("data loader state: '") + key + "' must be a non-negative integer");
  const uint64_t index = saved.at("index").get<uint64_t>();
  CREAM_CHECK(index <= per_rank_, "data loader state: index " + std::to_string(index) + " is past the epoch end (" +
                                      std::to_string(per_rank_) + ")");
  epoch_ = saved.at("epoch").get<uint64_t>();
  index_ = index;
  shuffle_for_epoch();
}

}  // namespace cream::data
