"""`hf-bilstm train`: a dataset in, a complete and documented model folder out, with the stock `Trainer`.

Arguments are `ModelArguments` + `DataArguments` (hf_bilstm.arguments) plus every stock `TrainingArguments` flag (HF
example spellings; dash spellings work too). A preset (hf_bilstm.presets) fills in whatever the user did not give.
`--preset cpu-best` is a recipe of several runs (hf_bilstm.training.distillation); every other preset is one run
(hf_bilstm.training.trainer).
"""

import json
import shlex
import sys
import time

from ..arguments import RunSettings, parse_settings
from ..logs import get_logger, show_progress
from ..presets import DISTILLED_PRESET, PRESETS
from ..training.distillation import train_distilled
from ..training.run_plan import minutes
from ..training.time_budget import overshoot_line
from ..training.trainer import train
from . import command_main

logger = get_logger(__name__)


def run_training(settings: RunSettings, command: str, started: float | None = None) -> dict:
    """One run, or the phases of a taught recipe (each a `train()` of its own); all metrics of the final model.
    `started`: when the command began, from which --max_train_seconds counts."""
    if settings.preset == DISTILLED_PRESET:
        return train_distilled(settings, command, PRESETS[DISTILLED_PRESET].distillation, started=started)
    return train(settings, command=command, started=started)


# How the budget is kept, for the warning of a run that overshot it.
KEPT = (
    "loading and tokenizing count against it and the final evaluation is reserved by an estimate, but never stopped "
    "(--max_eval_samples and --max_test_samples cap the rows it reads)"
)


def time_budget(model_args) -> tuple[float | None, str, str]:
    """The run's time budget (`--preset cpu-best` always has one), what it stops and how the rest is counted."""
    if model_args.preset == DISTILLED_PRESET:
        settings = PRESETS[DISTILLED_PRESET].distillation
        budget = settings["max_seconds"] if model_args.max_train_seconds is None else model_args.max_train_seconds
        return budget, "each phase of the recipe (teacher, soft labels, student)", KEPT
    return model_args.max_train_seconds, "training (and word vectors)", KEPT


def run(argv: list[str]) -> int:
    show_progress()  # the plan, the time estimate, the word vectors: a long command says what it is doing
    started = time.time()
    settings = parse_settings(argv)
    if settings.model.print_preset:
        print(json.dumps({"preset": settings.preset, **PRESETS[settings.preset].as_dict()}, indent=2))
        return 0
    output_dir = settings.training.output_dir
    metrics = run_training(settings, shlex.join(["hf-bilstm", "train", *argv]), started)
    if settings.training.process_index == 0:
        line = overshoot_line("hf-bilstm train", time.time() - started, *time_budget(settings.model))
        if line:
            logger.warning(line)
        shown = [f"{split}_{name}" for split in ("eval", "test") for name in ("accuracy", "f1_micro", "f1", "pearson")]
        scores = ", ".join(f"{key} {metrics[key]:.4f}" for key in shown if key in metrics)
        took = minutes(time.time() - started)
        print(f"hf-bilstm train: done in {took} ({scores}); the model is in {output_dir}", flush=True)
    return 0


main = command_main("train")


if __name__ == "__main__":
    sys.exit(main())
