"""Parsing shared by every command: a misspelled flag names the closest real one; pretrain's TrainingArguments."""

import subprocess
import sys

import pytest

from hf_bilstm import cli
from hf_bilstm.data import UsageError
from hf_bilstm.flag_parser import closest_flag
from hf_bilstm.training import pretraining

KNOWN = {"--output_dir"}
# One misspelling per command, and the flag it must point to.
MISSPELLED = [
    ("train", ["--output_dir", "out", "--hiden_size", "8"], "--hidden_size"),
    ("train", ["--output_dir", "out", "--learning-rat", "0.1"], "--learning-rate"),
    ("pretrain", ["--output_dir", "out", "--embeding_dim", "8"], "--embedding_dim"),
    ("evaluate", ["model", "--max_sample", "3"], "--max_samples"),
    ("predict", ["model", "a text", "--batchsize", "2"], "--batch_size"),
    ("push", ["folder", "alice/name", "--licence", "mit"], "--license"),
    ("export", ["folder", "--quantise"], "--quantize"),
]


@pytest.mark.parametrize("command, argv, suggestion", MISSPELLED, ids=[f"{c} {s}" for c, _, s in MISSPELLED])
def test_a_misspelled_flag_names_the_closest_real_one(command, argv, suggestion, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # nothing may be written, and nothing is: parsing fails first
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    wrong = next(token for token in argv if token.startswith("--") and token.split("=")[0] not in KNOWN)
    assert err[0] == f"hf-bilstm {command}: error: unrecognized argument {wrong} (did you mean {suggestion}?)"
    assert list(tmp_path.iterdir()) == []


def test_closest_flag_answers_in_the_users_spelling_and_only_when_close():
    known = ["--hidden_size", "--hidden-size", "--help", "-h"]
    assert closest_flag("--hiden_size=8", known) == "--hidden_size"
    assert closest_flag("--hiden-size", known) == "--hidden-size"
    assert closest_flag("--completely_unrelated", known) is None


def test_pretrain_takes_training_arguments_with_language_model_defaults(tmp_path):
    args, training_args = pretraining.parse_args(["--output_dir", str(tmp_path), "--hidden_size", "32"])
    assert args.hidden_size == 32 and training_args.output_dir == str(tmp_path)
    # The defaults a run uses, which --help shows: an LM's, not the Trainer's stock ones.
    assert training_args.learning_rate == 2e-3 and training_args.warmup_steps == 0.02
    assert training_args.lr_scheduler_type.value == "cosine" and training_args.per_device_train_batch_size == 64
    assert training_args.max_grad_norm == 1.0 and training_args.save_strategy.value == "no"
    assert training_args.per_device_eval_batch_size == 64
    _, training_args = pretraining.parse_args(
        ["--output_dir", str(tmp_path), "--warmup-steps", "0.1", "--per_device_train_batch_size", "8"]
    )
    assert training_args.warmup_steps == 0.1 and training_args.per_device_eval_batch_size == 8  # flags win
    help_text = " ".join(pretraining.make_parser().format_help().split())
    assert "(default: 0.002)" in help_text and "(default: cosine)" in help_text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--warmup_ratio", "0.1"], "--warmup_steps 0.02"),
        (["--save_strategy", "steps"], "--save_strategy"),
        ([], "give --output_dir"),
    ],
)
def test_pretrain_refuses_flags_it_would_ignore(argv, message, tmp_path):
    with pytest.raises(UsageError, match=message):
        pretraining.parse_args(argv + (["--output_dir", str(tmp_path)] if message != "give --output_dir" else []))


@pytest.mark.slow  # a fresh Python process (torch and transformers imported again: seconds)
def test_evaluate_does_not_load_the_train_command():
    code = "import sys, hf_bilstm.inference; print(sorted(m for m in sys.modules if m.startswith('hf_bilstm.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "hf_bilstm.inference" in loaded and "hf_bilstm.training.trainer" not in loaded, loaded


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_bf16_on_a_cpu_without_native_bf16_is_one_line_before_any_work(command, tmp_path, monkeypatch):
    from hf_bilstm import arguments, presets

    monkeypatch.setattr(presets, "cpu_has_native_bf16", lambda: False)
    argv = ["--dataset", str(tmp_path / "none"), "--output_dir", str(tmp_path / "out"), "--bf16", "true"]
    argv += ["--use_cpu", "true"]
    with pytest.raises(UsageError, match=r"--bf16 true needs a CPU with native bf16.*Leave --bf16 out"):
        if command == "train":
            arguments.parse_args(argv)
        else:
            pretraining.check_arguments(*pretraining.parse_args(argv))
    assert not (tmp_path / "out").exists()


