// Logging: spdlog, one process-wide logger named "cream" writing to stderr.
#pragma once

#include <spdlog/spdlog.h>

namespace cream::log {

// Returns the shared logger (created on first use, pattern "[time] level msg").
spdlog::logger& get();

template <typename... Args>
void info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  get().info(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  get().warn(fmt, std::forward<Args>(args)...);
}

}  // namespace cream::log
