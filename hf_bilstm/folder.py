"""The output folder of `hf-bilstm train` / `pretrain`: checked, locked, and written so that nothing is lost.

- Checked before anything is read or written: not a file, not one of the run's inputs (nor inside one, nor holding
  one), and empty unless it holds an unfinished earlier output of the same command (or `--overwrite_output_dir`).
- Locked for the whole run (an exclusive `filelock` lock): a second run into the same folder fails at once.
- Written through a staging folder inside it: the finished model is saved there, then each file is moved into place
  with `os.replace` (atomic on one file system), and only then are the previous run's leftovers removed. A save that
  fails (a full disk) leaves the previous complete model as it was.
- Checkpoints: `find_checkpoint` answers `--resume_from_checkpoint` (a path, or `last` for the newest complete
  `checkpoint-*`), skipping the partial folder a killed run leaves.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import tempfile

from filelock import FileLock, Timeout

from .errors import UsageError, exit_code_for, no_room_reason  # noqa: F401  (re-exported)
from .logs import get_logger

logger = get_logger(__name__)

LOCK_NAME = ".hf_bilstm.lock"
MARKER_NAME = ".hf_bilstm_output.json"  # which command owns the folder: its unfinished output may be written again
STAGING_NAME = ".hf_bilstm-staging"
WRITE_TEST_PREFIX = ".write-test-"  # a file made and removed at once to see that the folder is writable
OWN_NAMES = (LOCK_NAME, MARKER_NAME, STAGING_NAME)  # bookkeeping, never pushed, never counted as content

# The one list of what makes a model folder, by role: `hf-bilstm push` uploads the model, code, tokenizer and optional
# files (and results); a new run into the folder replaces or removes every output file.
MODEL_FILES = ("config.json", "model.safetensors")
MODEL_NAMES = MODEL_FILES  # a folder holding one of these (or a shard, a checkpoint) holds a model
CODE_FILES = ("configuration_bilstm.py", "modeling_bilstm.py")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# data_schema.json: hf_bilstm.data_schema, the training data's columns, label form and problem type
OPTIONAL_FILES = ("special_tokens_map.json", "added_tokens.json", "generation_config.json", "data_schema.json")
RESULTS_FILES = ("all_results.json", "train_results.json", "eval_results.json", "test_results.json")
SHARD = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")
# Every file either command puts in a finished folder. A new run into the folder replaces or removes all of them,
# so no file of the previous run (a classifier's test_results.json under a language model) survives next to it.
OUTPUT_FILES = (
    *MODEL_FILES,
    "model.safetensors.index.json",
    *CODE_FILES,
    *TOKENIZER_FILES,
    *OPTIONAL_FILES,
    "README.md",
    *RESULTS_FILES,
    "trainer_state.json",
    "training_args.bin",
    "pretraining_results.json",
    "predict_results.tsv",  # predictions on a test split without labels
    "recipe_results.json",  # --preset cpu-best's record of its phases (hf_bilstm.training.distillation)
)
# Every file the package writes into (or reads from) a model folder, for the checks of `evaluate --output_file`,
# `predict --output_file` and friends: none of them may be named as a results file. OUTPUT_FILES and shards; the
# folders below, whole; the JavaScript modules of `hf-bilstm export` (hf_bilstm.onnx.javascript.JS_MODULES); and
# the run's lock and ownership marker (replaced by metrics, the folder would no longer be known as train's output).
PACKAGE_FILES = (*OUTPUT_FILES, "hf_bilstm.js", "onnx_eval.js", LOCK_NAME, MARKER_NAME)
PACKAGE_FOLDERS = ("onnx", "demo", STAGING_NAME)  # export's graphs and report, its demo page, the staging folder


def package_file(model_folder: str, path: str) -> str | None:
    """`path` relative to `model_folder` when it is a file the package writes or reads there (weights, config,
    tokenizer, card, results, recipe record, data schema, export files, checkpoints), else None."""
    if not os.path.isdir(os.path.expanduser(model_folder)) or not _holds(model_folder, path):
        return None
    relative = os.path.relpath(_real(path), _real(model_folder))
    top = relative.split(os.sep)[0]
    if relative in PACKAGE_FILES or SHARD.match(relative) or top in PACKAGE_FOLDERS or top.startswith("checkpoint-"):
        return relative
    return None


def check_not_an_input(path: str, what: str, inputs: dict[str, str], fix: str = "Choose a new --output_dir.") -> None:
    """Refuses an output folder that is, holds or lies inside one of the run's inputs (flag → local path)."""
    for flag, value in inputs.items():
        if not value or not os.path.exists(os.path.expanduser(value)):
            continue
        if _holds(path, value):
            raise UsageError(
                f"{what} {path!r} is (or holds) {flag} {value!r}, an input of this run; writing there would destroy "
                f"what is being read. {fix}"
            )
        if _holds(value, path):  # a model (or dataset files) written into an input changes that input
            raise UsageError(
                f"{what} {path!r} lies inside {flag} {value!r}, an input of this run; writing there would change "
                f"what is being read. {fix.replace('a new', 'one outside it, a new')}"
            )


