// The trainer's stop on SIGINT/SIGTERM is util's (include/cream/util/signals.h).
#pragma once

#include "cream/util/signals.h"

namespace cream::train {
using util::StopSignalGuard;
using util::stop_requested;
using util::stop_signal;
}  // namespace cream::train
