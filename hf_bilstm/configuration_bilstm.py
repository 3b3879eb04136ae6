"""Configuration of the recurrent (BiLSTM / GRU / RNN) text models.

This file is copied next to the weights for ``trust_remote_code`` loading, so it imports only transformers.
"""

from transformers import PretrainedConfig

RNN_TYPES = ("lstm", "gru", "rnn")
POOLING_TYPES = ("last", "max", "mean", "max_mean")
RNN_IMPLEMENTATIONS = ("auto", "padded", "packed")
PROBLEM_TYPES = ("single_label_classification", "multi_label_classification", "regression")


MAX_NUM_LABELS = 100_000


def _check_standard_kwargs(kwargs: dict, expected_model_type: str) -> None:
    """BiLSTMConfig's checks of the standard fields it passes on to PretrainedConfig (`model_type`, popped here,
    `num_labels`, `id2label`, `label2id`): each wrong value is refused with what to give instead."""
    # from_pretrained passes config.json's model_type here; transformers only warns when it is another model's.
    model_type = kwargs.pop("model_type", expected_model_type)
    if model_type != expected_model_type:
        raise ValueError(
            f"BiLSTMConfig: this config has model_type={model_type!r}, but a BiLSTMConfig needs "
            f"{expected_model_type!r}; it describes another architecture. Load it with AutoConfig / AutoModel*, "
            f"or fix model_type in its config.json."
        )
    num_labels, id2label = kwargs.get("num_labels"), kwargs.get("id2label")
    for name in ("id2label", "label2id"):
        if kwargs.get(name) is not None and not isinstance(kwargs[name], dict):
            raise ValueError(
                f"BiLSTMConfig.{name} must be a mapping such as {{0: 'neg', 1: 'pos'}} (label2id: the reverse), "
                f"but it was a {type(kwargs[name]).__name__}: {kwargs[name]!r}."
            )
    if isinstance(id2label, dict) and not all(isinstance(label, str) for label in id2label.values()):
        raise ValueError(f"BiLSTMConfig.id2label must map each id to a label name (a string), not {id2label}.")
    if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, int)):
        raise ValueError(f"BiLSTMConfig.num_labels must be a positive integer, but it was {num_labels!r}.")
    if num_labels is not None and num_labels < 1:
        # transformers turns it into an empty id2label: a model with no outputs.
        raise ValueError(
            f"BiLSTMConfig.num_labels must be at least 1 (1 = regression, 2+ = classes), but it was {num_labels}."
        )
    if num_labels is not None and num_labels > MAX_NUM_LABELS:
        # transformers builds an id2label entry per label before anything else: 1e9 would take all memory.
        raise ValueError(
            f"BiLSTMConfig.num_labels must be at most {MAX_NUM_LABELS:,} (one output per class), but it was "
            f"{num_labels:,}."
        )
    if num_labels is not None and id2label is not None and len(id2label) != num_labels:
        # transformers only logs a warning here; a head of the wrong width is a silent wrong answer.
        raise ValueError(
            f"BiLSTMConfig: num_labels={num_labels} but id2label has {len(id2label)} entries ({id2label}); "
            "give only id2label (num_labels follows from it) or make them agree."
        )


