"""`hf-bilstm train --preset cpu-taught` / `--preset cpu-best`: teachers label the unlabelled texts, one BiLSTM learns
from them. `cpu-taught` is what `--preset auto` picks on a CPU when the data has unlabelled text (an `unsupervised` or
`unlabelled` split, or `--unlabelled_file`); `cpu-best` is the longer recipe with a wider student.

Phases, each given a share of what is left of the run's time budget (counted from the command's start, loading
included), with the results rewritten after each one (`recipe_results.json` in `<output_dir>-recipe/`, copied into
the model folder at the end):

1. **BiLSTM teacher** (only when the preset gives it a weight; the shipped `cpu-best` does not): the `cpu` preset
   on the training rows, selected on validation without reading the test split, a complete model folder in
   `<output_dir>-recipe/teacher`.
2. **Linear teacher**: an NB-weighted n-gram logistic regression on the same rows (hf_bilstm.linear_teacher;
   uni+bigrams for `cpu-taught`, up to trigrams for `cpu-best`: the recipe's `linear_teacher` settings).
3. **Soft labels**: the teachers' class probabilities on the unlabelled split(s), weighted (`teacher_weights`). Each
   teacher's validation accuracy and the mix's are recorded. Rows are labelled in chunks, in a seeded random order;
   when the chunks done say the rest would not fit in the phase's share, only the rows labelled so far are kept (the
   log and the record say how many).
4. **Student**: the preset's architecture trained on the training rows (their own labels) plus the unlabelled rows
   (the teachers' probabilities), selected on validation; then the test split is read once. `cpu-taught`'s student
   lays its learning-rate schedule over the time left (`fit_schedule_to_budget`), so it ends decayed on any machine.

Why: a BiLSTM trained on 22k reviews learns the training movies by heart (validation, which shares movies with
train, reads 1-2.4 points above test). The unlabelled reviews are other movies; labelled by a teacher that does not
memorise movies (a bag of n-grams: 91.4 % validation, 91.2 % test) they give the student more, and more varied,
examples than the labelled split alone. Only the `train` and unlabelled text is read for training; validation and
test texts found among the unlabelled rows are dropped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time

import numpy as np
import torch
from datasets import Dataset

from ..arguments import with_preset
from ..data_flags import load_from_flags
from ..data_schema import MULTI_LABEL, SINGLE_LABEL
from ..encoding import SOFT_LABELS, encode
from ..errors import UsageError
from ..folder import check_output_folder
from ..inference import batches
from ..json_files import read_json
from ..logs import get_logger
from .time_budget import LEAST_TRAINING_SECONDS

logger = get_logger(__name__)

RESULTS_NAME = "recipe_results.json"
# Each phase's share of what is left of the time budget when it starts (the student gets all that is left at the end,
# and keeps the final evaluation's time itself). The linear teacher takes ~30 s of the default 3,300 on IMDB.
BILSTM_TEACHER_BUDGET_SHARE = 0.3
LINEAR_TEACHER_BUDGET_SHARE = 0.2
SOFT_LABELS_BUDGET_SHARE = 0.25
# Soft labels are computed this many rows at a time; the first chunks measure the cost of a row.
LABEL_CHUNK_ROWS = 2048


def cap_rows(texts: list[str], max_rows: int | None, seed: int) -> list[str]:
    """At most `max_rows` of `texts`: a seeded random sample in the original order (a split sorted by label stays
    mixed), as `--max_train_samples` samples the training split."""
    if max_rows is None or len(texts) <= max_rows:
        return texts
    kept = np.sort(np.random.default_rng(seed).permutation(len(texts))[:max_rows])
    return [texts[i] for i in kept]


def bilstm_teacher(folder: str, batch_size: int = 256):
    """A function giving the class probabilities of the classifier in `folder` for a list of texts (in order)."""
    from ..inference import load_model

    model, tokenizer = load_model(folder, "cpu")
    model.eval()

    @torch.no_grad()
    def probabilities(texts: list[str]) -> np.ndarray:
        encoded = encode(Dataset.from_dict({"text": texts}), tokenizer, "text", None)
        out = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
        for rows, batch in batches(tokenizer, encoded, batch_size):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            out[rows] = torch.softmax(logits.float(), dim=-1).numpy()
        return out

    return probabilities


def label_in_time(label, texts: list[str], seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """
    `label(texts) -> probabilities` for as many of `texts` as fit in `seconds`: chunks of `LABEL_CHUNK_ROWS` in a
    seeded random order (a cut keeps a sample of the whole split, not its first rows), the next chunk only while the
    cost per row measured on the chunks done says it fits. The first chunk is always labelled. Returns the indices
    of the labelled texts, in their original order, and their probabilities.
    """
    order = np.random.default_rng(seed).permutation(len(texts))
    started, done, parts = time.time(), 0, []
    while done < len(order):
        chunk = order[done : done + LABEL_CHUNK_ROWS]
        spent = time.time() - started
        if done and spent + spent / done * len(chunk) >= seconds:
            break
        parts.append(label([texts[i] for i in chunk]))
        done += len(chunk)
    kept = order[:done]
    back = np.argsort(kept, kind="stable")
    probabilities = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    return kept[back], probabilities[back]


def _accuracy(probabilities: np.ndarray, labels) -> float:
    return float((probabilities.argmax(axis=1) == np.asarray(labels)).mean())


class RecipeResults:
    """`recipe_results.json`: the run's record, rewritten atomically after every phase."""

    def __init__(self, path: str, command: str, started: float, budget: float):
        self.path, self.started = path, started
        self.record = {
            "command": command,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
            "time_budget_seconds": budget,
            "phases": {},
        }

    def spent(self) -> float:
        """Seconds of the budget spent so far (from the command's start)."""
        return time.time() - self.started

    def phase(self, name: str, seconds: float, **figures) -> None:
        self.record["phases"][name] = {"seconds": round(seconds, 1), **figures}
        self.record["wall_seconds"] = round(time.time() - self.started, 1)
        self.save()

    def save(self, path: str | None = None) -> None:
        path = path or self.path
        temporary = f"{path}.tmp-{os.getpid()}"
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(self.record, handle, indent=2, sort_keys=False)
            os.replace(temporary, path)
        except BaseException:  # a full disk mid-write: the previous record stays, no half-written file beside it
            if os.path.exists(temporary):
                os.remove(temporary)
            raise


