"""The model card of `hf-bilstm pretrain`'s language model (card_templates/language_model.md)."""

from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import ModelCard

from .cards import (
    LANGUAGE_MODEL_HYPERPARAMETERS,
    LANGUAGE_MODEL_TEMPLATE,
    DatasetSource,
    _card_data,
    _param,
    _render,
    _write,
    hyperparameters,
)


@dataclass
class LanguageModelRun:
    """What `hf-bilstm pretrain` did (`pretraining_results.json`), with the dataset as the card names it."""

    results: dict
    dataset: DatasetSource


def build_language_model_card(output_dir: str, run: LanguageModelRun) -> ModelCard:
    results, args = run.results, run.results["arguments"]
    budget = results.get("time_budget") or {}
    values = {
        "model_path": str(Path(output_dir).resolve()),
        "dataset_description": run.dataset.description,
        "splits": ", ".join(results["splits"]),
        "texts": f"{results['texts']:,}",
        "train_tokens": f"{results['train_tokens']:,}",
        "heldout_texts": f"{results['heldout_texts']:,}",
        "vocab_size": f"{results['vocab_size']:,}",
        "lm_vocab_size": f"{results['lm_vocab_size']:,}",
        "lm_perplexity": f"{results['lm_perplexity']:.1f}",
        "lm_train_loss": f"{results['lm_train_loss']:.3f}",
        "steps": results["steps"],
        "epochs_trained": f"{results['epochs_trained']:.2f}",
        "num_train_epochs": _param(args["num_train_epochs"]),
        "budget_note": (
            f" (stopped by the {budget['seconds']:.0f} s time budget)" if budget.get("stopped_training") else ""
        ),
        "seconds": f"{results['seconds']:.0f}",
        "device": results["device"],
        "embedding_dim": args["embedding_dim"],
        "num_layers": args["num_layers"],
        "hidden_size": args["hidden_size"],
        "hyperparameters_table": "\n".join(
            f"| {k} | {_param(v)} |"
            for k, v in hyperparameters({k: args[k] for k in LANGUAGE_MODEL_HYPERPARAMETERS if k in args}).items()
        ),
    }
    card_data = _card_data(run.dataset, tags=["hf_bilstm", "bilstm", "language-model", "pretraining"])
    return _render(LANGUAGE_MODEL_TEMPLATE, card_data, values)


def write_language_model_card(output_dir: str, run: LanguageModelRun, path: str | None = None) -> Path:
    return _write(build_language_model_card(output_dir, run), Path(path) if path else Path(output_dir) / "README.md")