def test_the_flags_given_come_from_the_parser():
    from hf_bilstm import arguments

    parser = arguments.make_parser()
    # A value that starts with `--` (through `=`) is a value, not a flag.
    assert parser.parse_given(["--label_separator=--hidden_size"]) == {"label_separator": "--hidden_size"}
    # `--no_x` gives x (False); a dash spelling gives the field; `-h` is `help`.
    given = parser.parse_given(["--no_dataloader_pin_memory", "--hidden-size", "8", "-h"])
    assert given == {"dataloader_pin_memory": False, "hidden_size": 8, "help": True}
    # Nothing after `--` is a flag: train takes no words, so they are refused (exit 2), not counted as given.
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_given(["--output_dir", "out", "--", "--hidden_size", "8"])
    assert exit_info.value.code == 2
    assert parser.get_default("learning_rate") == 5e-5  # the parser's defaults are back after the pass


def test_words_after_a_double_dash_are_positional_not_flags():
    from dataclasses import dataclass

    from hf_bilstm.flag_parser import FlagParser, option, positional

    @dataclass
    class Texts:
        texts: list = positional("texts", nargs="*")
        batch_size: int = option(8, "rows at once")

    assert FlagParser(Texts).parse_given(["--", "--batch_size", "2"]) == {"texts": ["--batch_size", "2"]}


def test_a_value_given_wins_over_the_preset_even_when_equal_to_it(tmp_path):
    from hf_bilstm import arguments

    argv = ["--output_dir", str(tmp_path), "--preset", "tutorial", "--learning_rate", "0.003"]
    run = arguments.parse_settings(argv)
    assert run.training.learning_rate == 0.003 and run.training.num_train_epochs == 10  # the user's; the preset's
    # --num_train_epochs 4 is the `cpu` preset's value, but given: a small training set does not get more epochs.
    run = arguments.parse_settings(["--output_dir", str(tmp_path), "--preset", "cpu", "--num_train_epochs", "4"])
    assert "num_train_epochs" in run.given and "learning_rate" not in run.given
    assert run.training.num_train_epochs == 4 and run.training.learning_rate == 3e-3


def test_help_shows_the_values_of_the_preset_chosen(capsys):
    from hf_bilstm import arguments

    with pytest.raises(SystemExit) as exit_info:
        arguments.parse_settings(["--preset", "tutorial", "-h"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert exit_info.value.code == 0 and "preset 'tutorial'" in help_text
    assert "--hidden-size HIDDEN_SIZE Units per direction (default: preset). (default: 64)" in help_text
    assert "(default: 0.001)" in help_text  # the tutorial's learning rate


def test_what_is_not_a_flag_travels_beside_the_arguments(tmp_path):
    import dataclasses

    from hf_bilstm import arguments

    argv = ["--dataset", str(tmp_path), "--output_dir", str(tmp_path / "out"), "--hidden_size", "32"]
    argv += ["--use_cpu", "true", "--word_dropout", "0.1", "--label_names", "neg", "pos"]
    run = arguments.parse_settings(argv)
    assert all(item.init for item in dataclasses.fields(arguments.ModelArguments))  # nothing filled in afterwards
    assert "hidden_size" in run.given and run.finetuning.word_dropout == 0.1
    assert run.data.label_names == "neg,pos" and run.training.label_names is None  # our class names, not input keys
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.preset = "base"
    # A phase of `cpu-best` trains with other values: what the user gave comes along.
    teacher = dataclasses.replace(run, model=dataclasses.replace(run.model, preset="base"), preset="base")
    assert teacher.given == run.given and teacher.finetuning is run.finetuning and run.model.preset == "cpu"


def test_the_presets_model_and_tokenizer_values_are_the_parsers_defaults(tmp_path, monkeypatch):
    from hf_bilstm import arguments
    from hf_bilstm.presets import PRESETS

    run = arguments.parse_settings(["--output_dir", str(tmp_path), "--preset", "base", "--hidden_size", "32"])
    expected = {**PRESETS["base"].model, **PRESETS["base"].tokenizer, "hidden_size": 32}
    assert {name: getattr(run.model, name) for name in expected} == expected  # no None standing for "the preset's"
    # A folder to fine-tune brings its own architecture and tokenizer: those stay unset (None: the folder's).
    monkeypatch.setattr(arguments, "check_flags", lambda settings: None)  # no folder exists here
    run = arguments.parse_settings(["--output_dir", str(tmp_path), "--model_name_or_path", str(tmp_path)])
    assert run.model.hidden_size is None and run.model.max_length is None


def test_another_presets_phase_takes_its_values_for_the_flags_not_given(tmp_path):
    from hf_bilstm import arguments
    from hf_bilstm.presets import PRESETS

    run = arguments.parse_settings(["--output_dir", str(tmp_path), "--preset", "cpu", "--hidden_size", "32"])
    teacher = arguments.with_preset(run, "base", max_train_seconds=60)
    assert teacher.preset == teacher.model.preset == "base" and teacher.model.max_train_seconds == 60
    assert teacher.model.hidden_size == 32  # given: the user's for every phase
    assert teacher.model.embedding_dim == PRESETS["base"].model["embedding_dim"] != run.model.embedding_dim
    assert teacher.model.max_length == PRESETS["base"].tokenizer["max_length"]
    assert teacher.given == run.given and run.model.preset == "cpu"