def recipe_folder(output_dir: str) -> str:
    """Where the teachers and the phase-by-phase record go: next to the output folder, never inside it."""
    return os.path.normpath(output_dir) + "-recipe"


# What the recipe writes into its folder; --overwrite_output_dir replaces these and nothing else there.
RECIPE_ENTRIES = frozenset({RESULTS_NAME, "teacher"})


def check_folders(run, work: str) -> None:
    """Both folders the recipe writes, through the one check (hf_bilstm.folder.check_output_folder) before any phase:
    the student's --output_dir as every run's, and the recipe folder, which --overwrite_output_dir may clear only of
    the recipe's own files (never the dataset, never another trained model)."""
    from .trainer import run_inputs

    inputs = {flag: path for flag, path in run_inputs(run.model, run.data).items() if path}
    overwrite = run.model.overwrite_output_dir
    check_output_folder(run.training.output_dir, "train", overwrite=overwrite, inputs=inputs)
    what = "the recipe folder (--output_dir + '-recipe': teacher, phase record)"
    check_output_folder(work, "train", what=what, overwrite=overwrite, inputs=inputs, replaceable=RECIPE_ENTRIES)


class NotTaught(UsageError):
    """What a taught recipe cannot teach (several labels per row, scores, flags its student refuses): refused before
    any phase; `--preset auto` then trains the `cpu` preset instead (hf_bilstm.commands.train)."""


def check_single_label(problem_type: str, preset: str = "cpu-best") -> None:
    """The teachers' probabilities over classes are the soft labels: the recipe teaches one class per text only."""
    if problem_type != SINGLE_LABEL:
        raise NotTaught(
            f"--preset {preset} teaches one class per text (its teachers' class probabilities are the soft labels), "
            f"but this dataset's labels are a {problem_type} problem; train it with --preset cpu (or another preset) "
            "instead."
        )


def check_student_flags(run) -> None:
    """Flags the student's run would refuse after the teachers' phases: refused now instead."""
    model_args, data_args, preset = run.model, run.data, run.preset
    if model_args.class_weights:
        raise NotTaught(f"--class_weights does not combine with --preset {preset}'s soft labels; drop one of them.")
    if run.finetuning.enabled():
        raise NotTaught(f"the fine-tuning tools do not combine with --preset {preset}'s soft labels; drop them.")
    if data_args.problem_type is not None:
        check_single_label(data_args.problem_type, preset)
    if data_args.label_separator:
        check_single_label(MULTI_LABEL, preset)


