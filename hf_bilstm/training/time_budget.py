"""`--max_train_seconds`: a run that ends in time, with a usable model, instead of being killed mid-way.

Wall-clock limits are real (a benchmark's ten minutes, a job scheduler's slot); a process killed at the limit leaves
nothing. The budget is the whole command's, from its start: what loading and tokenizing took is spent before training
begins, word vectors get a share of what is left, and training gets the rest less an estimate of the final reading of
validation and test (measured on the per-epoch validation, or from the training speed before it). `TimeBudgetCallback`
ends training early: at an epoch's end when the next epoch would not fit, or at once when the time is spent. The
stopped run then goes on as usual (the epoch's evaluation and checkpoint, the best one restored, the results and
card), so what comes out is a complete model folder that says it was cut short.

With `fit_schedule=True` (`--fit_schedule_to_budget`; the student of `--preset cpu-taught`) the learning-rate schedule
is laid over the budget instead of over the planned steps: its progress is the larger of the steps done and the time
spent, so warmup and decay end when the time does, on a fast machine after all planned epochs and on a slow or busy one
part-way, with the rate decayed either way. A run cut short without it stops at whatever rate it had reached.
"""

import math
import time

from transformers import TrainerCallback

from ..errors import UsageError
from ..logs import get_logger

logger = get_logger(__name__)

# The smallest --max_train_seconds worth starting (refused up front below it): a single run loads the data, trains a
# tokenizer, takes a step, evaluates and saves; `--preset cpu-best` does that for its teachers and its student.
MINIMUM_SECONDS = 10.0
RECIPE_MINIMUM_SECONDS = 30.0
# Reading a token to evaluate costs about this share of training on it (a forward pass without gradients, in larger
# batches): before the first evaluation is measured, the final reading is estimated from the training speed with it.
EVALUATION_COST_SHARE = 0.5
# What training is given when loading has spent the whole budget already: it stops after its first step.
LEAST_TRAINING_SECONDS = 1e-3
# The schedules `fit_schedule` lays over the time budget (each with the run's warmup first).
FITTED_SCHEDULES = ("cosine", "linear", "constant_with_warmup", "constant")


def check_budget_size(seconds: float | None, recipe: bool = False) -> None:
    """A budget too small for any useful work is refused before any work, naming the minimum (`recipe`: the
    phases of `--preset cpu-best`)."""
    minimum = RECIPE_MINIMUM_SECONDS if recipe else MINIMUM_SECONDS
    if seconds is not None and seconds < minimum:
        what = "a taught recipe (teacher, soft labels, student)" if recipe else "a training run"
        raise UsageError(
            f"--max_train_seconds {seconds:g} is below the {minimum:g} s that {what} needs at the least (loading and "
            f"tokenizing, training, the final evaluation, saving); give --max_train_seconds {minimum:g} or more, or "
            "leave it out for no budget."
        )


