"""`hf-bilstm train`'s arguments: the dataclasses, and every check of them before any data is read.

`parse_settings` reads the command line once (hf_bilstm.flag_parser.FlagParser.parse_given: the flags written, as
argparse read them), chooses the preset from them, and builds the dataclasses from the defaults (every preset's and
this preset's training settings, this preset's model and tokenizer unless --model_name_or_path brings its own, the
hardware's: hf_bilstm.presets) with the flags given on top; `--help` shows those defaults. What is no flag (the
preset chosen and why, the names of the flags given) travels beside the arguments in `RunSettings`."""

import dataclasses
import os
from dataclasses import dataclass, field

from transformers import TrainingArguments

from .data_flags import check_data_flags
from .errors import UsageError
from .flag_checks import (
    check_architecture,
    check_dataset_flag,
    check_model_flag,
    check_number,
    check_run_size,
    check_tokenizer_flags,
    check_training_numbers,
)
from .flag_parser import FlagParser, dataclass_from, not_a_flag
from .json_files import read_json
from .presets import (
    AUTO_PRESET,
    COMMON_TRAINING,
    DEFAULT_PRESET,
    GPU_PRESET,
    PRESETS,
    choose_preset,
    hardware_defaults,
    is_recipe,
    resolve,
    word_vectors_epochs,
    word_vectors_split_names,
)
from .splits import check_validation_split_name
from .training.finetuning import FineTuningArguments
from .training.time_budget import check_budget_size

# ----------------------------------------------------------------------------------------------------------------
# `hf-bilstm train`

# The flags that name data files (inputs an output folder must not overwrite).
DATA_FILE_FLAGS = ("train_file", "validation_file", "test_file", "unlabelled_file")
MODEL_FIELDS = tuple(PRESETS[GPU_PRESET].model)
HEAD_FIELDS = ("dropout", "embedding_dropout", "classifier_dropout", "classifier_hidden_size", "pooling")


@dataclass
class ModelArguments:
    """What to train: a preset (plus overrides) from scratch, or an existing model folder with a new head."""

    preset: str = field(
        default=DEFAULT_PRESET,
        metadata={
            "help": "Recipe to start from: 'auto' (default: 'base' on a GPU; otherwise 'cpu-taught' when the data "
            "has unlabelled text, an 'unsupervised'/'unlabelled' split or --unlabelled_file, and 'cpu' without it), "
            "'base' (best from scratch, sized for a GPU), 'cpu' (sized for a laptop CPU), 'cpu-taught' (the 'cpu' "
            "model taught by a linear teacher on the unlabelled text, every phase within 11 minutes), 'cpu-best' "
            "(the same at 1x192, up to an hour on 2 cores) or 'tutorial'.",
            "choices": [AUTO_PRESET, *PRESETS],
        },
    )
    print_preset: bool = field(
        default=False,
        metadata={"help": "Print the preset's settings (model, tokenizer, training) as JSON and exit; nothing runs."},
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Start from this model folder (or Hub id): its tokenizer and encoder weights, a new "
            "classification head. Default: a new model built from the preset."
        },
    )
    rnn_type: str | None = field(default=None, metadata={"help": "lstm, gru or rnn (default: from the preset)."})
    embedding_dim: int | None = field(default=None, metadata={"help": "Embedding size (default: preset)."})
    hidden_size: int | None = field(default=None, metadata={"help": "Units per direction (default: preset)."})
    num_layers: int | None = field(default=None, metadata={"help": "Recurrent layers (default: preset)."})
    pooling: str | None = field(default=None, metadata={"help": "last, max, mean or max_mean (default: preset)."})
    dropout: float | None = field(default=None, metadata={"help": "Dropout between recurrent layers."})
    embedding_dropout: float | None = field(default=None, metadata={"help": "Dropout on the embeddings."})
    classifier_dropout: float | None = field(default=None, metadata={"help": "Dropout in the classifier."})
    classifier_hidden_size: int | None = field(default=None, metadata={"help": "Classifier hidden width (0: none)."})
    vocab_size: int | None = field(default=None, metadata={"help": "Largest vocabulary of the new tokenizer."})
    min_frequency: int | None = field(default=None, metadata={"help": "Rarer words become [UNK]."})
    max_length: int | None = field(default=None, metadata={"help": "Texts are cut to this many tokens."})
    truncation_side: str | None = field(
        default=None,
        metadata={
            "help": "Which end of a longer text is cut: right (keep its beginning) or left (keep its end); "
            "default: preset.",
            "choices": ["right", "left"],
        },
    )
    word_vectors_epochs: int | None = field(
        default=None,
        metadata={
            "help": "Start the embedding from skip-gram word2vec vectors trained for this many epochs on the "
            "training rows plus --word_vectors_splits (needs gensim: pip install -e '.[word2vec]'); 0: a random "
            "embedding. Default: the preset's (0 unless it says otherwise)."
        },
    )
    word_vectors_splits: str = field(
        default="unsupervised",
        metadata={
            "help": "Comma-separated unlabelled splits whose text also trains the word vectors ('' for none; never "
            "a test or validation split). A split the dataset lacks is refused."
        },
    )
    class_weights: str | None = field(
        default=None,
        metadata={
            "help": "'balanced': weigh the loss of each class by n_rows / (n_classes * its rows) (multi-label: "
            "each label's positives by its negatives / positives), for imbalanced classes. Default: none.",
            "choices": ["balanced"],
        },
    )
    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "Stop after this many evaluations without a better validation accuracy."}
    )
    max_train_seconds: float | None = field(
        default=None,
        metadata={
            "help": "Time budget of the whole run, from its start: loading and tokenizing count against it, word "
            "vectors (when on) get at most a quarter of what is left, and training stops early (at an epoch's end "
            "when the next would not fit, or once only the final evaluation's estimated time is left), keeping the "
            "best checkpoint so far; the results say so. At least 10 s (30 s for the recipes cpu-taught and "
            "cpu-best, whose own budgets it replaces). Default: no limit (cpu-taught: 660 s, cpu-best: 3,300 s)."
        },
    )
    fit_schedule_to_budget: bool = field(
        default=False,
        metadata={
            "help": "With --max_train_seconds: lay the learning-rate schedule over the time budget, so that warmup "
            "and decay end when the time does (after all epochs on a fast machine, part-way on a slow one) instead "
            "of training being cut off at a high rate. On for the student of --preset cpu-taught."
        },
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace a model already in --output_dir (refused otherwise)."}
    )


