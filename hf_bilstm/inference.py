"""Inference: a model folder's metrics and loss over encoded rows (`evaluate_dataset`, with hf_bilstm.metrics as
`hf-bilstm train` reports them), the one batched loop over encoded rows (`batches`:
evaluation, the teachers' probabilities of `--preset cpu-best`, the ONNX int8 checks), and labelling texts with a
pipeline (`load_classifier` + `predict`: `hf-bilstm predict` and Python users).
"""

import numpy as np
import torch

from .data_schema import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from .encoding import PaddingCollator
from .metrics import metrics_for, single_label_metrics
from .model_loading import load_backend, load_classifier_folder, resolve_device
from .problem_types import answers
from .tokenization_bilstm import cut_for_tokenizer


def classification_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro F1 (over the classes that occur in labels or predictions, like scikit-learn)."""
    return single_label_metrics(predictions, labels)


def load_model(path: str, device: str | None = None):
    """The model and tokenizer of a folder, with a clear error when it is not a trained classifier folder."""
    return load_classifier_folder(path, resolve_device(device))


def batches(tokenizer, encoded, batch_size: int):
    """`(rows, batch)` over `encoded`, longest first: similar lengths together waste few steps on padding."""
    order = np.argsort(-np.asarray(encoded["length"]), kind="stable")
    collate = PaddingCollator(tokenizer.pad_token_id)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        selected = encoded[rows.tolist()]
        features = [{"input_ids": ids} for ids in selected["input_ids"]]
        if "labels" in selected:
            features = [dict(feature, labels=y) for feature, y in zip(features, selected["labels"])]
        yield rows, collate(features)


@torch.no_grad()
def predicted_labels(model, tokenizer, encoded, batch_size: int = 64) -> np.ndarray:
    """The argmax label of every row of `encoded`, in its order (any model returning `.logits`: torch or ONNX)."""
    labels = np.zeros(len(encoded), dtype=np.int64)
    for rows, batch in batches(tokenizer, encoded, batch_size):
        inputs = {key: batch[key].to(model.device) for key in ("input_ids", "attention_mask")}
        labels[rows] = model(**inputs).logits.argmax(-1).cpu().numpy()
    return labels


def _loss_sum(logits, target, problem_type: str) -> float:
    """The summed loss of a batch under the model's problem type (as the model's own forward computes it)."""
    functional = torch.nn.functional
    if problem_type == REGRESSION:
        return functional.mse_loss(logits.float().reshape(-1), target.float(), reduction="sum").item()
    if problem_type == MULTI_LABEL:  # mean over labels per row, summed over rows
        per_row = functional.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
        return per_row.mean(dim=-1).sum().item()
    return functional.cross_entropy(logits.float(), target, reduction="sum").item()


@torch.no_grad()
def evaluate_dataset(
    model, tokenizer, encoded, batch_size: int = 128, prefix: str = "eval", label_names=None
) -> dict[str, float]:
    """The problem type's metrics (hf_bilstm.metrics) and mean loss over `encoded` (input_ids, labels, length)."""
    # model.device, not a parameter's: the ONNX Runtime model has no parameters
    device = model.device
    problem_type = getattr(model.config, "problem_type", None) or SINGLE_LABEL
    all_logits, labels, losses = [], [], []
    for _, batch in batches(tokenizer, encoded, batch_size):
        inputs = {key: batch[key].to(device) for key in ("input_ids", "attention_mask")}
        logits = model(**inputs).logits
        losses.append(_loss_sum(logits, batch["labels"].to(device), problem_type))
        all_logits.append(logits.float().cpu().numpy())
        labels.append(batch["labels"].numpy())
    metrics = metrics_for(problem_type, np.concatenate(all_logits), np.concatenate(labels), label_names)
    metrics["loss"] = sum(losses) / len(encoded)
    metrics["samples"] = len(encoded)
    return {f"{prefix}_{key}": value for key, value in metrics.items()}


# ----------------------------------------------------------------------------------------------------------------
# Labelling texts (hf-bilstm predict, and Python users): a text-classification pipeline, batched by length


def load_classifier(model: str, device: str | None = None, backend: str = "torch", quantized: bool = False):
    """A text-classification pipeline on a model folder; texts longer than the model's limit are cut, not refused."""
    from transformers import pipeline

    # Loaded and checked here rather than by pipeline(), which buries a loading error in a ValueError full of
    # tracebacks and accepts weights that do not match the model (hf_bilstm.model_loading).
    loaded, tokenizer = load_backend(model, device, backend, quantized)
    return pipeline("text-classification", model=loaded, tokenizer=tokenizer, device=loaded.device)


def predict(classifier, texts: list[str], batch_size: int = 32, threshold: float | None = None) -> list[dict]:
    """One answer per text, in the order given (`hf_bilstm.problem_types.answers`: `{"label", "score"}`,
    `{"labels", "scores"}` or `{"score"}`); a text that is not a `str` is refused, naming it."""
    for number, text in enumerate(texts, 1):
        if not isinstance(text, str):
            raise TypeError(
                f"text #{number} is {type(text).__name__}, not str; decode bytes first (data.decode('utf-8')) and "
                "drop or fill missing texts."
            )
    # Cut before tokenizing (same tokens as truncating the whole text): memory is set by the batch, not the input.
    texts = [cut_for_tokenizer(text, classifier.tokenizer) for text in texts]
    # Batches of similar lengths waste no recurrent steps on padding (up to 1.4x faster on IMDB on a CPU, see
    # scripts/benchmark_cpu_inference.py); the model's answers do not depend on the batch, so only speed changes.
    order = sorted(range(len(texts)), key=lambda index: len(texts[index]), reverse=True)
    in_order = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        for index, result in zip(rows, classify_batch(classifier, [texts[index] for index in rows], threshold)):
            in_order[index] = result
    return in_order


def classify_batch(classifier, texts: list[str], threshold: float | None = None) -> list[dict]:
    """The answers for `texts` as one batch, whatever the model (PyTorch or ONNX Runtime).

    `classifier(texts, batch_size=...)` calls the tokenizer once per text, then pads and unbatches in Python; one call
    of the fast tokenizer on the whole batch gives the same ids with less Python per text (the same for every backend,
    so backends compare like with like). The pipeline's own `forward` (device, inference mode) stays; the logits are
    read as the pipeline reads them for the model's problem type (softmax, sigmoid with a threshold, or none).
    """
    tokenizer = classifier.tokenizer
    inputs = tokenizer(texts, truncation=True, padding=True, return_tensors="pt")
    model_inputs = {name: inputs[name] for name in tokenizer.model_input_names if name in inputs}
    outputs = classifier.forward(model_inputs)
    # A model loaded with return_dict=False answers with a tuple whose first item is the logits.
    logits = outputs[0] if isinstance(outputs, (tuple, list)) else outputs["logits"]
    return answers(classifier.model.config, logits.float().cpu().numpy(), threshold)