def check_output_folder(
    path: str,
    command: str,
    *,
    what: str = "--output_dir",
    overwrite: bool = False,
    inputs: dict[str, str] | None = None,
    resuming: bool = False,
    replaceable: frozenset | None = None,
) -> None:
    """
    The one check of every folder a command writes (`--output_dir`, cpu-best's recipe folder, export's onnx/):
    not a file, never an input or inside one, and empty unless it holds an unfinished output of the same command or
    `overwrite` is given. `replaceable`: the only entries `overwrite` may replace (a folder the user never named,
    such as the recipe folder); anything else there, a trained model above all, is refused even with `overwrite`.
    """
    if not path:
        raise UsageError(f"{what} is empty; give the folder the output should be written to.")
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{what} {path!r} is a file, not a folder; choose another path.")
    check_not_an_input(path, what, inputs or {})
    if resuming or not os.path.isdir(path):
        return
    entries = contents(path)
    if not entries:
        return
    if replaceable is not None:
        foreign = [name for name in entries if name not in replaceable]
        if foreign or holds_model(path):
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            shown = shown or "a trained model"
            raise UsageError(
                f"{what} {path!r} is not empty: it holds what this command did not write ({shown}), which "
                "--overwrite_output_dir never replaces. Move it away, or choose another --output_dir."
            )
        if overwrite:
            return
        raise UsageError(
            f"{what} {path!r} holds an earlier run's files ({', '.join(entries)}); pass --overwrite_output_dir to "
            "replace them, or choose another --output_dir."
        )
    if overwrite:
        return
    if holds_model(path):
        raise UsageError(
            f"{what} {path!r} already holds a model or checkpoints. Pass --overwrite_output_dir to "
            "replace it, --resume_from_checkpoint to continue its training, or choose another folder."
            if command == "train"
            else f"{what} {path!r} already holds a model or checkpoints. Pass --overwrite_output_dir to "
            "replace it, or choose another folder."
        )
    if _owner(path) == command:
        return  # an earlier run of this command that stopped before it saved a model: its own files
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    raise UsageError(
        f"{what} {path!r} is not empty (it holds {shown}) and is not an unfinished output of "
        f"hf-bilstm {command}. Choose an empty or new folder, or pass --overwrite_output_dir to replace "
        "those of its files that the command writes."
    )


def write_atomically(path, data: str | bytes) -> str:
    """
    The package's one atomic write of a file: a temporary file in the same folder, then a rename, so the file (a
    card, predictions, metrics, a script) is whole or absent, never half written, and an old file stays whole if the
    write fails. Text is written as UTF-8 with the line endings it holds. Returns `path`.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        if isinstance(data, bytes):
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return path


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _holds(folder: str, path: str) -> bool:
    """Whether `path` is `folder` or lies inside it (links resolved)."""
    folder, path = _real(folder), _real(path)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def holds_model(path: str) -> bool:
    """Whether `path` holds a saved model or Trainer checkpoints."""
    if not os.path.isdir(path):
        return False
    names = os.listdir(path)
    return any(n in MODEL_NAMES or SHARD.match(n) or n.startswith("checkpoint-") for n in names)


def contents(path: str) -> list[str]:
    """The entries of `path` that are not this module's own bookkeeping."""
    if not os.path.isdir(path):
        return []
    # The write test of another process of the same torchrun job (rank 0) may be there for an instant.
    return sorted(n for n in os.listdir(path) if n not in OWN_NAMES and not n.startswith(WRITE_TEST_PREFIX))