@dataclass
class DataArguments:
    """Which data: a Hub dataset id or a local folder, its columns and splits."""

    dataset: str = field(
        default="stanfordnlp/imdb",
        metadata={
            "help": "Hub dataset id, local folder (data files named by split: train.csv, dev.tsv, test.jsonl, ...; "
            "or one folder per class: train/pos/*.txt) or one data file to carve validation and test from. "
            "Default: stanfordnlp/imdb unless --train_file is given."
        },
    )
    train_file: str | None = field(
        default=None, metadata={"help": "Training data file: csv, tsv, json, jsonl, parquet or txt."}
    )
    validation_file: str | None = field(default=None, metadata={"help": "Validation data file (same formats)."})
    test_file: str | None = field(
        default=None, metadata={"help": "Test data file; without the label column(s): predictions only."}
    )
    unlabelled_file: str | None = field(
        default=None,
        metadata={
            "help": "File of texts without labels, which a taught recipe (cpu-taught, the default on a CPU with "
            "them; cpu-best) labels with its teacher and trains on: the same formats as --train_file (csv, tsv, "
            "json, jsonl, parquet; a headerless csv/tsv with --column_names; txt: one text a line), with the training "
            "data's text column(s); a label column there is ignored. It becomes the split 'unlabelled'."
        },
    )
    column_names: str | None = field(
        default=None,
        metadata={"help": "Comma-separated column names of csv/tsv files without a header row (label,title,text)."},
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Dataset configuration name."})
    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Hub id of the dataset that a local --dataset folder copies (e.g. stanfordnlp/imdb), for the "
            "card's metadata; without it the card names a local copy and declares no Hub dataset."
        },
    )
    license: str | None = field(
        default=None,
        metadata={"help": "License of the model for its card (e.g. apache-2.0). Default: the dataset card's or none."},
    )
    language: str | None = field(
        default=None,
        metadata={"help": "Language code of the texts for the card (e.g. en). Default: the dataset card's, or none."},
    )
    text_column: str = field(
        default="text",
        metadata={
            "help": "Column holding the texts; several comma-separated are joined with a space (title,description). "
            "Default: text, else a column named sentence, review, message, question, ..."
        },
    )
    label_column: str = field(
        default="label",
        metadata={
            "help": "Column holding the labels: classes, a list of labels or cells like '0,3' (multi-label), or "
            "scores (regression); several comma-separated 0/1 columns are a multi-label problem. Default: label, "
            "else a column named labels, class, category, score, ..."
        },
    )
    label_separator: str | None = field(
        default=None, metadata={"help": "Multi-label cells such as '0,3' are split on this (',' is inferred)."}
    )
    problem_type: str | None = field(
        default=None,
        metadata={
            "help": "Default: inferred from the labels (lists or '0,3' cells: multi-label; fractions: regression).",
            "choices": ["single_label_classification", "multi_label_classification", "regression"],
        },
    )
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    validation_split: str = field(
        default="validation",
        metadata={"help": "Split for model selection; when the dataset lacks it, it is carved from train."},
    )
    test_split: str = field(
        default="test",
        metadata={
            "help": "Split evaluated once at the end ('' for none); without labels it gets predictions only "
            "(predict_results.tsv). When the data has no test split, --test_fraction of train is held out."
        },
    )
    validation_fraction: float = field(
        default=0.1, metadata={"help": "Share of train held out (stratified, seeded) when there is no validation."}
    )
    group_column: str | None = field(
        default=None,
        metadata={
            "help": "Column naming each training row's group (a product, a user, an author): the validation split "
            "(and a test split carved with --test_fraction) is carved by whole groups, so no group is on both sides; "
            "stratified by label where possible, seeded. Default: rows are carved one by one."
        },
    )
    group_by_shared_words: bool = field(
        default=False,
        metadata={
            "help": "Without a group column: carve validation (and a test split carved with --test_fraction) by "
            "groups of training rows that share rare words (a product's name, people's names), so validation shares "
            "less with train and reads closer to unseen groups (measured: scripts/ablate_validation_carve.py)."
        },
    )
    test_fraction: float = field(
        default=0.1,
        metadata={
            "help": "Share of train held out as the test split (stratified, seeded) when the data has none and "
            "--test_split is not given."
        },
    )
    # --label_names is TrainingArguments' flag (the keys of the label inputs, which are always `labels` here); it
    # names the classes instead: `--label_names neg,pos` or `--label_names neg pos` (hf_bilstm.data_flags).
    label_names: str | None = not_a_flag("Comma-separated class names, from --label_names.")
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on at most this many rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Validate on at most this many rows."})
    max_test_samples: int | None = field(default=None, metadata={"help": "Test on at most this many rows."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenizing."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where datasets caches downloads."})


