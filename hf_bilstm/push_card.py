"""The card `hf-bilstm push` uploads: the folder's own card (or a short generated one) completed with the metadata
the Hub reads (library, pipeline tag, license, datasets, model-index from the results files)."""

import json
import math
from pathlib import Path

from huggingface_hub import ModelCard

from .cards import CardError, eval_results
from .logs import get_logger

logger = get_logger(__name__)

# The results files' figures that become the pushed card's model-index.
MODEL_INDEX_METRICS = ("accuracy", "f1", "precision", "recall", "macro_f1", "f1_macro")


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
        check_card_metadata(_metadata_block(text), folder)  # the field types, before huggingface_hub reads them
        card = ModelCard(text)
        data = card.data
    except CardError:
        raise
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


# Card fields the Hub reads, and the shape each must have: a string, or a list of strings.
STRING_FIELDS = ("license", "library_name", "pipeline_tag", "model_name")
STRING_OR_LIST_FIELDS = ("language", "base_model")
LIST_FIELDS = ("datasets", "tags", "metrics")


def is_finite_number(value) -> bool:
    """A real number the Hub can show: int or float, finite; never a bool (JSON `true` is not 1.0)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _metadata_block(text: str) -> dict:
    """The card's YAML metadata as plain data ({} without any); a YAML error propagates."""
    import yaml
    from huggingface_hub.repocard import REGEX_YAML_BLOCK

    match = REGEX_YAML_BLOCK.search(text)
    if not match:
        return {}
    data = yaml.safe_load(match.group(2))
    return data if isinstance(data, dict) else {}


def check_card_metadata(data: dict, folder: Path) -> None:
    """Every card field that becomes Hub metadata has the shape the Hub reads (a string `datasets:` would be read
    letter by letter), and every model-index figure is a finite number; otherwise one line naming the field."""
    where = f"{folder}/README.md"

    def strings(value) -> bool:
        return isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value)

    for name in STRING_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise CardError(f"{where}: `{name}:` is {value!r}, not a string; write it as text, e.g. {name}: NAME.")
    for name in STRING_OR_LIST_FIELDS + LIST_FIELDS:
        value = data.get(name)
        if value is None or strings(value) or (name in STRING_OR_LIST_FIELDS and isinstance(value, str)):
            continue
        fix = f"a list of names, e.g. {name}: [{value}]" if isinstance(value, str) else "a list of names"
        raise CardError(f"{where}: `{name}:` is {value!r}, but the Hub reads {fix}; fix the card's metadata.")
    index = data.get("model-index")
    if index is None:
        return
    shape = (
        f"{where}: `model-index:` is not a list of models with results and metrics; fix it, or remove it to have it "
        "made from the results files."
    )
    if not isinstance(index, list) or not all(isinstance(model, dict) for model in index):
        raise CardError(shape)
    for model in index:
        results = model.get("results") or []
        if not isinstance(results, list):
            raise CardError(shape)
        for result in results:
            if not isinstance(result, dict) or not isinstance(result.get("metrics") or [], list):
                raise CardError(shape)
            for metric in result.get("metrics") or []:
                if not isinstance(metric, dict):
                    raise CardError(shape)
                if not is_finite_number(metric.get("value")):
                    raise CardError(
                        f"{where}: the model-index figure {metric.get('type')!r} is {metric.get('value')!r}, not a "
                        "finite number; fix it, or remove the model-index to have it made from the results files."
                    )


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
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise CardError(f"{path}: not valid JSON ({error}); its figures would become Hub metadata. Fix or remove "
                            "it (hf-bilstm evaluate --output_file writes a fresh one).") from error  # fmt: skip
        if not isinstance(values, dict):
            raise CardError(f"{path}: a JSON {type(values).__name__}, not an object of metrics; fix or remove it.")
        found = []
        for key, value in sorted(values.items()):
            if not key.startswith(prefix) or key[len(prefix) :] not in MODEL_INDEX_METRICS:
                continue
            if not is_finite_number(value):
                raise CardError(
                    f"{path}: field {key!r} is {value!r}, not a finite number, and it would become the Hub's "
                    f"model-index {key[len(prefix) :]}; fix or remove the file before pushing."
                )
            found.append((split, key[len(prefix) :], float(value)))
        if found:
            return found
    return []
