"""hf_bilstm.training.length_grouping: length grouping reads the row lengths once, and batches exactly as the stock
Trainer's sampler does."""

import random

import torch
from datasets import Dataset
from transformers import Trainer, TrainingArguments
from transformers.trainer_pt_utils import LengthGroupedSampler

from hf_bilstm.training.length_grouping import LengthGroupedTrainer, column_as_list


def _rows(n=300, seed=0):
    rng = random.Random(seed)
    lengths = [rng.randint(1, 50) for _ in range(n)]
    return Dataset.from_dict({"input_ids": [[1] * k for k in lengths], "length": lengths, "labels": [0] * n})


def _trainer(cls, dataset, tmp_path):
    args = TrainingArguments(
        output_dir=str(tmp_path),
        train_sampling_strategy="group_by_length",
        per_device_train_batch_size=8,
        report_to="none",
        use_cpu=True,
        remove_unused_columns=False,
    )
    return cls(model=torch.nn.Linear(1, 1), args=args, train_dataset=dataset)


def test_the_sampler_gets_the_lengths_as_a_list_and_orders_rows_as_the_stock_one(tmp_path):
    dataset = _rows().select(range(1, 300, 2))  # an index mapping over the table, as a carve leaves it
    ours = _trainer(LengthGroupedTrainer, dataset, tmp_path)._get_train_sampler()
    stock = _trainer(Trainer, dataset, tmp_path)._get_train_sampler()
    assert isinstance(ours, LengthGroupedSampler) and isinstance(ours.lengths, list)
    assert not isinstance(stock.lengths, list)  # the lazy column this module exists for (datasets >= 4)
    assert ours.lengths == list(dataset["length"])
    torch.manual_seed(3)
    first = list(ours)
    torch.manual_seed(3)
    assert first == list(stock)  # the same batches in the same order for the same seed
    assert sorted(first) == list(range(len(dataset)))


def test_column_as_list_leaves_what_is_not_a_dataset_column():
    assert column_as_list([{"length": 3}], "length") is None
    assert column_as_list(_rows(5), "missing") is None
    assert column_as_list(_rows(5), "length") == list(_rows(5)["length"])
