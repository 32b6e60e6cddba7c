// Logging: one process-wide spdlog logger named "cream" writing to stderr.
//
// Messages are formatted here, with whichever {fmt} the including file sees, and
// only the finished text crosses into util/log.cpp, the one file that includes
// spdlog. Why: files that include LibTorch see the {fmt} 12 bundled in the torch
// wheel's headers, while Debian's spdlog is built against Debian's {fmt} 9; the two
// live in different inline namespaces (fmt::v12 / fmt::v9), so keeping spdlog's
// headers out of LibTorch files is all it takes. FMT_HEADER_ONLY (set by CMake for
// every target) means neither needs a {fmt} library at link time.
#pragma once

#include <chrono>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace cream::log {

void write_info(const std::string& message);
void write_warn(const std::string& message);

// One process of several: its lines start with `label` ("rank 1"), and with
// quiet_info its info lines are dropped (rank 0 speaks for the run; warnings and
// errors of every rank still show).
void set_process_label(const std::string& label, bool quiet_info);

// While a command checks its inputs, its info lines are held back: an error then
// comes out as the one line on stderr, with nothing before it (main drops the held
// lines). release_info() prints them, with their own timestamps, once the command
// is under way; so does the first info line after `at_most`, so that a slow start
// (a 7B load) still shows its progress.
void hold_info(std::chrono::seconds at_most);
void release_info();
void drop_held_info();

template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
  write_info(fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> format, Args&&... args) {
  write_warn(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace cream::log
