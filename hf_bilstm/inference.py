"""`hf-bilstm evaluate`: a trained model folder on any split of a dataset → accuracy, macro F1 and loss.

The metrics are defined here, once: `hf-bilstm train` reports them through the Trainer with `compute_metrics`.
"""

import numpy as np
import torch

from .data import PaddingCollator
from .model_loading import (
    load_classifier_folder,
    resolve_device,
)


def classification_metrics(predictions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and macro F1 (over the classes that occur in labels or predictions, like scikit-learn)."""
    predictions, labels = np.asarray(predictions).reshape(-1), np.asarray(labels).reshape(-1)
    keep = labels != -100
    predictions, labels = predictions[keep], labels[keep]
    f1s = []
    for c in np.union1d(labels, predictions):
        tp = np.sum((predictions == c) & (labels == c))
        fp = np.sum((predictions == c) & (labels != c))
        fn = np.sum((predictions != c) & (labels == c))
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return {
        "accuracy": float(np.mean(predictions == labels)) if len(labels) else 0.0,
        "f1": float(np.mean(f1s)) if f1s else 0.0,
    }


def compute_metrics(eval_pred) -> dict[str, float]:
    logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
    return classification_metrics(np.argmax(logits, axis=-1), eval_pred.label_ids)


def load_model(path: str, device: str | None = None):
    """The model and tokenizer of a folder, with a clear error when it is not a trained classifier folder."""
    return load_classifier_folder(path, resolve_device(device))


def _batches(tokenizer, encoded, batch_size: int):
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
    for rows, batch in _batches(tokenizer, encoded, batch_size):
        inputs = {key: batch[key].to(model.device) for key in ("input_ids", "attention_mask")}
        labels[rows] = model(**inputs).logits.argmax(-1).cpu().numpy()
    return labels


@torch.no_grad()
def evaluate_dataset(model, tokenizer, encoded, batch_size: int = 128, prefix: str = "eval") -> dict[str, float]:
    """Accuracy, macro F1 and mean cross-entropy over `encoded` (input_ids, labels, length), longest first."""
    # model.device, not a parameter's: the ONNX Runtime model has no parameters
    device = model.device
    predictions, labels, losses = [], [], []
    for _, batch in _batches(tokenizer, encoded, batch_size):
        inputs = {key: batch[key].to(device) for key in ("input_ids", "attention_mask")}
        logits = model(**inputs).logits
        target = batch["labels"].to(device)
        losses.append(torch.nn.functional.cross_entropy(logits.float(), target, reduction="sum").item())
        predictions.append(logits.argmax(-1).cpu().numpy())
        labels.append(batch["labels"].numpy())
    metrics = classification_metrics(np.concatenate(predictions), np.concatenate(labels))
    metrics["loss"] = sum(losses) / len(encoded)
    metrics["samples"] = len(encoded)
    return {f"{prefix}_{key}": value for key, value in metrics.items()}