def _owner(path: str) -> str | None:
    try:
        with open(os.path.join(path, MARKER_NAME), encoding="utf-8") as handle:
            return json.load(handle).get("command")
    except (OSError, ValueError, AttributeError):
        return None


class OutputDir:
    """
    The output folder of one run of `command` (`train` or `pretrain`), used as a context manager around the run.

    `inputs` maps a flag (`--model_name_or_path`) to the local path it names; the output folder may be none of them,
    nor lie inside one. `resuming` is the checkpoint a run continues (or True): one inside the folder lets the folder
    be written as it is; one elsewhere is an input, and the folder is checked as for a new run.
    On entry the folder is checked, created, locked and marked as `command`'s; `staging` is where the finished model
    is saved, and `commit()` moves it into place. On exit the lock is released, and a folder that this run created
    and left without any output (a run refused after the checks) is removed again (one that was empty is emptied).
    """

    def __init__(
        self,
        path: str,
        command: str,
        *,
        overwrite: bool = False,
        resuming: bool | str = False,
        inputs: dict[str, str | None] | None = None,
        is_main: bool = True,
    ):
        self.path = path
        self.command = command
        self.overwrite = overwrite
        self.inputs = {flag: value for flag, value in (inputs or {}).items() if value}
        if isinstance(resuming, str) and (not _holds(path, resuming) or _real(path) == _real(resuming)):
            # A checkpoint of another folder (or the folder itself named as the checkpoint) is an input like any
            # other: this folder is checked as for a new run, and may not be, hold or lie inside the checkpoint.
            self.inputs["--resume_from_checkpoint"] = resuming
            resuming = False
        self.resuming = bool(resuming)
        self.is_main = is_main
        self.staging = os.path.join(path, STAGING_NAME)
        self._lock: FileLock | None = None
        self._created = False
        self._was_empty = False

    # -------------------------------------------------------------------------------------------- checks
    def check(self) -> None:
        """Refuses the folder (UsageError) before anything is read or written; safe to call more than once."""
        check_output_folder(
            self.path, self.command, overwrite=self.overwrite, inputs=self.inputs, resuming=self.resuming
        )

    # -------------------------------------------------------------------------------------------- lifetime
    def __enter__(self) -> OutputDir:
        self.check()
        if not self.is_main:
            return self
        try:
            self._created = not os.path.isdir(self.path)
            self._was_empty = self._created or not os.listdir(self.path)
            os.makedirs(self.path, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.path, prefix=WRITE_TEST_PREFIX):
                pass
        except OSError as error:
            raise UsageError(
                f"--output_dir {self.path!r} is not writable ({error}); choose a folder you can write."
            ) from error
        self._lock = FileLock(os.path.join(self.path, LOCK_NAME))
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            self._lock = None
            raise UsageError(
                f"--output_dir {self.path!r} is in use by another hf-bilstm run (it holds the lock "
                f"{LOCK_NAME}); wait for that run to finish, or choose another --output_dir."
            ) from None
        try:
            self.check()  # again, under the lock: another run may have written there since the first check
            if os.path.isdir(self.staging):  # left by a run that died while saving; never complete
                shutil.rmtree(self.staging)
            if self.overwrite and not self.resuming:
                # Old checkpoints would be rotated, resumed or merged into this run's results: they go now. The old
                # finished model stays until commit() replaces it, so a failed run leaves it readable.
                for name in os.listdir(self.path):
                    if name.startswith("checkpoint-") and os.path.isdir(os.path.join(self.path, name)):
                        shutil.rmtree(os.path.join(self.path, name))
            if _owner(self.path) != self.command or not holds_model(self.path):
                with open(os.path.join(self.path, MARKER_NAME), "w", encoding="utf-8") as handle:
                    json.dump({"command": self.command}, handle)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._lock is None:
            return
        try:
            if exc_type is not None and os.path.isdir(self.staging):
                shutil.rmtree(self.staging, ignore_errors=True)
            if exc_type is not None and not contents(self.path):
                # Refused after the checks (a bad --dataset, ...): the folder is left as it was found, so no empty
                # folder is left behind, and an empty folder is left empty.
                if self._created:
                    shutil.rmtree(self.path, ignore_errors=True)
                elif self._was_empty:
                    for name in (MARKER_NAME, LOCK_NAME):
                        if os.path.isfile(os.path.join(self.path, name)):
                            os.remove(os.path.join(self.path, name))
        finally:
            self._lock.release()
            self._lock = None

    # -------------------------------------------------------------------------------------------- saving
    def new_staging(self) -> str:
        """A fresh, empty staging folder inside the output folder (same file system: os.replace is atomic)."""
        if os.path.isdir(self.staging):
            shutil.rmtree(self.staging)
        os.makedirs(self.staging)
        return self.staging

    def commit(self) -> None:
        """Moves every file of the staging folder into place, then removes the previous run's other outputs."""
        written = set()
        for name in sorted(os.listdir(self.staging)):
            source = os.path.join(self.staging, name)
            if not os.path.isfile(source) or name.endswith(".bin"):  # the Trainer's pickled training_args.bin
                continue
            os.replace(source, os.path.join(self.path, name))
            written.add(name)
        for name in os.listdir(self.path):
            if name not in written and (name in OUTPUT_FILES or SHARD.match(name)):
                os.remove(os.path.join(self.path, name))
        shutil.rmtree(self.staging)