# What two stock TrainingArguments flags mean here (their own help speaks of other models' inputs).
HELP_OVERRIDES = {
    "metric_for_best_model": "Validation metric that picks the best epoch: accuracy (default for classes), f1 (macro "
    "F1, better for imbalanced classes), f1_micro (default for multi-label), mse (default for regression; lower is "
    "better), pearson, loss.",
    "label_names": "Names of integer labels 0..n-1 (or 1..n), comma-separated: --label_names neg,pos. Default: a "
    "classes.txt or labels.txt beside the data (one name a line), else the label values themselves.",
}


def make_parser() -> FlagParser:
    # No abbreviations (FlagParser): `--hid 8` is refused, not read as --hidden_size.
    arguments = (ModelArguments, DataArguments, TrainingArguments, FineTuningArguments)
    parser = FlagParser(arguments, prog="hf-bilstm train")
    for action in parser._actions:
        if action.dest in HELP_OVERRIDES:
            action.help = HELP_OVERRIDES[action.dest]
    return parser


@dataclass(frozen=True)
class RunSettings:
    """Everything `hf-bilstm train` parsed: one dataclass per group of flags, and what is no flag: the preset the run
    uses (what `--preset auto` chose) and why, and the names of the flags written on the command line (a preset's or
    the hardware's defaults are not among them)."""

    model: ModelArguments
    data: DataArguments
    training: TrainingArguments
    finetuning: FineTuningArguments
    preset: str
    preset_reason: str
    given: frozenset


def run_defaults(preset: str, given: dict) -> dict:
    """The values a flag not given takes: every preset's training settings, this preset's (its model and tokenizer
    too, unless --model_name_or_path brings them: None then means the fine-tuned folder's), the hardware's, and the
    data's (--train_file without --dataset: the files are the data, not the default IMDB)."""
    defaults = {**COMMON_TRAINING, **PRESETS[preset].training, **hardware_defaults(given)}
    if "model_name_or_path" not in given:
        defaults.update(preset_fields(preset))
    if "train_file" in given and "dataset" not in given:
        defaults["dataset"] = None
    return defaults


