"""
Model folders in the layout hf_bilstm wrote at commit 3c0128e, built at test time: no weights live in the repository.

Saving the same model and tokenizer with 3c0128e's code and with today's, the folders differ in three files only:
- config.json had no `max_position_embeddings` (the length a model was trained on, recorded since);
- tokenizer.json split words with the `Whitespace` pre-tokenizer (today the same split is a `Split` regex);
- tokenizer_config.json named `TokenizersBackend` as the tokenizer class (today `PreTrainedTokenizerFast`).
model.safetensors held the tensor names listed below (today's are the same). Each folder is built by saving a tiny
model of today's code and rewriting those files into the old layout: config.json becomes the exact file 3c0128e wrote,
the tensors are written again under the listed old names (a module renamed without a conversion for old folders makes
the build fail, and with it the tests that load these folders). The code files stay today's copies: loading without
`trust_remote_code` never runs them.
"""

import json
import os

import torch
from safetensors.torch import load_file, save_file

from hf_bilstm import BiLSTMConfig, BiLSTMForPreTraining, BiLSTMForSequenceClassification, train_tokenizer

_AUTO_MAP = {
    "AutoConfig": "configuration_bilstm.BiLSTMConfig",
    "AutoModel": "modeling_bilstm.BiLSTMModel",
    "AutoModelForPreTraining": "modeling_bilstm.BiLSTMForPreTraining",
    "AutoModelForSequenceClassification": "modeling_bilstm.BiLSTMForSequenceClassification",
}
_COMMON = {
    "auto_map": _AUTO_MAP,
    "bidirectional": True,
    "classifier_dropout": 0.0,
    "dropout": 0.5,
    "dtype": "float32",
    "embedding_dim": 6,
    "embedding_dropout": 0.0,
    "hidden_size": 5,
    "initializer_range": 0.1,
    "model_type": "bilstm",
    "num_layers": 2,
    "pad_token_id": 0,
    "pooling": "last",
    "rnn_implementation": "auto",
    "rnn_type": "lstm",
    "transformers_version": "5.25.0",
    "validate_inputs": None,
    "vocab_size": 30,
}
# config.json as 3c0128e wrote it, key for key (no max_position_embeddings).
CONFIGS = {
    "classifier": {
        "architectures": ["BiLSTMForSequenceClassification"],
        **_COMMON,
        "classifier_hidden_size": 4,
        "id2label": {"0": "neg", "1": "pos", "2": "mixed"},
        "label2id": {"mixed": 2, "neg": 0, "pos": 1},
        "separate_directions": False,
    },
    "pretraining": {
        "architectures": ["BiLSTMForPreTraining"],
        **_COMMON,
        "classifier_hidden_size": 20,
        "separate_directions": True,
        "tie_word_embeddings": True,
    },
}


def _rnn(prefix: str, suffixes=("", "_reverse"), layers: int = 2) -> list[str]:
    return [
        f"{prefix}.{kind}_{part}_l{layer}{suffix}"
        for layer in range(layers)
        for suffix in suffixes
        for kind in ("weight", "bias")
        for part in ("ih", "hh")
    ]


# The tensor names in 3c0128e's model.safetensors (the LM's lm_head.weight is tied to the embedding and not saved).
TENSORS = {
    "classifier": [
        "bilstm.embeddings.weight",
        *_rnn("bilstm.rnn"),
        "classifier.dense.weight",
        "classifier.dense.bias",
        "classifier.out_proj.weight",
        "classifier.out_proj.bias",
    ],
    "pretraining": [
        "bilstm.embeddings.weight",
        *_rnn("bilstm.forward_rnn", suffixes=("",)),
        *_rnn("bilstm.backward_rnn", suffixes=("",)),
        "forward_projection.weight",
        "forward_projection.bias",
        "backward_projection.weight",
        "backward_projection.bias",
        "lm_head.bias",
    ],
}
# Today's tensor name → 3c0128e's (the same today; a rename adds its line here, and the loading code its conversion).
OLD_NAME: dict[str, str] = {}

