"""The model's Python API against hostile values (issue 33, round 3): non-finite config numbers, `inputs_embeds` of
the wrong width, and a model loaded with `return_dict=False` (docs/robustness.md, "Model inputs")."""

import io
import json
import math

import pytest
import torch
from helpers import TEXTS, save_tiny_model, tiny_classifier
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from hf_bilstm import BiLSTMConfig, inference
from hf_bilstm.commands import predict as predict_cmd


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("model")
    save_tiny_model(path)
    return path


@pytest.mark.parametrize(
    "overrides",
    [
        dict(initializer_range=math.nan),
        dict(initializer_range=math.inf),
        dict(initializer_range=-0.1),
        dict(lm_dropout=math.nan, classifier_dropout=0.1),
        dict(layer_norm_eps=math.nan),  # a number of no field of ours: still never NaN
        dict(some_scale=-math.inf),
        dict(max_position_embeddings=0),
    ],
    ids=lambda overrides: "-".join(f"{key}={value}" for key, value in overrides.items()),
)
def test_config_refuses_numbers_that_are_not_finite(overrides):
    name = next(iter(overrides))
    with pytest.raises(ValueError, match=rf"BiLSTMConfig\.{name} must be a (finite|positive|number)"):
        BiLSTMConfig(vocab_size=50, **overrides)


def test_config_json_with_a_nan_is_refused_on_loading(folder, tmp_path):
    config = json.loads((folder / "config.json").read_text())
    config["initializer_range"] = float("nan")  # json.dumps writes NaN, which json.loads (and transformers) read
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"initializer_range must be a finite number"):
        BiLSTMConfig.from_pretrained(tmp_path)


@pytest.mark.parametrize("width", [5, 17, 1])
def test_inputs_embeds_of_the_wrong_width_name_both_sizes(width):
    model = tiny_classifier()  # embedding_dim 16
    with pytest.raises(ValueError, match=rf"embedding_dim=16\), but it has \(2, 3, {width}\)") as error:
        model(inputs_embeds=torch.zeros(2, 3, width))
    assert f"last size {width}" in str(error.value)
    with pytest.raises(ValueError, match="embedding_dim=16"):
        model.bilstm(inputs_embeds=torch.zeros(1, 4, width))


def test_inputs_embeds_of_the_wrong_rank_or_dtype_say_so():
    # Hostile re-run (H34): 2-D embeddings were told about input_ids; float64 ones failed deep in torch
    # ("mat1 and mat2 must have the same dtype").
    model = tiny_classifier()
    with pytest.raises(ValueError, match=r"but it has \(3, 16\): 2 dimensions, not 3"):
        model(inputs_embeds=torch.zeros(3, 16))
    with pytest.raises(ValueError, match=r"is torch.float64, but this model's weights are torch.float32"):
        model(inputs_embeds=torch.zeros(1, 3, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"torch.float16"):
        model.bilstm(inputs_embeds=torch.zeros(1, 3, 16, dtype=torch.float16))


def test_inputs_embeds_of_the_right_width_give_the_logits_of_the_ids():
    model = tiny_classifier()
    ids = torch.tensor([[5, 6, 7]])
    expected = model(input_ids=ids).logits
    got = model(inputs_embeds=model.get_input_embeddings()(ids)).logits
    torch.testing.assert_close(got, expected)


def test_a_model_loaded_with_return_dict_false_works_in_the_python_api(folder):
    model = AutoModelForSequenceClassification.from_pretrained(folder, return_dict=False).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert isinstance(model(**tokenizer(["great"], return_tensors="pt")), tuple)  # transformers' contract kept
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer)
    reference = inference.load_classifier(str(folder), device="cpu")
    texts = TEXTS[:4]
    got, expected = inference.predict(classifier, texts), inference.predict(reference, texts)
    assert [answer["label"] for answer in got] == [answer["label"] for answer in expected]
    assert [answer["score"] for answer in got] == pytest.approx([answer["score"] for answer in expected], abs=1e-6)


def test_a_folder_whose_config_says_return_dict_false_works_in_predict(folder, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    config = json.loads((copy / "config.json").read_text())
    config["return_dict"] = False
    (copy / "config.json").write_text(json.dumps(config))
    outputs = []
    for path in (folder, copy):
        out = io.StringIO()
        assert predict_cmd.main([str(path), "great film", "awful", "--device", "cpu"], stdout=out) == 0
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == 2
