"""Stand-in for transformers' ``tests/utils/test_configuration_utils.py`` (not in the 5.25.0 sdist).

``ConfigTester.check_config_arguments_init`` builds a config from ``config_common_kwargs`` and checks that each of
these standard ``PretrainedConfig`` arguments is kept with the value given (each differs from its default).
"""

config_common_kwargs = {
    "return_dict": False,
    "output_hidden_states": True,
    "output_attentions": True,
    "dtype": "float16",
    "tie_word_embeddings": False,
    "is_encoder_decoder": True,
    "chunk_size_feed_forward": 5,
    "architectures": ["BertModel"],
    "finetuning_task": "translation",
    "id2label": {0: "label"},
    "label2id": {"label": "0"},
    "tokenizer_class": "BertTokenizerFast",
    "prefix": "prefix",
    "bos_token_id": 6,
    "pad_token_id": 7,
    "eos_token_id": 8,
    "sep_token_id": 9,
    "decoder_start_token_id": 10,
    "task_specific_params": {"translation": "some_params"},
    "problem_type": "regression",
}
