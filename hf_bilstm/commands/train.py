"""`hf-bilstm train`: a dataset in, a complete and documented model folder out, with the stock `Trainer`.

Arguments are `ModelArguments` + `DataArguments` (hf_bilstm.arguments) plus every stock `TrainingArguments` flag (HF
example spellings; dash spellings work too). A preset (hf_bilstm.presets) fills in whatever the user did not give.
`--preset cpu-taught` and `--preset cpu-best` are recipes of several runs (hf_bilstm.training.distillation); every
other preset is one run (hf_bilstm.training.trainer). `--preset auto` on a CPU looks at the data first: with unlabelled
text it trains `cpu-taught`, without it (or when the recipe cannot teach the data) `cpu`.
"""

import json
import shlex
import sys
import time

from ..arguments import RunSettings, parse_settings
from ..errors import UsageError
from ..logs import get_logger, show_progress
from ..presets import CPU_PRESET, PRESETS, is_recipe
from ..training.distillation import NotTaught, train_distilled
from ..training.run_plan import minutes
from ..training.time_budget import overshoot_line
from ..training.trainer import train
from ..unlabelled import has_unlabelled_text
from . import command_main

logger = get_logger(__name__)


def run_training(settings: RunSettings, command: str, started: float | None = None) -> dict:
    """One run, or the phases of a taught recipe (each a `train()` of its own); all metrics of the final model.
    `started`: when the command began, from which --max_train_seconds counts."""
    if is_recipe(settings.preset):
        return train_distilled(settings, command, PRESETS[settings.preset].distillation, started=started)
    return train(settings, command=command, started=started)


def chosen_by_auto(settings: RunSettings) -> bool:
    return settings.preset_reason.startswith("--preset auto")


def unlabelled_text(settings: RunSettings) -> str:
    """What unlabelled text the data has ("50,000 texts in split 'unsupervised'"), or "" when `--preset auto` has no
    reason to look (a GPU, a model to fine-tune, a resumed run) or the data has none."""
    model_args, data_args = settings.model, settings.data
    if settings.preset != CPU_PRESET or not chosen_by_auto(settings) or model_args.model_name_or_path:
        return ""
    if settings.training.resume_from_checkpoint:
        return ""
    from ..data_flags import load_from_flags

    try:
        raw = load_from_flags(data_args)  # cached by datasets: the run reads it again at no cost
    except (UsageError, OSError, ValueError):
        return ""  # the run itself reports what is wrong with the data, after its other checks, as without a probe
    return has_unlabelled_text(raw, data_args)


def settings_for_data(argv: list[str], settings: RunSettings) -> RunSettings:
    """`--preset auto` on a CPU with unlabelled text in the data: the settings of `cpu-taught` instead of `cpu`."""
    found = unlabelled_text(settings)
    return parse_settings(argv, unlabelled=found) if found else settings


def train_as_chosen(argv: list[str], settings: RunSettings, command: str, started: float) -> dict:
    """`run_training`, except that a recipe `--preset auto` chose which cannot teach this data (several labels per
    row, scores, a flag its student refuses) gives way to `cpu`, saying why, before any phase has run."""
    try:
        return run_training(settings, command, started)
    except NotTaught as refusal:
        if not (is_recipe(settings.preset) and chosen_by_auto(settings)):
            raise
        logger.warning(f"{refusal} So --preset auto trains {CPU_PRESET!r} on the labelled rows.")
        return run_training(parse_settings(argv), command, started)


# How the budget is kept, for the warning of a run that overshot it.
KEPT = (
    "loading and tokenizing count against it and the final evaluation is reserved by an estimate, but never stopped "
    "(--max_eval_samples and --max_test_samples cap the rows it reads)"
)


def time_budget(model_args) -> tuple[float | None, str, str]:
    """The run's time budget (a taught recipe always has one), what it stops and how the rest is counted."""
    if is_recipe(model_args.preset):
        settings = PRESETS[model_args.preset].distillation
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
    settings = settings_for_data(argv, settings)
    output_dir = settings.training.output_dir
    metrics = train_as_chosen(argv, settings, shlex.join(["hf-bilstm", "train", *argv]), started)
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
