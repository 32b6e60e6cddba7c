#include "cream/train/batch.h"

#include <string>

#include "cream/util/error.h"

namespace cream::train {

torch::Tensor stack_rows(const std::vector<std::vector<int64_t>>& rows, const torch::Device& device) {
  CREAM_CHECK(!rows.empty(), "stack_rows: no rows");
  const auto length = static_cast<int64_t>(rows.front().size());
  auto out = torch::empty({static_cast<int64_t>(rows.size()), length}, torch::kLong);
  auto* data = out.data_ptr<int64_t>();
  for (size_t r = 0; r < rows.size(); ++r) {
    CREAM_CHECK(static_cast<int64_t>(rows[r].size()) == length,
                "stack_rows: row " + std::to_string(r) + " has " + std::to_string(rows[r].size()) +
                    " items, expected " + std::to_string(length));
    std::copy(rows[r].begin(), rows[r].end(), data + r * length);
  }
  if (!device.is_cuda()) return out.to(device);
  // Pinned host memory lets the copy run asynchronously: the host goes on preparing the
  // next micro-batch while the device still computes (no sync per batch).
  return out.pin_memory().to(device, /*non_blocking=*/true);
}

namespace {

// Ids and positions are checked here, on the host, so the model need not read them
// back from the device (a sync per micro-batch).
void check_row(const std::vector<int64_t>& tokens, const std::vector<int64_t>& positions, int64_t vocab) {
  for (const int64_t id : tokens)
    CREAM_CHECK(id >= 0 && (vocab <= 0 || id < vocab),
                "batch: token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  for (const int64_t position : positions)
    CREAM_CHECK(position >= 0, "batch: position id " + std::to_string(position) + " is negative");
}

}  // namespace

MicroBatch next_micro_batch(BatchSource& source, int64_t batch_size, const torch::Device& device) {
  std::vector<std::vector<int64_t>> tokens, positions;
  tokens.reserve(batch_size);
  positions.reserve(batch_size);
  for (int64_t b = 0; b < batch_size; ++b) {
    const data::Window window = source.loader.next();
    const auto sample = source.sampler.draw(static_cast<int64_t>(window.tokens.size()), source.rng);
    const auto gathered = positions::gather(window.tokens, sample);
    tokens.emplace_back(gathered.begin(), gathered.end());
    positions.push_back(sample.positions);
    check_row(tokens.back(), positions.back(), source.vocab_size);
  }
  MicroBatch batch;
  batch.tokens = stack_rows(tokens, device);
  batch.positions = stack_rows(positions, device);
  batch.label_count = batch_size * (batch.tokens.size(1) - 1);
  return batch;
}

}  // namespace cream::train
