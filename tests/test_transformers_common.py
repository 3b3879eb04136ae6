"""
transformers' own common model and config tests (`ModelTesterMixin`, `ConfigTester`, vendored from transformers
5.25.0 under `transformers_common/`) on every architecture kind of hf_bilstm: the stacked and the per-direction
BiLSTM, the packed path forced on a CPU, a unidirectional GRU, an Elman RNN, and the pretraining head.

Each flag below that turns a common test off names the feature a recurrent model does not have.
"""

import unittest

import pytest
from transformers.models.auto import modeling_auto
from transformers_common import require_vendored_version

from hf_bilstm import BiLSTMConfig, BiLSTMForPreTraining, BiLSTMForSequenceClassification, BiLSTMModel

require_vendored_version()  # the mixins import this transformers release's internals

from transformers_common.test_configuration_common import ConfigTester  # noqa: E402
from transformers_common.test_modeling_common import ModelTesterMixin, ids_tensor, random_attention_mask  # noqa: E402

# The mixins pick labels and skip base models by looking class names up in transformers' tables of its own models;
# listed there, hf_bilstm is tested exactly as a model inside transformers would be.
_AUTO_NAMES = {
    "MODEL_MAPPING_NAMES": "BiLSTMModel",
    "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES": "BiLSTMForSequenceClassification",
    "MODEL_FOR_PRETRAINING_MAPPING_NAMES": "BiLSTMForPreTraining",
}


@pytest.fixture(autouse=True, scope="module")
def _listed_as_a_transformers_model():
    for table, name in _AUTO_NAMES.items():
        getattr(modeling_auto, table)[BiLSTMConfig.model_type] = name
    yield
    for table in _AUTO_NAMES:
        getattr(modeling_auto, table).pop(BiLSTMConfig.model_type, None)


class BiLSTMModelTester:
    """Tiny configs and inputs for the common tests; `config_overrides` picks the architecture kind."""

    def __init__(self, parent, batch_size=3, seq_length=7, vocab_size=40, hidden_size=8, num_hidden_layers=2,
                 num_labels=3, is_training=True, **config_overrides):  # fmt: skip
        self.parent = parent
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.vocab_size = vocab_size
        # hidden_states[0] is the embeddings: the tests read its width as `hidden_size`, so both are the same here.
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_labels = num_labels
        self.is_training = is_training
        self.config_overrides = config_overrides

    def get_config(self) -> BiLSTMConfig:
        return BiLSTMConfig(
            vocab_size=self.vocab_size,
            embedding_dim=self.hidden_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_hidden_layers,
            classifier_hidden_size=5,
            id2label={i: f"label_{i}" for i in range(self.num_labels)},
            **self.config_overrides,
        )

    def prepare_config_and_inputs_for_common(self):
        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size)
        attention_mask = random_attention_mask([self.batch_size, self.seq_length])
        return self.get_config(), {"input_ids": input_ids, "attention_mask": attention_mask}


class _CommonTests(ModelTesterMixin):
    """The common model tests, with the flags that a recurrent model needs."""

    config_overrides: dict = {}
    all_model_classes = (BiLSTMModel, BiLSTMForSequenceClassification)
    has_attentions = False  # no attention layers: nothing to return as `attentions` (the only test flag set here)

    def setUp(self):
        self.model_tester = BiLSTMModelTester(self, **self.config_overrides)
        self.config_tester = ConfigTester(
            self,
            config_class=BiLSTMConfig,
            # no num_attention_heads: a recurrent model has no attention heads
            common_properties=["hidden_size", "num_hidden_layers"],
            vocab_size=40,
            hidden_size=8,
        )

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs_dict = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels and model_class is BiLSTMForPreTraining:
            # A bidirectional language model's labels are its own tokens (it shifts them itself, both ways).
            inputs_dict["labels"] = inputs_dict["input_ids"].clone()
        return inputs_dict

    def test_config(self):
        self.config_tester.run_common_tests()


class StackedBiLSTMTest(_CommonTests, unittest.TestCase):
    config_overrides = {"rnn_type": "lstm", "bidirectional": True, "rnn_implementation": "padded"}


class PerDirectionBiLSTMTest(_CommonTests, unittest.TestCase):
    config_overrides = {"rnn_type": "lstm", "bidirectional": True, "separate_directions": True}


class PackedBiLSTMTest(_CommonTests, unittest.TestCase):
    # cuDNN's path, forced on the CPU: PackedSequence through nn.LSTM
    config_overrides = {"rnn_type": "lstm", "bidirectional": True, "rnn_implementation": "packed"}


class UnidirectionalGRUTest(_CommonTests, unittest.TestCase):
    config_overrides = {"rnn_type": "gru", "bidirectional": False}


class ElmanRNNTest(_CommonTests, unittest.TestCase):
    config_overrides = {"rnn_type": "rnn", "bidirectional": True, "pooling": "max_mean"}


class PreTrainingHeadTest(_CommonTests, unittest.TestCase):
    config_overrides = {"rnn_type": "lstm", "bidirectional": True, "separate_directions": True}
    all_model_classes = (BiLSTMForPreTraining,)
