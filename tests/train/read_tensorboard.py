"""Reads TensorBoard event files with tensorboard's own reader and prints the scalars.

Usage: read_tensorboard.py PATH   (an event file or a folder of them)

Prints one JSON object {tag: [[step, value], ...]} on stdout, in the order the
reader keeps them (it drops steps that a later SessionLog START makes stale).
Exit status 3 when the tensorboard package is missing, so that tests can skip.
"""

import json
import sys

try:
    from tensorboard.backend.event_processing import event_accumulator
except ImportError as error:
    print(f"tensorboard is not importable: {error}", file=sys.stderr)
    sys.exit(3)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    # size_guidance 0 = keep every event (the default samples 10000 per tag).
    accumulator = event_accumulator.EventAccumulator(
        sys.argv[1], size_guidance={event_accumulator.SCALARS: 0}
    )
    accumulator.Reload()
    scalars = {
        tag: [[event.step, event.value] for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }
    json.dump(scalars, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