class BiLSTMConfig(PretrainedConfig):
    r"""
    Configuration of a [`BiLSTMModel`] and its heads. The defaults reproduce the architecture of the classic
    ``IMDBLstmmodel`` tutorial: embedding 200, a 2-layer bidirectional LSTM of 64 units with dropout 0.5 between the
    layers, and a 128 → 20 → 2 classifier over the concatenated final states.

    Args:
        vocab_size (`int`, *optional*, defaults to 30000):
            Number of tokens in the vocabulary (rows of the embedding matrix). Must match the tokenizer.
        embedding_dim (`int`, *optional*, defaults to 200):
            Size of the token embeddings.
        hidden_size (`int`, *optional*, defaults to 64):
            Number of units of each recurrent layer, per direction.
        num_layers (`int`, *optional*, defaults to 2):
            Number of stacked recurrent layers.
        bidirectional (`bool`, *optional*, defaults to `True`):
            Whether to run a backward recurrent stack as well as the forward one.
        rnn_type (`str`, *optional*, defaults to `"lstm"`):
            The recurrent cell: `"lstm"`, `"gru"` or `"rnn"` (Elman, tanh).
        dropout (`float`, *optional*, defaults to 0.5):
            Dropout between stacked recurrent layers (ignored with one layer), in [0, 1).
        embedding_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the token embeddings, in [0, 1).
        classifier_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the pooled vector and on the classifier's hidden layer, in [0, 1).
        classifier_hidden_size (`int`, *optional*, defaults to 20):
            Width of the classifier's hidden layer (ReLU); 0 means a single linear layer from the pooled vector to
            the labels.
        pooling (`str`, *optional*, defaults to `"last"`):
            How the per-token states become one vector: `"last"` concatenates the final state of each direction
            (the tutorial's choice; the backward direction's final state is the one at the first token), `"max"`
            and `"mean"` pool over the real (unpadded) tokens, `"max_mean"` concatenates both.
        separate_directions (`bool`, *optional*, defaults to `False`):
            Keep the forward and backward directions in two independent stacks (ELMo-style), so that no layer of one
            direction reads the other direction's states. Needed for bidirectional language-model pretraining with
            more than one layer; a standard bidirectional RNN (`False`) feeds both directions to every next layer.
        rnn_implementation (`str`, *optional*, defaults to `"auto"`):
            How padding is kept out of the states; both give the same numbers (to float rounding). `"padded"` runs
            plain padded RNN calls, the backward direction over each text reversed within its length: on CPUs its
            backward pass is about 18x faster than packing's. `"packed"` packs the sequences (`PackedSequence`), which
            cuDNN runs natively. `"auto"` uses `"padded"` on CPUs and `"packed"` on CUDA (no GPU comparison has been
            measured yet). A runtime choice: override it when loading, e.g.
            `from_pretrained(folder, rnn_implementation="padded")`.
        validate_inputs (`bool`, *optional*):
            Whether `forward` checks its inputs (token ids inside the vocabulary, labels inside the label ids, no text
            pairs, the padding side) and answers bad ones with a clear error. Each check reads a value back from
            the device: free on a CPU, a pipeline stall on a GPU. `None` (the default) checks CPU tensors only; on
            a GPU, ids are then assumed to come from this model's tokenizer and right padding is not assumed
            (rows are always re-aligned, which costs no synchronisation). `True` always checks (debugging), `False`
            never does. A runtime choice, like `rnn_implementation`.
        initializer_range (`float`, *optional*, defaults to 0.1):
            Standard deviation of the normal initialisation of the embeddings; recurrent weights use orthogonal
            (hidden-to-hidden) and Xavier (input-to-hidden) initialisation.
        max_position_embeddings (`int`, *optional*):
            The longest text, in tokens, the model was trained to read (`hf-bilstm train` sets it to `--max_length`);
            `None`: no limit of its own. A recurrent model has no position embeddings: the name is the one tools read
            for a model's input limit. `hf-bilstm predict`/`evaluate` cut texts at the smaller of this and the
            tokenizer's `model_max_length`.
        pad_token_id (`int`, *optional*, defaults to 0):
            Id of the padding token; its embedding is kept at zero and it is never read as text.
        num_labels / id2label / label2id / problem_type:
            The standard transformers classification arguments; `problem_type` is one of
            `"single_label_classification"`,
            `"multi_label_classification"` or `"regression"` (inferred from the labels when unset).

    Examples:

    ```python
    >>> from hf_bilstm import BiLSTMConfig, BiLSTMForSequenceClassification
    >>> config = BiLSTMConfig(vocab_size=20000, id2label={0: "neg", 1: "pos"})
    >>> model = BiLSTMForSequenceClassification(config)
    ```
    """

    model_type = "bilstm"
    # transformers' name for the depth of every model (its common tests and tools read it); hidden_size is already
    # the width of each recurrent layer.
    attribute_map = {"num_hidden_layers": "num_layers"}

    def __init__(
        self,
        vocab_size: int = 30000,
        embedding_dim: int = 200,
        hidden_size: int = 64,
        num_layers: int = 2,
        bidirectional: bool = True,
        rnn_type: str = "lstm",
        dropout: float = 0.5,
        embedding_dropout: float = 0.0,
        classifier_dropout: float = 0.0,
        classifier_hidden_size: int = 20,
        pooling: str = "last",
        separate_directions: bool = False,
        rnn_implementation: str = "auto",
        validate_inputs: bool | None = None,
        initializer_range: float = 0.1,
        max_position_embeddings: int | None = None,
        pad_token_id: int = 0,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.rnn_type = rnn_type
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.classifier_dropout = classifier_dropout
        self.classifier_hidden_size = classifier_hidden_size
        self.pooling = pooling
        self.separate_directions = separate_directions
        self.rnn_implementation = rnn_implementation
        self.validate_inputs = validate_inputs
        self.initializer_range = initializer_range
        self.max_position_embeddings = max_position_embeddings
        _check_standard_kwargs(kwargs, self.model_type)
        self._validate_sizes()  # before super().__init__, whose validators compare token ids with vocab_size
        try:
            # pad_token_id goes through PretrainedConfig: transformers 4.x sets its own default (None) there, over a
            # value set before (Optimum and remote code on 4.x would then read no padding id).
            super().__init__(pad_token_id=pad_token_id, **kwargs)
        except ValueError:
            raise
        except Exception as error:  # transformers reads its standard fields with no type checks of its own
            raise ValueError(_unreadable_field(kwargs, error)) from error
        if self.id2label is not None and not self.label2id:
            # transformers 5 no longer derives it; pipelines and datasets users look labels up by name.
            self.label2id = {label: int(index) for index, label in self.id2label.items()}
        self._validate_bilstm()

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """
        Like [`~PretrainedConfig.from_dict`], and `from_pretrained(folder, num_labels=N)` asks for a new head of N
        outputs: as transformers' own configs do, the saved label names then give way to `LABEL_0..LABEL_{N-1}`
        (the model's weights still load only with `ignore_mismatched_sizes=True`). A `num_labels` written in the file
        itself must agree with its `id2label`.
        """
        num_labels = kwargs.get("num_labels")
        saved = config_dict.get("id2label")
        if num_labels is not None and isinstance(saved, dict) and len(saved) != num_labels:
            config_dict = {k: v for k, v in config_dict.items() if k not in ("id2label", "label2id", "num_labels")}
        return super().from_dict(config_dict, **kwargs)

    def _validate_sizes(self):
        for name in ("vocab_size", "embedding_dim", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"BiLSTMConfig.{name} must be a positive integer, but it was {value!r}.")

    def _validate_bilstm(self):
        # Runs on construction and therefore on every from_pretrained, so a bad config.json fails loudly.
        self._validate_sizes()
        value = self.classifier_hidden_size
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(
                f"BiLSTMConfig.classifier_hidden_size must be an integer >= 0 (0 = no hidden layer), "
                f"but it was {value!r}."
            )
        if self.rnn_type not in RNN_TYPES:
            raise ValueError(f"BiLSTMConfig.rnn_type must be one of {list(RNN_TYPES)}, but it was {self.rnn_type!r}.")
        if self.pooling not in POOLING_TYPES:
            raise ValueError(
                f"BiLSTMConfig.pooling must be one of {list(POOLING_TYPES)}, but it was {self.pooling!r}."
            )
        if self.rnn_implementation not in RNN_IMPLEMENTATIONS:
            raise ValueError(
                f"BiLSTMConfig.rnn_implementation must be one of {list(RNN_IMPLEMENTATIONS)}, "
                f"but it was {self.rnn_implementation!r}."
            )
        if not (self.validate_inputs is None or isinstance(self.validate_inputs, bool)):
            raise ValueError(
                f"BiLSTMConfig.validate_inputs must be true, false or null (check CPU tensors only), but it was "
                f"{self.validate_inputs!r}."
            )
        for name in ("dropout", "embedding_dropout", "classifier_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"BiLSTMConfig.{name} must be a number in [0, 1), but it was {value!r}.")
        value = self.initializer_range
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value) or value < 0:
            raise ValueError(f"BiLSTMConfig.initializer_range must be a finite number >= 0, but it was {value!r}.")
        value = self.max_position_embeddings
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(
                f"BiLSTMConfig.max_position_embeddings must be a positive integer (tokens) or None, but it was "
                f"{value!r}."
            )
        # Any other number of the config (a field of transformers', a language model's setting): torch would fail on
        # a NaN or an infinity far from here, or compute with it silently.
        for name, value in vars(self).items():
            if isinstance(value, float) and not _finite(value):
                raise ValueError(f"BiLSTMConfig.{name} must be a finite number, but it was {value!r}.")
        for name in ("bidirectional", "separate_directions"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"BiLSTMConfig.{name} must be True or False, but it was {getattr(self, name)!r}.")
        pad = self.pad_token_id
        if isinstance(pad, bool) or not isinstance(pad, int) or not 0 <= pad < self.vocab_size:
            raise ValueError(
                f"BiLSTMConfig.pad_token_id must be an integer in [0, vocab_size={self.vocab_size}), "
                f"but it was {pad!r}."
            )
        self._validate_labels()

    def _validate_labels(self):
        # Every path (Python, the CLI, remote code, a config.json) comes through here: a head with no outputs, or
        # labels that do not map back and forth, would answer wrongly without an error.
        id2label, label2id = self.id2label, self.label2id
        if not isinstance(id2label, dict) or not id2label:
            raise ValueError(
                f"BiLSTMConfig.id2label must name at least one label, e.g. {{0: 'neg', 1: 'pos'}}, but it was "
                f"{id2label!r}."
            )
        try:
            ids = sorted(int(key) for key in id2label)
        except (TypeError, ValueError):
            ids = None
        if ids != list(range(len(id2label))):
            raise ValueError(
                f"BiLSTMConfig.id2label must have the keys 0..{len(id2label) - 1} (one per output of the head), but "
                f"its keys are {sorted(id2label, key=str)}. Number the labels from 0."
            )
        names = list(id2label.values())
        if len(set(names)) != len(names):
            raise ValueError(f"BiLSTMConfig.id2label names a label twice ({id2label}); label names must be unique.")
        if label2id is not None:
            expected = {name: int(index) for index, name in id2label.items()}
            if not isinstance(label2id, dict) or {k: int(v) for k, v in label2id.items()} != expected:
                raise ValueError(
                    f"BiLSTMConfig: label2id {label2id} does not match id2label {id2label}; "
                    "give both from the same label names (or only id2label)."
                )
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"BiLSTMConfig.problem_type must be one of {list(PROBLEM_TYPES)} or None (inferred from the labels), "
                f"but it was {self.problem_type!r}."
            )

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def pooled_size(self) -> int:
        """Width of the pooled vector that the classifier reads."""
        width = self.num_directions * self.hidden_size
        return 2 * width if self.pooling == "max_mean" else width


def _finite(value) -> bool:
    """Not NaN nor infinite (without importing math: this file imports only transformers)."""
    return value == value and value not in (float("inf"), float("-inf"))


def _unreadable_field(kwargs: dict, error: Exception) -> str:
    """Names the standard field that transformers' PretrainedConfig could not read (tried one field at a time)."""
    for name, value in kwargs.items():
        try:
            PretrainedConfig(**{name: value})
        except Exception as field_error:
            return (
                f"BiLSTMConfig: the field {name}={value!r} cannot be read ({type(field_error).__name__}: "
                f"{field_error}). Fix or remove it in config.json, or save the model again with save_pretrained."
            )
    return (
        f"BiLSTMConfig: a field of this config cannot be read ({type(error).__name__}: {error}). Fix it in "
        "config.json, or save the model again with save_pretrained."
    )


BiLSTMConfig.register_for_auto_class()
