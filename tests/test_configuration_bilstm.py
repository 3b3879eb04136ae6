import pytest
from transformers import AutoConfig

import hf_bilstm  # noqa: F401  (registers the auto classes)
from hf_bilstm import BiLSTMConfig


def test_defaults_are_the_tutorial_architecture():
    config = BiLSTMConfig()
    assert (config.embedding_dim, config.hidden_size, config.num_layers) == (200, 64, 2)
    assert config.bidirectional and config.rnn_type == "lstm" and config.dropout == 0.5
    assert config.pooling == "last" and config.classifier_hidden_size == 20 and config.num_labels == 2
    assert config.pooled_size == 128  # fc 128 -> 20 -> 2


def test_pooled_size_follows_pooling_and_directions():
    assert BiLSTMConfig(pooling="max_mean").pooled_size == 256
    assert BiLSTMConfig(pooling="max", bidirectional=False).pooled_size == 64


def test_save_load_round_trip_through_autoconfig(tmp_path):
    config = BiLSTMConfig(vocab_size=123, rnn_type="gru", pooling="max_mean", id2label={0: "neg", 1: "pos"})
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, BiLSTMConfig)
    assert (loaded.vocab_size, loaded.rnn_type, loaded.pooling) == (123, "gru", "max_mean")
    assert loaded.id2label == {0: "neg", 1: "pos"} and loaded.label2id == {"neg": 0, "pos": 1}
    assert loaded.num_labels == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rnn_type="transformer"), r"rnn_type must be one of \['lstm', 'gru', 'rnn'\].*'transformer'"),
        (dict(pooling="attention"), r"pooling must be one of \['last', 'max', 'mean', 'max_mean'\].*'attention'"),
        (dict(vocab_size=0), r"vocab_size must be a positive integer.*0"),
        (dict(embedding_dim=-5), r"embedding_dim must be a positive integer.*-5"),
        (dict(hidden_size=2.5), r"hidden_size must be a positive integer.*2.5"),
        (dict(num_layers=0), r"num_layers must be a positive integer.*0"),
        (dict(classifier_hidden_size=-1), r"classifier_hidden_size must be an integer >= 0.*-1"),
        (dict(dropout=1.0), r"dropout must be a number in \[0, 1\).*1.0"),
        (dict(dropout=-0.1), r"dropout must be a number in \[0, 1\).*-0.1"),
        (dict(embedding_dropout=1.5), r"embedding_dropout must be a number in \[0, 1\).*1.5"),
        (dict(classifier_dropout="0.1"), r"classifier_dropout must be a number in \[0, 1\)"),
        (dict(bidirectional="yes"), r"bidirectional must be True or False"),
        (dict(pad_token_id=100, vocab_size=100), r"pad_token_id must be an integer in \[0, vocab_size=100\)"),
        (dict(num_labels=3, id2label={0: "neg", 1: "pos"}), r"num_labels=3 but id2label has 2 entries"),
        (dict(id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 5}), r"label2id .* does not match id2label"),
    ],
)
def test_bad_values_raise_value_error_naming_value_and_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BiLSTMConfig(**kwargs)


def test_bad_config_json_is_caught_on_load(tmp_path):
    BiLSTMConfig().save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(path.read_text().replace('"rnn_type": "lstm"', '"rnn_type": "lstn"'))
    with pytest.raises(ValueError, match="rnn_type must be one of"):
        AutoConfig.from_pretrained(tmp_path)


def test_importing_twice_is_harmless():
    import importlib

    importlib.reload(hf_bilstm)
    assert AutoConfig.for_model("bilstm").__class__.__name__ == "BiLSTMConfig"
