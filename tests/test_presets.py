"""Presets as data: `hf-bilstm train --preset NAME --print_preset` prints what a run of that preset starts from."""

import json

import pytest

from hf_bilstm.commands import train as train_cmd
from hf_bilstm.presets import PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_print_preset_prints_the_preset_as_data_and_runs_nothing(tmp_path, capsys, name):
    out = tmp_path / "never-written"
    assert train_cmd.main(["--preset", name, "--print_preset", "--output_dir", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps({"preset": name, **PRESETS[name].as_dict()}))
    assert printed["model"] == PRESETS[name].model and printed["training"] == PRESETS[name].training
    assert not out.exists()


def test_print_preset_needs_no_output_dir(capsys):
    assert train_cmd.main(["--preset", "cpu", "--print_preset"]) == 0
    assert json.loads(capsys.readouterr().out)["tokenizer"] == PRESETS["cpu"].tokenizer
