"""Checks of command-line values that run before any data is loaded, so that a typo costs seconds, not a
tokenizing pass. Each error names the flag, the value and what is allowed (`UsageError`: exit 2)."""

from __future__ import annotations

import math
import os

from .configuration_bilstm import BiLSTMConfig
from .data import check_dataset_name
from .errors import UsageError

MIN_VOCAB_SIZE = 3  # [PAD], [UNK] and one word


def check_number(
    flag: str,
    value,
    *,
    integer: bool = False,
    minimum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    what: str = "",
) -> None:
    """Refuses NaN, infinities, non-integers where an integer is needed, and values outside the bounds."""
    if value is None:
        return
    allowed = []
    if minimum is not None:
        allowed.append(f">= {minimum}")
    if above is not None:
        allowed.append(f"> {above}")
    if below is not None:
        allowed.append(f"< {below}")
    kind = "an integer" if integer else "a number"
    rule = f"{kind} {' and '.join(allowed)}".strip() + (f" ({what})" if what else "")
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    bad = bad or (integer and int(value) != value)
    bad = bad or (minimum is not None and value < minimum) or (above is not None and value <= above)
    bad = bad or (below is not None and value >= below)
    if bad:
        raise UsageError(f"{flag} must be {rule}, but it was {value!r}.")


def check_architecture(settings: dict) -> None:
    """Builds a throwaway config from the model flags, so that a bad value fails now, named by its flag."""
    try:
        BiLSTMConfig(vocab_size=1000, **settings)
    except ValueError as error:
        message = str(error)
        for name in settings:
            message = message.replace(f"BiLSTMConfig.{name}", f"--{name}")
        raise UsageError(message) from error


def check_tokenizer_flags(vocab_size, max_length, min_frequency, truncation_side="right") -> None:
    check_number("--vocab_size", vocab_size, integer=True, minimum=MIN_VOCAB_SIZE, what="[PAD], [UNK] and words")
    check_number("--max_length", max_length, integer=True, minimum=1, what="tokens a text is cut to")
    check_number("--min_frequency", min_frequency, integer=True, minimum=1)
    if truncation_side not in ("right", "left"):
        raise UsageError(f"--truncation_side must be right or left, but it was {truncation_side!r}.")


def check_run_size(max_train_seconds=None, max_train_samples=None, samples_flag: str = "--max_train_samples") -> None:
    """The run-size flags of every preset and of `pretrain`, checked once before any work: a time budget is a finite
    number of seconds above 0 (0, -5, nan or inf would be ignored, or replaced by a default), a row cap a positive
    integer."""
    check_number("--max_train_seconds", max_train_seconds, above=0, what="seconds; leave it out for no budget")
    check_number(samples_flag, max_train_samples, integer=True, minimum=1)


def check_seed(seed) -> None:
    check_number("--seed", seed, integer=True, minimum=0, below=2**32)


def check_dataset_flag(name: str) -> None:
    """A local `--dataset` must exist; a folder with a loading script is refused (running it would run its code)."""
    expanded = check_dataset_name(name)
    if os.path.isdir(expanded):
        scripts = sorted(n for n in os.listdir(expanded) if n.endswith(".py"))
        if scripts:
            raise UsageError(
                f"--dataset {name!r} holds a loading script {scripts}; datasets no longer runs them, and hf-bilstm "
                "never runs code from a dataset. Convert the data to parquet, CSV or JSON files (e.g. run the script "
                "yourself, then DatasetDict.save_to_disk) and point --dataset at that folder."
            )


def check_model_flag(name: str, flag: str = "--model_name_or_path") -> None:
    """A model folder that does not exist is "no such folder" now, not a Hub error after the data was loaded."""
    from .model_loading import check_model_source

    try:
        check_model_source(name, classifier=False)  # train starts from a language model too
    except UsageError as error:
        raise UsageError(f"{flag} {error}") from error


