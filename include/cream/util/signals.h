// Graceful stop on SIGINT/SIGTERM: the first signal asks the long-running work to
// stop at its next boundary (the trainer saves a checkpoint after the step; an eval
// writes the results so far, marked partial); a second one exits immediately.
#pragma once

#include <csignal>

namespace cream::util {

// Installs the handlers for its lifetime and restores the previous ones on
// destruction. Signal handlers are process-wide, so at most one guard may be alive
// at a time (a second throws cream::Error). Constructing a guard clears the flag.
class StopSignalGuard {
 public:
  StopSignalGuard();
  ~StopSignalGuard();
  StopSignalGuard(const StopSignalGuard&) = delete;
  StopSignalGuard& operator=(const StopSignalGuard&) = delete;

  // Exit status used when a second signal forces an immediate exit: 128 + signal.
  static int forced_exit_status(int signal_number) { return 128 + signal_number; }

 private:
  struct sigaction previous_int_;
  struct sigaction previous_term_;
};

// True once SIGINT or SIGTERM arrived while a StopSignalGuard was alive.
bool stop_requested();

// The signal that requested the stop (0 if none).
int stop_signal();

}  // namespace cream::util
