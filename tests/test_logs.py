"""hf_bilstm.logs: the package's loggers propagate to an application's handlers, follow --log_level, and library
messages never name the command line."""

import ast
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import TrainingArguments
from transformers.utils import logging as transformers_logging

from hf_bilstm import logs

PACKAGE = Path(logs.__file__).resolve().parent


def test_messages_reach_the_applications_root_handlers(caplog, capsys):
    logs.get_logger("hf_bilstm.test_logs").warning("a warning of the package")
    assert [record.getMessage() for record in caplog.records if record.name == "hf_bilstm.test_logs"] == [
        "a warning of the package"
    ]
    assert capsys.readouterr().err == "a warning of the package\n"  # caplog prints nothing: the package's handler does


def test_a_message_shows_once_when_the_application_prints_the_root_logger(capsys):
    handler = logging.StreamHandler(sys.stderr)  # what logging.basicConfig() installs, in its own format
    handler.setFormatter(logging.Formatter("app: %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        logs.get_logger("hf_bilstm.test_logs").warning("shown once")
    finally:
        logging.getLogger().removeHandler(handler)
    assert capsys.readouterr().err == "app: hf_bilstm.test_logs: shown once\n"


@pytest.mark.parametrize("log_level, shown", [("error", False), ("warning", True), ("passive", True)])
def test_log_level_sets_the_packages_level(tmp_path, capsys, package_log_level, log_level, shown):
    package_log_level.setLevel(logging.WARNING)
    logs.follow_log_level(TrainingArguments(output_dir=str(tmp_path), log_level=log_level, report_to="none"))
    logs.get_logger("hf_bilstm.test_logs").warning("a warning")
    assert ("a warning" in capsys.readouterr().err) is shown


def test_info_follows_log_level_over_the_commands_default(tmp_path, capsys, package_log_level):
    logs.show_progress()  # `train`'s default: information shows
    logs.follow_log_level(TrainingArguments(output_dir=str(tmp_path), log_level="warning", report_to="none"))
    logs.get_logger("hf_bilstm.test_logs").info("progress")
    assert "progress" not in capsys.readouterr().err


def test_transformers_verbosity_sets_the_packages_level_until_one_is_set(capsys, package_log_level):
    # a user's script: transformers.logging.set_verbosity_*() governs hf_bilstm's messages as a transformers model's
    package_log_level.setLevel(logging.NOTSET)
    logger = logs.get_logger("hf_bilstm.test_logs")
    verbosity = transformers_logging.get_verbosity()
    try:
        logger.info("hidden by default")
        transformers_logging.set_verbosity_info()
        logger.info("shown at info")
        transformers_logging.set_verbosity_error()
        logger.warning("hidden at error")
        logger.error("shown at error")
        package_log_level.setLevel(logging.INFO)  # a level set on hf_bilstm's logger (a command, --log_level) wins
        logger.info("shown: hf_bilstm's own level")
    finally:
        transformers_logging.set_verbosity(verbosity)
    assert capsys.readouterr().err == "shown at info\nshown at error\nshown: hf_bilstm's own level\n"


@pytest.mark.slow  # a fresh process (TRANSFORMERS_VERBOSITY is read when transformers' logging starts); the test above
def test_transformers_verbosity_in_the_environment_sets_the_packages_level():  # covers the rule in-process
    code = "from hf_bilstm import logs; logs.get_logger('hf_bilstm.x').info('shown at info')"
    env = {**os.environ, "TRANSFORMERS_VERBOSITY": "info"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "shown at info" in result.stderr


def test_predict_and_evaluate_keep_the_packages_warnings_while_transformers_goes_quiet(capsys, package_log_level):
    package_log_level.setLevel(logging.NOTSET)
    with logs.quiet_libraries():
        logs.get_logger("hf_bilstm.test_logs").warning("still shown")
        transformers_logging.get_logger("transformers.test_logs").warning("quiet")
    assert package_log_level.own_level == logging.NOTSET
    assert capsys.readouterr().err == "still shown\n"


COMMAND_NAME = re.compile(r"hf-bilstm [a-z-]+:")
# Where the command line's name belongs: the commands themselves (their results, their one error handler).
CLI_MODULES = {"cli.py"}
CLI_FOLDERS = {"commands"}


def library_strings():
    """Every string literal (f-string parts included) of the library modules, with its file:line; a Hub commit
    message is data, not a message to the user."""
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in CLI_FOLDERS or relative.name in CLI_MODULES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        data = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.keyword) and node.arg == "commit_message"
            for inner in ast.walk(node.value)
        }
        for node in ast.walk(tree):  # f-strings too: their literal parts are constants
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in data:
                yield f"{relative}:{node.lineno}", node.value


def test_library_messages_do_not_name_the_command_line():
    named = [where for where, text in library_strings() if COMMAND_NAME.search(text)]
    assert named == [], f"library messages naming the command line (only hf_bilstm/commands and cli.py may): {named}"


def test_int8_quantization_leaves_no_handler_on_the_root_logger(monkeypatch, tmp_path, capsys):
    # onnxruntime's quantize_dynamic warns through `logging.warning`, which gives a root logger without handlers
    # basicConfig's stderr handler: hf_bilstm's later messages would then print in that format
    quantization = pytest.importorskip("onnxruntime.quantization", reason="the onnx extra is not installed")
    from hf_bilstm.onnx import export as onnx_export

    def quantize_dynamic(*args, **kwargs):
        logging.warning("Please consider to run pre-processing before quantization.")

    monkeypatch.setattr(quantization, "quantize_dynamic", quantize_dynamic)
    monkeypatch.setattr(onnx_export, "quantize_embeddings", lambda path: None)  # the stub above writes no file
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # a plain process: pytest's capture handlers away
    onnx_export.quantize_int8(str(tmp_path / "model.onnx"), str(tmp_path / "model_quantized.onnx"))
    assert logging.getLogger().handlers == []
    logs.get_logger("hf_bilstm.test_logs").warning("later")
    assert capsys.readouterr().err == "later\n"