def comma_list(value: str | None, flag: str) -> list[str] | None:
    """`a,b,c` → ['a', 'b', 'c']; an empty or repeated name is refused."""
    if value is None:
        return None
    names = [part.strip() for part in value.split(",")]
    if not value.strip() or any(not name for name in names):
        raise UsageError(f"{flag} {value!r} has an empty name; give comma-separated names such as a,b,c.")
    if len(set(names)) != len(names):
        raise UsageError(f"{flag} {value!r} names a column or label twice; give each once.")
    return names


def local_path(name: str | None) -> str | None:
    """`name` when it is an existing local path (an input that an output folder must not overwrite), else None."""
    if name and os.path.exists(os.path.expanduser(name)):
        return name
    return None


def check_training_numbers(training_args) -> None:
    """The `TrainingArguments` numbers that `train` and `pretrain` both check before any data loads."""
    check_number("--learning_rate", training_args.learning_rate, minimum=0)
    check_number("--weight_decay", training_args.weight_decay, minimum=0)
    check_number("--max_grad_norm", training_args.max_grad_norm, minimum=0)
    check_number("--warmup_steps", training_args.warmup_steps, minimum=0)
    check_number("--per_device_train_batch_size", training_args.per_device_train_batch_size, integer=True, minimum=1)
    check_number("--per_device_eval_batch_size", training_args.per_device_eval_batch_size, integer=True, minimum=1)
    check_seed(training_args.seed)
    check_trainer_numbers(training_args)
    check_cpu_bf16(training_args)


def check_cpu_bf16(training_args) -> None:
    """`--bf16 true` on a CPU without native bf16 is refused: torch's LSTM builds no bf16 kernel there ("could not
    create a primitive descriptor for the LSTM forward propagation primitive" at the first step, measured on an
    AVX2-only AMD EPYC), and emulated bf16 would be slower than fp32 anyway."""
    if not getattr(training_args, "bf16", False) or training_args.device.type != "cpu":
        return
    import torch

    from .presets import cpu_has_native_bf16

    if not cpu_has_native_bf16():
        raise UsageError(
            "--bf16 true needs a CPU with native bf16 (AVX512-BF16 or AMX), and this one computes with "
            f"{torch.backends.cpu.get_cpu_capability()}: torch's LSTM has no bf16 kernel here. Leave --bf16 out "
            "(fp32)."
        )


# The Trainer's own numeric flags that it accepts out of range and then ignores, misreads or divides by: each is
# checked here, so that it is honoured or refused (`None` is the Trainer's "not set").
TRAINER_NUMBERS = {
    "gradient_accumulation_steps": dict(integer=True, minimum=1),
    "eval_accumulation_steps": dict(integer=True, minimum=1),
    "logging_steps": dict(above=0, what="steps, or a share of them below 1"),
    "eval_steps": dict(above=0, what="steps, or a share of them below 1"),
    "save_steps": dict(above=0, what="steps, or a share of them below 1"),
    "save_total_limit": dict(integer=True, minimum=1, what="checkpoints kept; leave it out to keep all"),
    "label_smoothing_factor": dict(minimum=0, below=1),
    "adam_beta1": dict(minimum=0, below=1),
    "adam_beta2": dict(minimum=0, below=1),
    "adam_epsilon": dict(above=0),
    "dataloader_num_workers": dict(integer=True, minimum=0),
    "dataloader_prefetch_factor": dict(integer=True, minimum=1),
    "eval_delay": dict(minimum=0),
    "torch_empty_cache_steps": dict(integer=True, minimum=1),
}


def check_trainer_numbers(training_args) -> None:
    """The Trainer's numeric flags (`TRAINER_NUMBERS`), and `--max_steps`: -1 (not set) or a positive number."""
    for name, rule in TRAINER_NUMBERS.items():
        check_number(f"--{name}", getattr(training_args, name, None), **rule)
    max_steps = getattr(training_args, "max_steps", -1)
    if max_steps != -1:
        check_number("--max_steps", max_steps, integer=True, minimum=1, what="or leave it out to train by epochs")