def preset_fields(preset: str) -> dict:
    """The preset's model and tokenizer settings, which are ModelArguments' fields."""
    return {**PRESETS[preset].model, **PRESETS[preset].tokenizer}


def with_preset(settings: RunSettings, preset: str, **model_changes) -> RunSettings:
    """`settings` for another preset (cpu-best's teacher): the model and tokenizer flags not given take that preset's
    values instead of the first one's."""
    fields = {} if settings.model.model_name_or_path else preset_fields(preset)
    changes = {name: value for name, value in fields.items() if name not in settings.given}
    model = dataclasses.replace(settings.model, preset=preset, **changes, **model_changes)
    return dataclasses.replace(settings, model=model, preset=preset)


def parse_settings(argv: list[str], unlabelled: str = "") -> RunSettings:
    """Parses the command line once (FlagParser.parse_given), chooses the preset from it (`unlabelled`: the unlabelled
    text the data was found to have, for `--preset auto`; hf_bilstm.commands.train looks), then builds the arguments
    from the defaults (run_defaults) with the flags given on top, and checks every value (check_flags)."""
    parser = make_parser()
    given = parser.parse_given(argv)
    use_cpu = given.get("use_cpu", False)
    preset, preset_reason = choose_preset(given.get("preset", DEFAULT_PRESET), use_cpu=use_cpu, unlabelled=unlabelled)
    defaults = run_defaults(preset, given)
    if given.pop("help", False):
        parser.show_help(
            {**defaults, **preset_fields(preset)},  # with --model_name_or_path too: what a new model would use
            f"Train a classifier. The defaults shown are those of preset {preset!r} ({preset_reason}) on this "
            "machine; any flag given wins over them.",
        )
    values = {**defaults, **given, "preset": preset}
    if given.get("label_names"):  # TrainingArguments' flag, our class names (DataArguments.label_names)
        values["label_names"] = ",".join(given["label_names"])
    try:
        arguments = [dataclass_from(dtype, values) for dtype in (ModelArguments, DataArguments, FineTuningArguments)]
        training = dataclass_from(TrainingArguments, {**values, "label_names": None})
    except ValueError as error:  # TrainingArguments' and FineTuningArguments' own consistency checks
        raise UsageError(str(error)) from error
    model, data, finetuning = arguments
    settings = RunSettings(model, data, training, finetuning, preset, preset_reason, frozenset(given))
    if model.print_preset:  # nothing runs (hf_bilstm.commands.train prints the preset): no flag to check
        return settings
    if "output_dir" not in given:
        raise UsageError("give --output_dir FOLDER: where the trained model, its tokenizer, results and card go.")
    check_flags(settings)
    return settings


def parse_args(argv: list[str]) -> tuple[ModelArguments, DataArguments, TrainingArguments]:
    """`parse_settings`' three main dataclasses, for scripts that build parts of a run themselves."""
    settings = parse_settings(argv)
    return settings.model, settings.data, settings.training


def check_resume_flags(settings: RunSettings, checkpoint: str) -> None:
    """
    A resumed run continues the checkpoint's own model and tokenizer: a model or tokenizer flag that disagrees with
    them would be ignored, so it is refused (one that agrees is honoured; --max_length and --truncation_side apply to a
    resumed run too).
    """
    model_args, given = settings.model, settings.given
    saved = read_json(os.path.join(checkpoint, "config.json"), fix="resume from another checkpoint")
    ignored = [f"--{name}" for name in ("preset", "model_name_or_path", "min_frequency") if name in given]
    for name in MODEL_FIELDS:
        if name in given and getattr(model_args, name) != saved.get(name):
            ignored.append(f"--{name} {getattr(model_args, name)} (the checkpoint has {saved.get(name)!r})")
    if "vocab_size" in given and model_args.vocab_size < saved.get("vocab_size", 0):
        ignored.append(f"--vocab_size {model_args.vocab_size} (the checkpoint's tokenizer has {saved['vocab_size']})")
    if ignored:
        raise UsageError(
            f"--resume_from_checkpoint continues {checkpoint!r} with its own model and tokenizer, so {ignored} "
            "would be ignored; drop them, or start a new run in another --output_dir to change them."
        )


