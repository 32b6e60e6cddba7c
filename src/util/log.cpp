#include "cream/util/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace cream::log {

spdlog::logger& get() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto made = spdlog::stderr_color_mt("cream");
    made->set_pattern("[%H:%M:%S] %^%l%$ %v");
    return made;
  }();
  return *logger;
}

}  // namespace cream::log
