"""Fine-tuning tools: layer groups and rates, schedule, unfreezing, word dropout, weight drop, adversarial losses."""

import pytest
import torch
from datasets import Dataset
from helpers import TEXTS, tiny_classifier, tiny_tokenizer
from transformers import TrainingArguments

from hf_bilstm.data import PaddingCollator
from hf_bilstm.training.finetuning import (
    FineTuningArguments,
    FineTuningTrainer,
    add_weight_drop,
    add_word_dropout,
    layer_groups,
    slanted_triangular,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_layer_groups_cover_every_parameter_once_from_embedding_to_head():
    model = tiny_classifier(num_layers=2, separate_directions=True)
    groups = layer_groups(model)
    assert len(groups) == 4  # embedding, layer 0, layer 1, head
    names = [name for group in groups for name, _ in group]
    assert sorted(names) == sorted(name for name, _ in model.named_parameters())
    assert all(name.startswith("bilstm.embeddings") for name, _ in groups[0])
    assert {name for name, _ in groups[2]} >= {"bilstm.forward_rnn.weight_hh_l1", "bilstm.backward_rnn.weight_hh_l1"}
    assert all(name.startswith("classifier.") for name, _ in groups[3])


def test_slanted_triangular_rises_then_decays():
    values = [slanted_triangular(step, 100, cut_frac=0.1, ratio=32) for step in range(101)]
    assert (
        values[0] == pytest.approx(1 / 32)
        and values[10] == pytest.approx(1.0)
        and values[100] == pytest.approx(1 / 32)
    )
    assert values[:11] == sorted(values[:11]) and values[10:] == sorted(values[10:], reverse=True)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(layerwise_lr_decay=0.5), "layerwise_lr_decay"),
        (dict(word_dropout=1.0), "word_dropout"),
        (dict(adversarial_epsilon=-1.0), "adversarial_epsilon"),
        (dict(stlr_cut_frac=0.0), "stlr_cut_frac"),
    ],
)
def test_bad_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        FineTuningArguments(**overrides)


def test_enabled_lists_only_what_is_on():
    assert FineTuningArguments().enabled() == {}
    assert FineTuningArguments(adversarial_epsilon=0.02, stlr_ratio=10).enabled() == {"adversarial_epsilon": 0.02}


def test_word_dropout_blanks_whole_tokens_in_training_only():
    model = tiny_classifier(num_layers=1)
    handle = add_word_dropout(model, 0.5)
    ids = torch.randint(2, 100, (4, 20))
    embedding = model.get_input_embeddings()
    model.train()
    out = embedding(ids)
    blank = out.abs().sum(-1) == 0
    assert 0 < blank.float().mean() < 1
    torch.testing.assert_close(out[~blank], 2 * embedding.weight[ids][~blank])
    model.eval()
    torch.testing.assert_close(embedding(ids), embedding.weight[ids])
    handle.remove()


@pytest.mark.parametrize("rnn_implementation", ["padded", "packed"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_weight_drop_varies_the_recurrence_but_never_the_parameters(rnn_implementation, num_layers):
    model = tiny_classifier(num_layers=num_layers, dropout=0.0, rnn_implementation=rnn_implementation)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    add_weight_drop(model, 0.5)
    ids = torch.randint(2, 100, (3, 10))
    model.train()
    first, second = model(input_ids=ids).logits, model(input_ids=ids).logits
    assert not torch.allclose(first, second)
    (first.sum() + second.sum()).backward()
    assert model.bilstm.rnn.weight_hh_l0.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name
    model.eval()
    torch.testing.assert_close(model(input_ids=ids).logits, model(input_ids=ids).logits)


def tiny_trainer(tmp_path, tools: FineTuningArguments, epochs: int = 1, lr: float = 1e-2):
    tokenizer = tiny_tokenizer()
    model = tiny_classifier(tokenizer, num_layers=1, pooling="max_mean")
    rows = tokenizer(TEXTS, truncation=True)["input_ids"]
    data = Dataset.from_dict({"input_ids": rows, "labels": [int("great" in t or "loved" in t) for t in TEXTS]})
    args = TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=epochs,
        per_device_train_batch_size=6,
        learning_rate=lr,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        dataloader_pin_memory=False,
        weight_decay=0.01,
    )
    trainer = FineTuningTrainer(
        model=model,
        args=args,
        train_dataset=data,
        data_collator=PaddingCollator(tokenizer.pad_token_id),
        finetuning=tools,
    )
    return trainer, model


def test_layerwise_learning_rates(tmp_path):
    trainer, model = tiny_trainer(tmp_path, FineTuningArguments(layerwise_lr_decay=2.0))
    optimizer = trainer.create_optimizer()
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    assert lr_of[id(model.classifier.out_proj.weight)] == pytest.approx(1e-2)
    assert lr_of[id(model.bilstm.rnn.weight_hh_l0)] == pytest.approx(1e-2 / 2)
    assert lr_of[id(model.bilstm.embeddings.weight)] == pytest.approx(1e-2 / 4)
    assert len(lr_of) == len(list(model.parameters()))


def test_gradual_unfreezing_trains_only_the_head_in_the_first_epoch(tmp_path):
    tools = FineTuningArguments(gradual_unfreezing=True, slanted_triangular=True)
    trainer, model = tiny_trainer(tmp_path, tools, epochs=1)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer.train()
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == name.startswith("classifier."), name
        assert p.requires_grad  # everything is trainable again afterwards
    assert trainer.lr_scheduler.get_last_lr()[0] < 1e-2 / 4  # slanted triangle ends near lr / ratio


@pytest.mark.parametrize("tool", ["adversarial_epsilon", "virtual_adversarial_epsilon"])
def test_adversarial_losses_add_to_the_loss_and_train(tmp_path, tool):
    trainer, model = tiny_trainer(tmp_path, FineTuningArguments(**{tool: 0.05}), epochs=1)
    batch = next(iter(trainer.get_train_dataloader()))
    model.train()
    torch.manual_seed(0)
    plain = model(**batch).loss
    torch.manual_seed(0)
    total = trainer.compute_loss(model, batch)
    assert total > plain  # clean loss plus a non-negative, non-zero extra term
    result = trainer.train()
    assert torch.isfinite(torch.tensor(result.training_loss))