# Settings that a resumed run takes from the checkpoint's optimizer state (the Trainer loads its param_groups over the
# new optimizer's): flag → (param_groups key, how to read the value there).
RESUMED_OPTIMIZER_SETTINGS = {
    "learning_rate": lambda group: group.get("initial_lr", group.get("lr")),
    "weight_decay": lambda group: group.get("weight_decay"),
    "adam_beta1": lambda group: (group.get("betas") or (None, None))[0],
    "adam_beta2": lambda group: (group.get("betas") or (None, None))[1],
    "adam_epsilon": lambda group: group.get("eps"),
}


RESUME_FIX = "Resume from another checkpoint (or delete this one), or start again without --resume_from_checkpoint."


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def checkpoint_optimizer_settings(checkpoint: str) -> dict:
    """The optimizer settings a checkpoint was trained with, read from its optimizer.pt with torch's weights-only
    loader (no code can run); {} when there is none. A file that loader refuses (a pickle of objects, or not a torch
    file at all) is a UsageError before the Trainer would try it: it is never unpickled."""
    import torch

    path = os.path.join(checkpoint, "optimizer.pt")
    if not os.path.isfile(path):
        return {}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        groups = state["param_groups"]
        if not isinstance(groups, list) or not all(isinstance(group, dict) for group in groups):
            raise TypeError("param_groups is not a list of settings")
    except Exception as error:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError... for such files
        raise UsageError(
            f"{path!r} is not an optimizer state torch's weights-only loader can read ({_first_line(error)}); it is "
            f"never unpickled, since unpickling can run code. {RESUME_FIX}"
        ) from None
    settings = {}
    for flag, read in RESUMED_OPTIMIZER_SETTINGS.items():
        values = [read(group) for group in groups if read(group) is not None]
        if values:
            # weight decay: the decayed group's (biases and norms get 0)
            settings[flag] = max(values) if flag == "weight_decay" else values[0]
    return settings


# The checkpoint's other torch files, which the Trainer loads with the weights-only loader when it resumes (numpy's
# types allowed for the random states): a damaged one is a traceback deep in the Trainer, so each is read first.
RESUMED_TORCH_FILES = ("scheduler.pt", "scaler.pt", "rng_state.pth", "rng_state_*.pth")


def check_checkpoint_torch_files(checkpoint: str) -> None:
    """Reads each torch file the Trainer will load on resuming, as it will (weights-only, never unpickled): one it
    cannot read is a UsageError naming the file, before any training."""
    import glob

    import torch
    from transformers.trainer_pt_utils import safe_globals

    for pattern in RESUMED_TORCH_FILES:
        for path in sorted(glob.glob(os.path.join(glob.escape(checkpoint), pattern))):
            try:
                with safe_globals():
                    torch.load(path, map_location="cpu", weights_only=True)
            except Exception as error:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError...
                raise UsageError(
                    f"{path!r} cannot be read by torch's weights-only loader ({_first_line(error)}), so the "
                    f"checkpoint cannot be resumed; it is never unpickled. {RESUME_FIX}"
                ) from None


def check_resume_optimizer(training_args, given: frozenset, checkpoint: str) -> None:
    """
    A resumed run continues with the checkpoint's learning rate, weight decay and Adam settings (the Trainer restores
    them from optimizer.pt, whatever the flags say): a flag that differs would be ignored, so it is refused; one not
    given takes the checkpoint's value, so that the card and results state what was used.
    """
    saved = checkpoint_optimizer_settings(checkpoint)
    check_checkpoint_torch_files(checkpoint)
    ignored = []
    for flag, value in saved.items():
        current = getattr(training_args, flag, None)
        if current is None or math.isclose(float(current), float(value), rel_tol=1e-6, abs_tol=1e-12):
            continue
        if flag in given:
            ignored.append(f"--{flag} {current} (the checkpoint has {value})")
        else:
            setattr(training_args, flag, value)
    if ignored:
        raise UsageError(
            f"--resume_from_checkpoint continues {checkpoint!r} with its own optimizer state, so {ignored} would be "
            "ignored; drop them, or start a new run in another --output_dir to change them."
        )
