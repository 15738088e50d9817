"""Run the command line, killing its own process at a chosen point of training: the resume tests' `kill -9`.

    python tests/interrupt.py --kill-after-epoch 2 -- train --variant bn ...   # between epochs 2 and 3
    python tests/interrupt.py --kill-after-step 7 -- train --variant bn ...    # in the middle of an epoch
    python tests/interrupt.py --interrupt-after-step 7 -- lab ...              # Ctrl-C (SIGINT) instead
    python tests/interrupt.py --hold-after-epoch 1 -- train ...    # print "holding", then wait to be killed

SIGKILL ends the process at once, as `kill -9` does: no Python cleanup, no exception handler, files
left as they are. The point is reached through Keras' own callback hooks, so the product's code
is unchanged; steps count from 1 over the whole process (every fit of `lab` or `tune`).
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as the command line sets it

import train_keras  # noqa: E402  (first, as in a plain run: keras_cnn sets TensorFlow's environment before the import)
from keras_cnn import console  # noqa: E402

console.import_tensorflow_quietly()
import keras  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    point = parser.add_mutually_exclusive_group(required=True)
    point.add_argument("--kill-after-epoch", type=int, metavar="N", help="SIGKILL once epoch N (from 1) is saved")
    point.add_argument("--kill-after-step", type=int, metavar="N", help="SIGKILL after the N-th training step")
    point.add_argument("--interrupt-after-step", type=int, metavar="N",
                       help="SIGINT (Ctrl-C) after the N-th training step")
    point.add_argument("--hold-after-epoch", type=int, metavar="N",
                       help="once epoch N is saved, print 'holding' and wait (a run still at work, its folder locked)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the arguments of train_keras.py")
    args = parser.parse_args()
    # A terminal's Ctrl-C reaches Python's handler; a process started in the background of a non-interactive
    # shell inherits SIGINT ignored (../shared/PITFALLS.md), so restore the handler a terminal would give.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    steps = {"done": 0}
    callbacks = keras.callbacks.CallbackList
    on_epoch_end, on_train_batch_end = callbacks.on_epoch_end, callbacks.on_train_batch_end

    def epoch_end(self, epoch, logs=None):
        on_epoch_end(self, epoch, logs)  # every callback has run: the epoch is saved
        if args.kill_after_epoch == epoch + 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if args.hold_after_epoch == epoch + 1:
            print("holding", flush=True)
            time.sleep(600)

    def train_batch_end(self, batch, logs=None):
        on_train_batch_end(self, batch, logs)
        steps["done"] += 1
        if steps["done"] == args.kill_after_step:
            os.kill(os.getpid(), signal.SIGKILL)
        if steps["done"] == args.interrupt_after_step:
            os.kill(os.getpid(), signal.SIGINT)

    callbacks.on_epoch_end, callbacks.on_train_batch_end = epoch_end, train_batch_end
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return train_keras.main(command)


if __name__ == "__main__":
    sys.exit(main())
