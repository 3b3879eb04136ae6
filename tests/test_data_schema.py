"""data_schema.json: what a model folder remembers of its training data, written by train, read by the others."""

import json

import pytest
from helpers import QUIET, TINY, save_tiny_model, write_toy_dataset

from hf_bilstm.commands import train as train_cmd
from hf_bilstm.data_schema import (
    MULTI_LABEL,
    SCHEMA_FILE,
    DataSchema,
    load_schema,
    save_schema,
)
from hf_bilstm.errors import UsageError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_schema_round_trips_and_joins_text_columns(tmp_path):
    schema = DataSchema(
        problem_type=MULTI_LABEL,
        text_columns=["title", "description"],
        label_columns=["labels"],
        label_separator=",",
        label_names=["anger", "joy"],
        label_values=["0", "1"],
        column_names=["text", "labels", "id"],
        id_column="id",
    )
    save_schema(str(tmp_path), schema)
    assert load_schema(str(tmp_path)) == schema
    assert schema.join_texts({"title": ["A", None], "description": ["b", "c"]}) == ["A b", "c"]
    assert [p.name for p in tmp_path.iterdir()] == [SCHEMA_FILE]  # no temporary file left behind


def test_a_folder_without_the_file_reads_as_text_and_label_columns(tmp_path):
    model, _ = save_tiny_model(tmp_path)
    schema = load_schema(str(tmp_path), model.config)
    assert schema.text_columns == ["text"] and schema.label_columns == ["label"]
    assert schema.label_names == ["neg", "pos"] and schema.problem_type == "single_label_classification"


def test_a_damaged_schema_is_refused_naming_the_file(tmp_path):
    (tmp_path / SCHEMA_FILE).write_text('{"problem_type": "ranking", "text_columns": []}')
    with pytest.raises(UsageError, match="data_schema.json.*problem_type 'ranking'"):
        load_schema(str(tmp_path))


def test_train_writes_the_schema_into_the_model_folder(tmp_path):
    data = write_toy_dataset(tmp_path / "data", n_train=60, n_test=20)
    out = tmp_path / "model"
    argv = ["--dataset", data, "--output_dir", str(out), *TINY, *QUIET, "--num_train_epochs", "1"]
    assert train_cmd.main(argv) == 0
    saved = json.loads((out / SCHEMA_FILE).read_text())
    assert saved["text_columns"] == ["text"] and saved["label_columns"] == ["label"]
    assert saved["label_names"] == ["neg", "pos"] and saved["problem_type"] == "single_label_classification"
