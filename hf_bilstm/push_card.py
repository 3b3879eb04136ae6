"""The card `hf-bilstm push` uploads: the folder's own card (or a short generated one) completed with the metadata
the Hub reads (library, pipeline tag, license, datasets, model-index from the results files)."""

from pathlib import Path

from huggingface_hub import ModelCard

from .cards import CardError, eval_results
from .json_files import read_json
from .logs import get_logger

logger = get_logger(__name__)


# ------------------------------------------------------------------------------------------------ push
def complete_card(
    text: str | None, repo_id: str, folder: Path, license: str | None = None, dataset: str | None = None
) -> str:
    """
    The card `hf-bilstm push` uploads: `text` (or, for a plain `save_pretrained` folder, a short generated card) with
    the metadata the Hub reads added where missing (`library_name`, `pipeline_tag`, `license`, `datasets`,
    `model-index`); what the card already says is kept as written. Usage snippets that load the local folder name
    the repository instead. A license or dataset nobody stated is left out, with a warning naming the flag.
    """
    folder = Path(folder)
    if text is None:
        text = (
            f"# {repo_id.split('/')[1]}\n\nA recurrent (BiLSTM/GRU) text classifier built with hf_bilstm, a native "
            'transformers model: it loads with `pipeline("text-classification", ..., trust_remote_code=True)`.\n'
        )
    try:
        card = ModelCard(text)
        data = card.data
    except Exception as error:  # the YAML parser's many error types; the card is the user's text
        raise CardError(
            f"{folder}/README.md has metadata (the block between the first two --- lines) that is not valid YAML "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). Fix it, or delete the "
            "card to get a generated one."
        ) from error
    body = card.text.replace(str(folder.resolve()), repo_id)
    added = {}
    for key, value in (("library_name", "transformers"), ("pipeline_tag", "text-classification")):
        if not getattr(data, key, None):
            added[key] = value
    added.update(_license_and_dataset(data, folder, license, dataset))
    datasets = added.get("datasets") or data.datasets
    if not data.eval_results and datasets:
        results = _results_from_json(folder)
        if results:
            data.model_name = data.model_name or repo_id.split("/")[1]
            data.eval_results = eval_results(results, datasets[0])
            added["model-index"] = True
        else:
            logger.warning(f"{folder} has no test/eval results JSON, so the card gets no model-index (metrics).")
    if not added:
        return text if body == card.text else f"---\n{data.to_yaml()}\n---\n{body}"
    for key, value in added.items():
        if key != "model-index":
            setattr(data, key, value)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n{body}"))


def _license_and_dataset(data, folder: Path, license: str | None, dataset: str | None) -> dict:
    """The `license` and `datasets` a card lacks, from the flags (or its model-index); a warning for each left out."""
    added = {}
    if not data.license:
        if license:
            added["license"] = license
        else:
            logger.warning(
                f"{folder}/README.md declares no license, so the pushed card has none; pass --license (e.g. "
                "--license apache-2.0) to state one."
            )
    if not data.datasets and dataset is None and data.eval_results:
        # An older card of a model trained on a local copy names its dataset in the model-index only.
        dataset = data.eval_results[0].dataset_type
        logger.warning(
            f"The card names no Hub dataset; using {dataset!r} from its model-index (--dataset to choose another)."
        )
    if not data.datasets:
        if dataset:
            added["datasets"] = [dataset]
        else:
            logger.warning(
                f"{folder}/README.md names no Hub dataset, so the pushed card has no `datasets` nor model-index; "
                "pass --dataset (e.g. --dataset stanfordnlp/imdb) to name the one it was trained on."
            )
    return added


def _results_from_json(folder: Path) -> list[tuple[str, str, float]]:
    """(split, metric, value) from the Trainer's results files, test split first (the number a card should show)."""
    for filename, split, prefix in (
        ("test_results.json", "test", "test_"),
        ("eval_results.json", "validation", "eval_"),
        ("all_results.json", "test", "test_"),
        ("all_results.json", "validation", "eval_"),
    ):
        path = folder / filename
        if not path.is_file():
            continue
        values = read_json(path, fix="evaluate the model again (hf-bilstm evaluate), or delete the file")
        found = [
            (split, key[len(prefix) :], float(value))
            for key, value in sorted(values.items())
            if key.startswith(prefix)
            and key[len(prefix) :] in ("accuracy", "f1", "precision", "recall", "macro_f1", "f1_macro")
            and isinstance(value, (int, float))
        ]
        if found:
            return found
    return []