def check_flags(settings: RunSettings) -> None:
    """Every value is checked here, before any data is loaded; a flag that would be ignored is refused."""
    model_args, data_args, training_args, given = settings.model, settings.data, settings.training, settings.given
    model_settings, tokenizer_settings = resolve(model_args)
    check_architecture(model_settings)
    check_tokenizer_flags(**tokenizer_settings)
    check_number("--early_stopping_patience", model_args.early_stopping_patience, integer=True, minimum=1)
    check_run_size(model_args.max_train_seconds, data_args.max_train_samples)
    check_budget_size(model_args.max_train_seconds, recipe=is_recipe(model_args.preset))
    if model_args.fit_schedule_to_budget and model_args.max_train_seconds is None and not is_recipe(model_args.preset):
        raise UsageError(
            "--fit_schedule_to_budget lays the schedule over a time budget: give --max_train_seconds too, or drop it."
        )
    check_word_vector_flags(model_args, data_args)
    if training_args.max_steps is not None and training_args.max_steps > 0:
        if "num_train_epochs" in given:
            raise UsageError(
                "--max_steps and --num_train_epochs both set the length of training (the Trainer would ignore "
                "--num_train_epochs); give one of them."
            )
    else:
        check_number("--num_train_epochs", training_args.num_train_epochs, above=0, what="passes over the data")
    check_training_numbers(training_args)  # the Trainer's own numbers and the seed too
    check_number("--preprocessing_num_workers", data_args.preprocessing_num_workers, integer=True, minimum=1)
    check_number(
        "--validation_fraction", data_args.validation_fraction, above=0, below=1, what="share of train held out"
    )
    check_number("--test_fraction", data_args.test_fraction, above=0, below=1, what="share of train held out")
    check_data_flags(data_args, given)
    for name in ("max_train_samples", "max_eval_samples", "max_test_samples"):
        check_number(f"--{name}", getattr(data_args, name), integer=True, minimum=1)
    if "validation_split" in given:
        check_validation_split_name(data_args.validation_split, data_args.train_split)
    splits = {"--train_split": data_args.train_split, "--validation_split": data_args.validation_split}
    if data_args.test_split:
        splits["--test_split"] = data_args.test_split
    if data_args.test_split and data_args.test_split in (data_args.train_split, data_args.validation_split):
        raise UsageError(
            f"the test split {data_args.test_split!r} is also named for training or model selection ({splits}); the "
            "test split must stay unseen until the end. Name distinct splits (or --test_split '' for none)."
        )
    if model_args.model_name_or_path:
        check_model_flag(model_args.model_name_or_path)
        check_fixed_architecture(model_args.model_name_or_path, model_args)
    if data_args.dataset:
        check_dataset_flag(data_args.dataset)
    if os.path.exists(training_args.output_dir) and not os.path.isdir(training_args.output_dir):
        raise UsageError(f"--output_dir {training_args.output_dir!r} is a file, not a folder; choose another path.")


def check_word_vector_flags(model_args: ModelArguments, data_args: DataArguments) -> None:
    check_number("--word_vectors_epochs", model_args.word_vectors_epochs, integer=True, minimum=0)
    if model_args.word_vectors_epochs and model_args.model_name_or_path:
        raise UsageError(
            f"--word_vectors_epochs would replace the embedding that --model_name_or_path "
            f"{model_args.model_name_or_path!r} brings; drop one of them."
        )
    if not word_vectors_epochs(model_args):
        return
    for name in word_vectors_split_names(model_args):
        if "test" in name.lower() or name in (data_args.test_split, data_args.validation_split):
            raise UsageError(
                f"--word_vectors_splits names {name!r}: word vectors are trained on the training rows and unlabelled "
                "text only (validation picks the model, the test split is read once at the end). Use e.g. "
                "--word_vectors_splits unsupervised, or '' for the training rows alone."
            )
    from .training.word_vectors import require_gensim

    require_gensim()  # refused now, not after the tokenizer has been trained


def check_fixed_architecture(path: str, model_args: ModelArguments) -> None:
    """A model given with --model_name_or_path brings its architecture and vocabulary: flags for them are refused."""
    fixed = [
        name
        for name in ("rnn_type", "embedding_dim", "hidden_size", "num_layers", "vocab_size", "min_frequency")
        if getattr(model_args, name) is not None
    ]
    if fixed:
        raise UsageError(
            f"--model_name_or_path {path!r} fixes the architecture and vocabulary; drop {['--' + n for n in fixed]} "
            "(only head and dropout options, --max_length and --truncation_side can change)."
        )
