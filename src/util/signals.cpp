#include "cream/util/signals.h"

#include <atomic>
#include <cstring>

#include <unistd.h>

#include "cream/util/error.h"

namespace cream::util {
namespace {

// Process-wide by nature: a signal handler can reach nothing else. Lock-free
// atomics are async-signal-safe.
std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_guard_alive{false};
static_assert(std::atomic<int>::is_always_lock_free, "signal flag must be lock-free");

extern "C" void handle_stop_signal(int signal_number) {
  int expected = 0;
  if (g_stop_signal.compare_exchange_strong(expected, signal_number)) {
    static const char kMessage[] =
        "\ncream: stop requested; saving a checkpoint at the next step (signal again to exit now)\n";
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    return;
  }
  static const char kExitMessage[] = "\ncream: second signal, exiting without saving\n";
  [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, kExitMessage, sizeof kExitMessage - 1);
  ::_exit(StopSignalGuard::forced_exit_status(signal_number));
}

void install(int signal_number, struct sigaction* previous) {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = handle_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // blocking reads (data loader) resume after the flag is set
  CREAM_CHECK(::sigaction(signal_number, &action, previous) == 0,
              "cannot install the handler for signal " + std::to_string(signal_number));
}

}  // namespace

StopSignalGuard::StopSignalGuard() {
  bool expected = false;
  CREAM_CHECK(g_guard_alive.compare_exchange_strong(expected, true),
              "internal: a StopSignalGuard is already installed");
  g_stop_signal.store(0);
  try {
    install(SIGINT, &previous_int_);
  } catch (...) {
    g_guard_alive.store(false);
    throw;
  }
  try {
    install(SIGTERM, &previous_term_);
  } catch (...) {
    ::sigaction(SIGINT, &previous_int_, nullptr);
    g_guard_alive.store(false);
    throw;
  }
}

StopSignalGuard::~StopSignalGuard() {
  ::sigaction(SIGTERM, &previous_term_, nullptr);
  ::sigaction(SIGINT, &previous_int_, nullptr);
  g_guard_alive.store(false);
}

bool stop_requested() { return g_stop_signal.load() != 0; }

int stop_signal() { return g_stop_signal.load(); }

}  // namespace cream::util
