#include "cli_common.h"

#include <sstream>

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include "cream/train/device.h"
#include "cream/train/run_folder.h"
#include "cream/util/error.h"
#include "cream/util/log.h"
#include "cream/util/parse.h"

namespace cream::cli {

io::DType parse_float_dtype(const std::string& text, const std::string& flag) {
  if (text == "fp32" || text == "float32" || text == "f32") return io::DType::F32;
  if (text == "bf16" || text == "bfloat16") return io::DType::BF16;
  if (text == "fp16" || text == "float16" || text == "f16") return io::DType::F16;
  throw Error(flag + ": unknown dtype '" + text + "' (expected fp32, bf16 or fp16)");
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& flag) {
  std::string spaced = text;
  for (auto& c : spaced)
    if (c == ',') c = ' ';
  std::istringstream in(spaced);
  std::vector<int64_t> values;
  std::string item;
  while (in >> item) {
    const auto value = util::parse_integer(item);
    CREAM_CHECK(value.has_value(), flag + ": '" + item + "' is not an integer");
    values.push_back(*value);
  }
  CREAM_CHECK(!values.empty(), flag + ": expected at least one integer");
  return values;
}

// The device words of model.device (auto, cpu, cuda: cuda:LOCAL_RANK under a launcher),
// plus cuda:N to name one GPU of several; every command reads them the same way.
c10::Device parse_device(const std::string& text, const std::string& flag) {
  if (text == "auto" || text == "cpu" || text == "cuda")
    return train::select_device(
        text == "auto" ? config::Device::auto_select : text == "cpu" ? config::Device::cpu : config::Device::cuda, flag);
  try {
    c10::Device device(text);
    CREAM_CHECK(!device.is_cuda() || torch::cuda::is_available(),
                flag + ": '" + text + "' requested but this process sees no CUDA GPU");
    return device;
  } catch (const c10::Error&) {
    throw Error(flag + ": unknown device '" + text + "' (expected auto, cpu, cuda or cuda:N)");
  }
}

void set_threads(int threads) {
  if (threads > 0) at::set_num_threads(threads);
}

std::string resolve_model_folder(const std::string& path, const std::string& flag) {
  return train::resolve_run_folder(path, flag);
}

}  // namespace cream::cli