def clear_recipe_folder(work: str) -> None:
    """Removes an earlier recipe's own files (checked by check_folders to be all the folder holds)."""
    for name in RECIPE_ENTRIES:
        path = os.path.join(work, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def train_distilled(run, command: str, recipe: dict, started=None) -> dict:
    """Runs the four phases of `recipe` (a Preset's `distillation`) with the parsed settings `run`
    (hf_bilstm.arguments.RunSettings); returns the student's metrics (as `train()` does). `started`: when the
    command began (`time.time()`), from which the time budget counts; now by default."""
    started = time.time() if started is None else started
    model_args, training_args = run.model, run.training
    output_dir = training_args.output_dir
    work = recipe_folder(output_dir)
    if training_args.resume_from_checkpoint:
        raise NotTaught(f"--preset {run.preset} runs several phases and cannot resume; run it again from the start.")
    if model_args.model_name_or_path:
        raise NotTaught(f"--preset {run.preset} trains its student from scratch; drop --model_name_or_path.")
    check_student_flags(run)
    check_folders(run, work)
    created = not os.path.exists(work)
    try:
        return _train_distilled(run, command, recipe, started, work)
    except Exception:
        # A refusal, a full disk, a read-only folder: no recipe folder of this run is left behind half-written (the
        # recipe cannot resume; one it found stays, cleared or not).
        if created:
            shutil.rmtree(work, ignore_errors=True)
        raise


def _train_distilled(run, command, recipe, started, work) -> dict:
    model_args, data_args, training_args = run.model, run.data, run.training
    output_dir = training_args.output_dir
    if not data_args.test_split or not recipe.get("read_test", True):
        logger.warning("the test split is not read: the recipe ends with validation figures only.")
    # `is None`, not `or`: a budget of 0 is refused by the flag checks, never read as "the default".
    budget = recipe["max_seconds"] if model_args.max_train_seconds is None else model_args.max_train_seconds
    # Read before anything is trained: a dataset without the unlabelled split is refused now, not after the teacher.
    raw = load_from_flags(data_args)  # the same files and columns as the phases that train
    unlabelled = _unlabelled_texts(raw, data_args, run.preset)
    # --max_train_samples caps every split trained on: the unlabelled rows too (a seeded sample, as for train).
    unlabelled = cap_rows(unlabelled, data_args.max_train_samples, training_args.seed)
    teachers = "a BiLSTM and a linear teacher" if recipe.get("teacher_weights", (0.5, 0.5))[0] else "a linear teacher"
    logger.info(
        f"Recipe plan: preset {run.preset} ({run.preset_reason}): {teachers} on the labelled rows, soft labels for "
        f"{len(unlabelled):,} unlabelled texts, then the student on both; every phase within {budget:g} s from the "
        "command's start"
    )
    # The labelled splits as every phase reads them, checked before the first phase: a problem the recipe cannot
    # teach is refused now, not by the linear teacher after the BiLSTM teacher has trained.
    from .trainer import splits_from_flags

    splits = splits_from_flags(raw, run)
    check_single_label(splits.schema.problem_type, run.preset)
    if os.path.isdir(work):
        clear_recipe_folder(work)  # only an earlier recipe's files: check_folders refused anything else
    os.makedirs(work, exist_ok=True)
    results = RecipeResults(os.path.join(work, RESULTS_NAME), command, started, budget)
    results.record["loading_seconds"] = round(results.spent(), 1)  # spent of the budget before the first phase
    # 1. The BiLSTM teacher: the teacher preset, validation only (the test split stays unread until the end).
    teacher_dir = _bilstm_teacher_phase(run, command, recipe, work, budget, results)
    # 2. and 3. The linear teacher, then soft labels for the unlabelled rows.
    extra = _soft_labels_phases(splits, unlabelled, training_args, recipe, teacher_dir, budget, results)
    del raw, splits
    # 4. The student, within what is left of the budget (its own loading counts against it, and it keeps the time of
    # the final validation and test reading by an estimate: hf_bilstm.training.trainer.training_time_budget).
    left = budget - (time.time() - started)
    metrics = _student_phase(run, command, recipe, extra, left, results)
    results.record.update(
        eval_accuracy=metrics.get("eval_accuracy"),
        test_accuracy=metrics.get("test_accuracy"),
        within_budget=time.time() - started <= budget,
    )
    results.save()
    results.save(os.path.join(output_dir, RESULTS_NAME))
    return metrics


def _bilstm_teacher_phase(run, command, recipe, work, budget, results):
    """The BiLSTM teacher's folder (trained now, or a finished recipe's reused), or None without one."""
    bilstm_weight = recipe.get("teacher_weights", (0.5, 0.5))[0]
    teacher_dir = recipe.get("bilstm_teacher") or os.path.join(work, "teacher")
    if not bilstm_weight:  # a recipe taught by the linear teacher alone trains no BiLSTM teacher
        return None
    if recipe.get("bilstm_teacher"):  # an ablation reusing a finished recipe's teacher (ablate_cpu_best.py)
        teacher_metrics = read_json(os.path.join(teacher_dir, "all_results.json"), fix="train the teacher again")
        results.phase(
            "bilstm_teacher", 0.0, folder=teacher_dir, reused=True, eval_accuracy=teacher_metrics["eval_accuracy"]
        )
    else:
        left = budget - results.spent()
        _train_bilstm_teacher(run, command, recipe, teacher_dir, left, results)
    return teacher_dir


def _soft_labels_phases(splits, unlabelled, training_args, recipe, teacher_dir, budget, results):
    """
    The linear teacher on the same training rows and validation split as the BiLSTM teacher (`splits`), then the
    teachers' weighted probabilities for the unlabelled rows, each within its share of what is left of `budget` as it
    starts. Returns the labelled rows (text, soft labels): all of them, or as many as the soft labels' share allowed.
    """
    linear = _linear_teacher_phase(splits, training_args.seed, budget, results, recipe.get("linear_teacher", {}))
    bilstm_weight, linear_weight = recipe.get("teacher_weights", (0.5, 0.5))
    phase_started = time.time()
    given = SOFT_LABELS_BUDGET_SHARE * (budget - results.spent())
    bilstm = bilstm_teacher(teacher_dir) if teacher_dir is not None else None

    def mix(texts: list[str]) -> np.ndarray:
        """The teachers' weighted probabilities, each teacher's own behind (for the validation figures)."""
        linear_probs = linear.predict_proba(texts)
        bilstm_probs = bilstm(texts) if bilstm is not None else np.zeros_like(linear_probs)
        return np.stack([linear_weight * linear_probs + bilstm_weight * bilstm_probs, linear_probs, bilstm_probs])

    text, label = splits.schema.text_column, splits.schema.label_column
    val_labels = list(splits.validation[label])
    average, linear_probs, bilstm_probs = mix(list(splits.validation[text]))  # validation is always labelled
    figures = {"eval_accuracy_linear_teacher": _accuracy(linear_probs, val_labels)}
    if bilstm is not None:
        figures["eval_accuracy_bilstm_teacher"] = _accuracy(bilstm_probs, val_labels)
    figures["eval_accuracy_average"] = _accuracy(average, val_labels)
    seconds = given - (time.time() - phase_started)
    kept, mixed = label_in_time(lambda texts: mix(texts)[0], unlabelled, seconds, training_args.seed)
    if len(kept) < len(unlabelled):
        logger.warning(
            f"soft labels: the time budget allowed {given:.0f} s for them, so {len(kept):,} of the "
            f"{len(unlabelled):,} unlabelled rows were labelled (a seeded sample; the cost of a row measured on the "
            "first chunks); the student trains on those. Give a larger --max_train_seconds for all of them."
        )
    texts = [unlabelled[i] for i in kept]
    results.phase(
        "soft_labels",
        time.time() - phase_started,
        given_seconds=round(given, 1),
        unlabelled_rows=len(texts),
        unlabelled_rows_available=len(unlabelled),
        cut_by_time_budget=len(kept) < len(unlabelled),
        **figures,
        teacher_weights={"bilstm": bilstm_weight, "linear": linear_weight},
        unlabelled_positive_share=float(mixed.argmax(axis=1).mean()),
    )
    return Dataset.from_dict({text: texts, SOFT_LABELS: mixed.tolist()})


def _linear_teacher_phase(splits, seed: int, budget: float, results, settings: dict):
    """The linear teacher (`settings`: the recipe's LinearTeacher arguments, e.g. its n-gram order), fitted within its
    share of what is left of `budget` (it stops between batches)."""
    from .linear_teacher import LinearTeacher

    phase_started = time.time()
    text, label = splits.schema.text_column, splits.schema.label_column
    given = LINEAR_TEACHER_BUDGET_SHARE * (budget - results.spent())
    linear = LinearTeacher(num_labels=len(splits.label_names), seed=seed, **settings).fit(
        list(splits.train[text]),
        list(splits.train[label]),
        list(splits.validation[text]),
        list(splits.validation[label]),
        deadline=phase_started + given,
    )
    results.phase(
        "linear_teacher",
        time.time() - phase_started,
        given_seconds=round(given, 1),
        eval_accuracy=linear.eval_accuracy,
        by_epoch=linear.history,
        features=len(linear.vocabulary),
        order=linear.order,
        learning_rate=linear.learning_rate,
        l2=linear.l2,
        stopped_by_time_budget=linear.stopped_by_time_budget,
    )
    return linear


def _student_phase(run, command, recipe, extra, seconds, results) -> dict:
    """The student: the recipe's model trained on the training rows and the soft-labelled ones within `seconds`."""
    from .trainer import train

    phase_started = time.time()
    seconds = max(seconds, LEAST_TRAINING_SECONDS)
    fit = run.model.fit_schedule_to_budget or recipe.get("fit_schedule_to_budget", False)
    model = dataclasses.replace(run.model, max_train_seconds=seconds, fit_schedule_to_budget=fit)
    student = dataclasses.replace(run, model=model)
    # An ablation (scripts/ablate_cpu_best.py) reads validation only: the test split just takes its texts out.
    read_test = recipe.get("read_test", True)
    metrics = train(student, command=command, extra_train=extra, read_test=read_test)
    results.phase(
        "student",
        time.time() - phase_started,
        given_seconds=round(seconds, 1),
        training_seconds=metrics.get("time_budget_training_seconds"),
        reserved_for_final_evaluation_seconds=metrics.get("time_budget_reserved_seconds"),
        eval_accuracy=metrics.get("eval_accuracy"),
        test_accuracy=metrics.get("test_accuracy"),
        epochs=metrics.get("epoch"),
        train_rows=metrics.get("train_samples"),
        stopped_by_time_budget=metrics.get("epoch", 0) < run.training.num_train_epochs - 1e-6,
    )
    return metrics


def _train_bilstm_teacher(run, command, recipe, teacher_dir, left, results):
    from ..presets import PRESETS
    from .trainer import train

    phase_started = time.time()
    given = max(BILSTM_TEACHER_BUDGET_SHARE * left, LEAST_TRAINING_SECONDS)
    preset = recipe["teacher_preset"]
    # --num_train_epochs given is the teacher's too; otherwise the teacher preset's.
    epochs = (
        {} if "num_train_epochs" in run.given else {"num_train_epochs": PRESETS[preset].training["num_train_epochs"]}
    )
    teacher = with_preset(run, preset, max_train_seconds=given, overwrite_output_dir=False)
    teacher = dataclasses.replace(
        teacher,
        training=dataclasses.replace(run.training, output_dir=teacher_dir, push_to_hub=False, **epochs),
        preset_reason=f"the BiLSTM teacher of --preset {run.preset}",
    )
    teacher_metrics = train(teacher, command=f"{command}  # teacher", read_test=False)
    results.phase(
        "bilstm_teacher",
        time.time() - phase_started,
        given_seconds=round(given, 1),
        folder=teacher_dir,
        eval_accuracy=teacher_metrics.get("eval_accuracy"),
        epochs=teacher_metrics.get("epoch"),
        stopped_by_time_budget=teacher_metrics.get("epoch", 0) < teacher.training.num_train_epochs - 1e-6,
    )


def _unlabelled_texts(raw, data_args, preset: str) -> list[str]:
    """Every unlabelled text the data has (hf_bilstm.unlabelled: its unlabelled splits and --unlabelled_file),
    refused before any phase when there is none."""
    from ..unlabelled import UNLABELLED_SPLIT_NAMES, unlabelled_texts

    texts, _ = unlabelled_texts(raw, data_args)
    if not texts:
        raise UsageError(
            f"--preset {preset} labels unlabelled texts, but the data has none (no split named "
            f"{' / '.join(UNLABELLED_SPLIT_NAMES)} with text; it has {sorted(raw)}); give them with "
            "--unlabelled_file, or train with --preset cpu."
        )
    return texts