class TimeBudgetCallback(TrainerCallback):
    """
    Stops the `Trainer` so that training, and the reading of validation and test after it, end within `seconds` of
    wall time from the start of `train()`.

    Reading after training (`final_tokens`: the final validation and test passes) and the epoch-end validation a
    stopped epoch still runs (`evaluation_tokens`) are reserved at the measured cost of a validation token (after
    the first per-epoch evaluation), or before that at `EVALUATION_COST_SHARE` of the measured cost of a training token
    (`train_tokens` per epoch) on the steps after the first (which carries the start-up and, with length grouping,
    the longest batch); `reserve_seconds` is kept on top (a final evaluation already measured). At each
    epoch's end the next epoch's cost is taken to be the last one's (evaluation included) and training stops when it
    and the reserve would overrun; after any step, training stops once only the reserve is left. `budget` and
    `spent_before` (the run's whole budget and what loading spent of it) only go into `summary()`. `stopped` tells
    whether it intervened, `stopped_at_epoch` when.
    """

    def __init__(self, seconds: float, train_tokens: int = 0, evaluation_tokens: int = 0, final_tokens: int = 0,
                 budget: float | None = None, spent_before: float = 0.0, reserve_seconds: float = 0.0,
                 fit_schedule: bool = False):  # fmt: skip
        if not seconds > 0:
            raise ValueError(f"the time budget must be a positive number of seconds, but it was {seconds}.")
        self.seconds = float(seconds)
        self.fit_schedule = fit_schedule
        self._schedule = None  # (shape, warmup share, planned steps) once the schedule is fitted
        self.train_tokens, self.evaluation_tokens, self.final_tokens = train_tokens, evaluation_tokens, final_tokens
        self.budget = self.seconds if budget is None else float(budget)
        self.spent_before, self.reserve_seconds = spent_before, reserve_seconds
        self.stopped = False
        self.stopped_at_epoch = None
        self.reserved = reserve_seconds  # the last estimate of the reading after training (seconds)
        self._started = self._epoch_ended = self._last_event = None
        self._last_epoch_seconds = 0.0
        self._seconds_per_evaluated_token = None  # measured on a per-epoch evaluation
        self._first_step = None  # (time, epoch) at the end of the first step: the training speed is measured after it
        self._evaluated_in_last_epoch = False

    def _stop(self, state, control) -> None:
        if not self.stopped:
            self.stopped, self.stopped_at_epoch = True, state.epoch
        control.should_training_stop = True

    def _seconds_per_read_token(self, state, now: float) -> float:
        if self._seconds_per_evaluated_token is not None:
            return self._seconds_per_evaluated_token
        if self.train_tokens and self._first_step is not None:
            since, first_epoch = self._first_step
            epochs = (state.epoch or 0.0) - (first_epoch or 0.0)
            if epochs > 0:
                return EVALUATION_COST_SHARE * (now - since) / (epochs * self.train_tokens)
        return 0.0

    def reserve(self, state, now: float) -> float:
        """Seconds to keep for the epoch-end validation of a stopped epoch and the final reading of validation and
        test, at the cost per token measured so far (nothing yet on the first step: it measures no speed)."""
        read = self.evaluation_tokens + self.final_tokens
        self.reserved = self.reserve_seconds + self._seconds_per_read_token(state, now) * read
        return self.reserved

    def on_train_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        self._started = self._epoch_ended = self._last_event = time.monotonic()
        if self.fit_schedule:
            self._fit_schedule(args, state, lr_scheduler)

    def progress(self, step: int) -> float:
        """How far training is, 0 to 1: the larger of the planned steps done and the time spent of what training
        has (the budget less the reading reserved after it)."""
        shape, warmup, planned = self._schedule
        by_steps = step / planned if planned > 0 else 0.0
        available = max(self.seconds - self.reserved, 1e-9)
        return min(max(by_steps, (time.monotonic() - self._started) / available), 1.0)

    def schedule_factor(self, step: int) -> float:
        """The learning rate's share of its peak at `step`: linear warmup, then the schedule's decay, over
        `progress`."""
        shape, warmup, _ = self._schedule
        p = self.progress(step)
        if p < warmup:
            return p / warmup
        if shape == "constant_with_warmup":
            return 1.0
        rest = (p - warmup) / max(1.0 - warmup, 1e-9)
        if shape == "linear":
            return max(0.0, 1.0 - rest)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * rest)))  # cosine

    def _fit_schedule(self, args, state, lr_scheduler) -> None:
        shape = str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type))
        if shape not in FITTED_SCHEDULES:
            raise UsageError(
                f"--fit_schedule_to_budget lays a {'/'.join(FITTED_SCHEDULES)} schedule over the time budget, not "
                f"--lr_scheduler_type {shape}; choose one of those."
            )
        if not hasattr(lr_scheduler, "lr_lambdas"):  # a scheduler of the user's own (Trainer's optimizers=)
            raise UsageError("--fit_schedule_to_budget needs the Trainer's own learning-rate scheduler.")
        planned = max(state.max_steps, 1)
        warmup = min(args.get_warmup_steps(planned) / planned, 0.5) if shape != "constant" else 0.0
        self._schedule = (shape, warmup, planned)
        lr_scheduler.lr_lambdas = [self.schedule_factor for _ in lr_scheduler.lr_lambdas]
        for group, base in zip(lr_scheduler.optimizer.param_groups, lr_scheduler.base_lrs):
            group["lr"] = base * self.schedule_factor(0)
        lr_scheduler._last_lr = [group["lr"] for group in lr_scheduler.optimizer.param_groups]  # what it reports

    def on_step_end(self, args, state, control, **kwargs):
        now = self._last_event = time.monotonic()
        if self._first_step is None:
            self._first_step = (now, state.epoch)
        if now - self._started + self.reserve(state, now) >= self.seconds:
            self._stop(state, control)

    def on_evaluate(self, args, state, control, **kwargs):
        # A per-epoch (or per-steps) evaluation runs right after the step or epoch end that asked for it.
        if self._started is None or self._last_event is None or not self.evaluation_tokens:
            return
        self._seconds_per_evaluated_token = (time.monotonic() - self._last_event) / self.evaluation_tokens
        self._evaluated_in_last_epoch = True
        self._last_event = None  # one measurement per evaluation

    def on_epoch_end(self, args, state, control, **kwargs):
        now = self._last_event = time.monotonic()
        elapsed = now - self._started
        # The epoch just ended is measured from the previous epoch's end, so it includes that epoch's evaluation;
        # the first epoch had none before it, so one evaluation's estimate is added to it.
        self._last_epoch_seconds = now - self._epoch_ended
        next_epoch = self._last_epoch_seconds
        if not self._evaluated_in_last_epoch:
            next_epoch += self._seconds_per_read_token(state, now) * self.evaluation_tokens
        self._evaluated_in_last_epoch = False
        self._epoch_ended = now
        last_epoch = state.max_steps > 0 and state.global_step >= state.max_steps
        # A fitted schedule ends on time by itself, its rate decayed: the next epoch starts even if it won't finish.
        if self.fit_schedule:
            self.reserve(state, now)
            return
        if not last_epoch and elapsed + next_epoch + self.reserve(state, now) > self.seconds:
            self._stop(state, control)

    def summary(self) -> dict:
        """What goes into the results: the budget, how it was shared, and whether (and when) it stopped training."""
        return {
            "seconds": round(self.budget, 2),
            # Milliseconds: a small run's loading on a fast CPU takes less than the 0.05 s that one decimal would show.
            "spent_before_training_seconds": round(self.spent_before, 3),
            "training_seconds": round(self.seconds, 3),
            "reserved_for_final_evaluation_seconds": round(self.reserved, 3),
            "stopped_training": self.stopped,
            "stopped_at_epoch": self.stopped_at_epoch,
            "schedule_fitted_to_budget": self.fit_schedule,
        }