# ------------------------------------------------------------------------------------------------ checkpoints
def checkpoint_is_complete(checkpoint: str) -> bool:
    """The Trainer writes trainer_state.json last: a checkpoint without it (or with it cut short) was interrupted."""
    try:
        with open(os.path.join(checkpoint, "trainer_state.json"), encoding="utf-8") as handle:
            json.load(handle)
    except (OSError, ValueError):
        return False
    return os.path.exists(os.path.join(checkpoint, "model.safetensors"))


def find_checkpoint(value: str | None, output_dir: str) -> str | None:
    """`--resume_from_checkpoint PATH`, or `true`/`last` for the newest complete checkpoint in --output_dir."""
    if not value:
        return None
    if value.lower() in ("true", "last", "latest"):
        found = glob.glob(os.path.join(output_dir, "checkpoint-*")) if os.path.isdir(output_dir) else []
        steps = {path: path.rsplit("-", 1)[1] for path in found if os.path.isdir(path)}
        newest_first = sorted((p for p, s in steps.items() if s.isdigit()), key=lambda p: -int(steps[p]))
        for checkpoint in newest_first:
            if checkpoint_is_complete(checkpoint):
                return checkpoint
            # A run killed while saving leaves a partial folder; loading it would fail or, worse, half-restore.
            logger.warning(f"skipping incomplete checkpoint {checkpoint}")
        raise UsageError(
            f"--resume_from_checkpoint {value}: no complete checkpoint-* folder in {output_dir!r} to resume."
        )
    if not os.path.isdir(value):
        raise UsageError(f"--resume_from_checkpoint {value!r}: no such checkpoint folder.")
    if not checkpoint_is_complete(value):
        raise UsageError(
            f"--resume_from_checkpoint {value!r} is incomplete (no readable trainer_state.json or model.safetensors: "
            "the run was stopped while saving it). Resume from an earlier checkpoint, or with 'last' for the "
            "newest complete one."
        )
    return value


def file_sha256(path: str) -> str:
    """The sha256 of a file's bytes, read in blocks (what binds files to a folder or names data by content)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
