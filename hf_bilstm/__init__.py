"""hf_bilstm: recurrent (BiLSTM / GRU) text classifiers that are native transformers models."""

# First, before transformers loads torch: torch's threads spin only briefly before they sleep (GOMP_SPINCOUNT=300,
# OMP_WAIT_POLICY=PASSIVE unless the user set them), or a busy core slows training 10-36x (hf_bilstm/cpu_threads.py).
from . import cpu_threads  # noqa: F401

# isort: split
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining, AutoModelForSequenceClassification

from .configuration_bilstm import BiLSTMConfig
from .modeling_bilstm import (
    BiLSTMForPreTraining,
    BiLSTMForSequenceClassification,
    BiLSTMModel,
    BiLSTMPreTrainedModel,
)
from .tokenization_bilstm import train_tokenizer

__version__ = "0.1.0"

# exist_ok: importing twice (or after a remote-code load registered the same names) is harmless.
AutoConfig.register(BiLSTMConfig.model_type, BiLSTMConfig, exist_ok=True)
AutoModel.register(BiLSTMConfig, BiLSTMModel, exist_ok=True)
AutoModelForSequenceClassification.register(BiLSTMConfig, BiLSTMForSequenceClassification, exist_ok=True)
AutoModelForPreTraining.register(BiLSTMConfig, BiLSTMForPreTraining, exist_ok=True)

__all__ = [
    "BiLSTMConfig",
    "BiLSTMForPreTraining",
    "BiLSTMForSequenceClassification",
    "BiLSTMModel",
    "BiLSTMPreTrainedModel",
    "train_tokenizer",
    "__version__",
]
