"""A training that diverges (a loss or a weight that is NaN or infinite, or a loss that has exploded) stops with a
clear error: its figures are not results, and no card may claim them."""

from __future__ import annotations

import math

import torch
from transformers import TrainerCallback

from ..errors import UsageError

# A cross-entropy above this many nats gives the true class a probability below e^-10000: only weights that have
# exploded do that (a healthy classifier, even a badly overfit one, stays within tens; at initialisation it is about
# ln(number of classes)). Finite, so checks for NaN or infinity alone miss it; a step at --learning_rate 1e30 gives
# a validation loss of ~1e28, and the best checkpoint kept would be one trained by no real step.
EXPLODED_LOSS = 1e4


def loss_has_diverged(loss) -> bool:
    return isinstance(loss, (int, float)) and not (math.isfinite(loss) and abs(loss) < EXPLODED_LOSS)


def _fix(learning_rate: float | None) -> str:
    rate = f" (it was {learning_rate:g})" if learning_rate is not None else ""
    return (
        f"Lower --learning_rate{rate}, e.g. by a factor of 10, keep --max_grad_norm at 1, and run again; "
        "nothing was saved as a finished model."
    )


def non_finite_parameters(model: torch.nn.Module) -> list[str]:
    """Names of the parameters holding a NaN or an infinity."""
    return [name for name, param in model.named_parameters() if not bool(torch.isfinite(param).all())]


def check_finite_weights(model: torch.nn.Module, learning_rate: float | None = None) -> None:
    bad = non_finite_parameters(model)
    if bad:
        raise UsageError(
            f"training diverged: the weights {bad[:5]} hold NaN or infinite values. {_fix(learning_rate)}"
        )


class DivergenceCallback(TrainerCallback):
    """Stops training at the first non-finite loss or weight; `raise_if_diverged` then reports it."""

    def __init__(self, learning_rate: float | None = None):
        self.learning_rate = learning_rate
        self.reason: str | None = None

    def _stop(self, control, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        control.should_training_stop = True
        control.should_save = False  # a diverged checkpoint is worth nothing, and could be resumed by mistake

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if loss_has_diverged(loss):
            self._stop(control, f"the training loss was {loss:g} at step {state.global_step}")

    def on_evaluate(self, args, state, control, metrics=None, model=None, **kwargs):
        loss = (metrics or {}).get("eval_loss")
        if loss_has_diverged(loss):
            self._stop(control, f"the validation loss was {loss:g} at step {state.global_step}")
        elif model is not None and non_finite_parameters(model):
            self._stop(
                control, f"weights {non_finite_parameters(model)[:5]} were NaN or infinite at step {state.global_step}"
            )

    def raise_if_diverged(self) -> None:
        if self.reason is not None:
            raise UsageError(f"training diverged: {self.reason}. {_fix(self.learning_rate)}")

    def check_metrics(self, metrics: dict, where: str) -> None:
        bad = {k: v for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)}
        if bad:
            raise UsageError(f"training diverged: {where} gave {bad}. {_fix(self.learning_rate)}")
