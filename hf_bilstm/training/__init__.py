"""The training room: the Trainer run of `hf-bilstm train` (trainer.py), its callbacks, and the recipes built on it
(distillation, fine-tuning tools, language-model pretraining, word vectors)."""