# Inputs the expected outputs below were computed on: right padding, left padding, a row of one repeated word.
INPUT_IDS = [[5, 9, 3, 17, 2, 0, 0], [0, 0, 4, 8, 15, 16, 23], [7, 7, 7, 7, 7, 7, 7]]
ATTENTION_MASK = [[1, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]]
# What 3c0128e's code computed for these folders' weights (the folders built here, loaded by hf_bilstm at 3c0128e).
CLASSIFIER_LOGITS = [
    [-0.3996047079563141, 1.0108774900436401, 0.6185874342918396],
    [-0.443226158618927, 1.0154427289962769, 0.6332698464393616],
    [-0.3484309911727905, 1.11533784866333, 0.6086577773094177],
]
PRETRAINING_LOSS = 3.9636502265930176

# Texts whose words fill the classifier's 30-token vocabulary ([PAD], [UNK] and 28 words).
TEXTS = [
    "a great film , i loved the acting and the story !",
    "terrible boring movie . the plot made no sense .",
    "wonderful direction , great music , a joy to watch",
    "awful acting ; i fell asleep . worst of the year",
] * 3


def _model(kind: str):
    saved_only = ("architectures", "auto_map", "transformers_version")
    settings = {k: v for k, v in CONFIGS[kind].items() if k not in saved_only}
    model_class = BiLSTMForSequenceClassification if kind == "classifier" else BiLSTMForPreTraining
    model = model_class(BiLSTMConfig.from_dict(settings)).eval()
    # Seeded values in a fixed order, whatever today's initialisation does: the expected outputs stay valid.
    generator = torch.Generator().manual_seed(33)
    with torch.no_grad():
        for _, parameter in sorted(model.named_parameters()):
            parameter.copy_(0.5 * torch.randn(parameter.shape, generator=generator))
        model.bilstm.embeddings.weight[0] = 0.0  # the padding row, as training keeps it
    return model


def _rewrite_weights(folder: str, kind: str) -> None:
    path = os.path.join(folder, "model.safetensors")
    tensors = {OLD_NAME.get(name, name): tensor for name, tensor in load_file(path).items()}
    unknown = sorted(set(tensors) - set(TENSORS[kind]))
    if unknown or len(tensors) != len(TENSORS[kind]):
        raise AssertionError(
            f"today's {kind} saves tensors {unknown or sorted(tensors)} that 3c0128e did not name so: map them to the "
            f"old names in OLD_NAME (and convert old folders when loading), old names: {TENSORS[kind]}"
        )
    save_file({name: tensors[name].contiguous() for name in TENSORS[kind]}, path, metadata={"format": "pt"})


def _rewrite_json(path: str, change) -> None:
    with open(path, encoding="utf-8") as handle:
        value = json.load(handle)
    change(value)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2)


def _old_tokenizer_files(folder: str) -> None:
    _rewrite_json(os.path.join(folder, "tokenizer.json"), lambda v: v.update(pre_tokenizer={"type": "Whitespace"}))
    _rewrite_json(
        os.path.join(folder, "tokenizer_config.json"), lambda v: v.update(tokenizer_class="TokenizersBackend")
    )


def build(folder, kind: str, model_max_length: int = 512):
    """Writes a `kind` ("classifier", with its tokenizer, or "pretraining") folder in 3c0128e's layout; returns the
    model it holds, built by today's code (to compare with what loading the folder gives)."""
    folder = str(folder)
    model = _model(kind)
    model.save_pretrained(folder)
    _rewrite_weights(folder, kind)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as handle:
        json.dump(CONFIGS[kind], handle, indent=2, sort_keys=True)
        handle.write("\n")
    if kind == "classifier":
        tokenizer = train_tokenizer(TEXTS, vocab_size=30, min_frequency=1, model_max_length=model_max_length)
        if len(tokenizer) != CONFIGS[kind]["vocab_size"]:
            raise AssertionError(f"the tokenizer has {len(tokenizer)} tokens, the old config.json says 30")
        tokenizer.save_pretrained(folder)
        _old_tokenizer_files(folder)
    return model