def time_budget_left(
    budget: float | None, spent: float, fit_schedule: bool = False, **reading
) -> TimeBudgetCallback | None:
    """
    The callback of a `--max_train_seconds` budget (None without one) of which `spent` seconds went before training
    (loading, tokenizing, word vectors): training gets the rest, less the reading after it (`reading`: the token
    counts and `reserve_seconds` of `TimeBudgetCallback`). When nothing is left, training stops after its first step
    and says so.
    """
    if budget is None:
        return None
    left = budget - spent
    if left < LEAST_TRAINING_SECONDS:
        logger.warning(
            f"loading and tokenizing took {spent:.0f} s of the {budget:g} s time budget (--max_train_seconds): "
            "training stops after its first step."
        )
    else:
        logger.info(
            f"time budget {budget:g} s (--max_train_seconds): {spent:.0f} s spent before training (loading, "
            f"tokenizing, word vectors); training gets {left:.0f} s, less the final evaluation's (estimated)"
        )
    return TimeBudgetCallback(
        max(left, LEAST_TRAINING_SECONDS), budget=budget, spent_before=spent, fit_schedule=fit_schedule, **reading
    )


def reading_tokens(encoded: dict, predict=None, evaluates_per_epoch: bool = True) -> dict:
    """The token counts `TimeBudgetCallback` reserves reading for: a stopped epoch's validation (when validation runs
    per epoch) and the final validation, test and prediction passes (`length` columns of the encoded splits)."""

    def tokens(dataset) -> int:
        return int(sum(dataset["length"])) if dataset is not None and len(dataset) else 0

    validation = tokens(encoded.get("validation"))
    return {
        "evaluation_tokens": validation if evaluates_per_epoch else 0,
        "final_tokens": validation + tokens(encoded.get("test")) + tokens(predict),
    }


def figures(callback: TimeBudgetCallback | None) -> dict:
    """The budget's figures for the training results (all_results.json): how it was shared."""
    if callback is None:
        return {}
    summary = callback.summary()
    return {
        "time_budget_seconds": summary["seconds"],
        "time_budget_training_seconds": summary["training_seconds"],
        "time_budget_reserved_seconds": summary["reserved_for_final_evaluation_seconds"],
        "time_budget_schedule_fitted": summary["schedule_fitted_to_budget"],
    }


def overshoot_line(
    command: str, seconds: float, budget: float | None, bounded: str, rest: str | None = None
) -> str | None:
    """The warning for a run that took longer than its budget (None when it kept it): what the budget bounds, so that
    the user knows where the rest went. `bounded` names the phases the budget stops; `rest`, how the others are
    counted (by default: they are not)."""
    if budget is None or seconds <= budget:
        return None
    rest = rest or "loading, tokenizing, the final evaluation and saving are not stopped"
    return (
        f"{command}: warning: the run took {seconds:.0f} s, {seconds - budget:.0f} s over its time budget of "
        f"{budget:g} s (--max_train_seconds). The budget stops {bounded}; {rest}. Give a larger budget, or fewer "
        "rows (--max_train_samples)."
    )
