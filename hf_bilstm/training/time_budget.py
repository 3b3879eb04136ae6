"""`--max_train_seconds`: training that ends in time, with a usable model, instead of being killed mid-way.

Wall-clock limits are real (a benchmark's ten minutes, a job scheduler's slot); a process killed at the limit leaves
nothing. `TimeBudgetCallback` ends training early instead: at an epoch's end when the next epoch would not fit, or
at once when the budget is spent. The stopped run then goes on as usual (the epoch's evaluation and checkpoint, the
best one restored, the results and card), so what comes out is a complete model folder that says it was cut short.
"""

import time

from transformers import TrainerCallback

from ..errors import UsageError


class TimeBudgetCallback(TrainerCallback):
    """
    Stops the `Trainer` so that training ends within `seconds` of wall time from the start of `train()`.

    At each epoch's end the next epoch's cost is taken to be the last one's (evaluation included) and training
    stops when it would overrun; after any step, training stops once the budget is spent. `stopped` tells whether
    it intervened, `stopped_at_epoch` when.
    """

    def __init__(self, seconds: float):
        if not seconds > 0:
            raise ValueError(f"the time budget must be a positive number of seconds, but it was {seconds}.")
        self.seconds = float(seconds)
        self.stopped = False
        self.stopped_at_epoch = None
        self._started = self._epoch_ended = None
        self._last_epoch_seconds = 0.0

    def _stop(self, state, control) -> None:
        if not self.stopped:
            self.stopped, self.stopped_at_epoch = True, state.epoch
        control.should_training_stop = True

    def on_train_begin(self, args, state, control, **kwargs):
        self._started = self._epoch_ended = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() - self._started >= self.seconds:
            self._stop(state, control)

    def on_epoch_end(self, args, state, control, **kwargs):
        now = time.monotonic()
        # The epoch just ended is measured from the previous epoch's end, so it includes that epoch's evaluation.
        self._last_epoch_seconds = now - self._epoch_ended
        self._epoch_ended = now
        last_epoch = state.max_steps > 0 and state.global_step >= state.max_steps
        if not last_epoch and now - self._started + self._last_epoch_seconds > self.seconds:
            self._stop(state, control)

    def summary(self) -> dict:
        """What goes into the results: the budget and whether (and when) it stopped training."""
        return {"seconds": self.seconds, "stopped_training": self.stopped, "stopped_at_epoch": self.stopped_at_epoch}


def time_budget_from_flag(seconds: float | None) -> TimeBudgetCallback | None:
    """The callback for a `--max_train_seconds` value (None: none); a bad value is a usage error naming the flag."""
    if seconds is None:
        return None
    try:
        return TimeBudgetCallback(seconds)
    except ValueError as error:
        raise UsageError(f"--max_train_seconds: {error}") from error


def overshoot_line(command: str, seconds: float, budget: float | None, bounded: str) -> str | None:
    """The warning for a run that took longer than its budget (None when it kept it): what the budget bounds, so that
    the user knows where the rest went. `bounded` names the phases the budget stops."""
    if budget is None or seconds <= budget:
        return None
    return (
        f"{command}: warning: the run took {seconds:.0f} s, {seconds - budget:.0f} s over its time budget of "
        f"{budget:g} s (--max_train_seconds). The budget stops {bounded}; loading, tokenizing, the final evaluation "
        "and saving are not stopped. Give a larger budget, or fewer rows (--max_train_samples)."
    )
