"""Fine-tuning tools for a classifier that starts from a pretrained language model (`hf-bilstm train` flags).

Each tool is one `FineTuningArguments` field, off by default; `hf-bilstm train --model_name_or_path LM_FOLDER` plus
the flags below switches them on, and validation accuracy decides which to keep. Where they come from:

- `--layerwise_lr_decay D` (ULMFiT's discriminative learning rates): the classifier trains at the learning rate, the
  top recurrent layer at lr / D, the layer below at lr / D**2, ..., the embedding last. ULMFiT used D = 2.6.
- `--gradual_unfreezing` (ULMFiT): the first epoch trains only the classifier, each next epoch unfreezes one more
  group from the top (recurrent layers, then the embedding), so the new head does not wreck the pretrained weights.
- `--slanted_triangular` (ULMFiT's one-cycle schedule): a short linear rise over `--stlr_cut_frac` of the steps,
  then a long linear decay to lr / `--stlr_ratio`. Replaces `--lr_scheduler_type`.
- `--word_dropout P` (AWD-LSTM's embedding dropout): whole tokens are blanked (their embedding zeroed) at training.
- `--weight_drop P` (AWD-LSTM's DropConnect): dropout on the hidden-to-hidden matrices, one mask per batch, so the
  recurrence itself is regularised while cuDNN still runs the whole sequence.
- `--adversarial_epsilon E` (Goodfellow et al. 2015; Miyato et al. 2017 for text): adds the loss on embeddings moved
  by E x (their norm) in the direction that raises the loss most.
- `--virtual_adversarial_epsilon E` (Miyato et al. 2017): adds the KL divergence between the predictions on the
  embeddings and on embeddings moved by E x (their norm) in the most sensitive direction (one power iteration);
  needs no labels, so it regularises towards smooth predictions.

Pooling over all states (`--pooling max_mean`, ULMFiT's concat pooling) and long truncation (`--max_length`, whole
reviews) are plain `hf-bilstm train` flags. Forward/backward ensembling (ULMFiT) is built in: the pretrained model is
bidirectional and its classifier reads both directions' states at once.
"""

import re
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from transformers import TrainerCallback

from ..modeling_bilstm import BiLSTMForSequenceClassification
from .length_grouping import LengthGroupedTrainer


@dataclass
class FineTuningArguments:
    """Fine-tuning tools (off by default; see the module docstring for what each does and where it comes from)."""

    layerwise_lr_decay: float = field(
        default=1.0, metadata={"help": "Discriminative learning rates: each group below the head gets lr / this."}
    )
    gradual_unfreezing: bool = field(
        default=False, metadata={"help": "Train the head alone for an epoch, then unfreeze one group per epoch."}
    )
    slanted_triangular: bool = field(
        default=False, metadata={"help": "Slanted triangular learning rate (replaces --lr_scheduler_type)."}
    )
    stlr_cut_frac: float = field(default=0.1, metadata={"help": "Share of the steps spent raising the rate."})
    stlr_ratio: float = field(default=32.0, metadata={"help": "Peak rate / lowest rate of the triangle."})
    word_dropout: float = field(default=0.0, metadata={"help": "Probability of blanking a whole token at training."})
    weight_drop: float = field(default=0.0, metadata={"help": "DropConnect on the hidden-to-hidden weights."})
    adversarial_epsilon: float = field(
        default=0.0, metadata={"help": "Adversarial perturbation size, relative to the embeddings' norm (e.g. 0.02)."}
    )
    virtual_adversarial_epsilon: float = field(
        default=0.0, metadata={"help": "Virtual adversarial perturbation size, relative to the embeddings' norm."}
    )
    adversarial_weight: float = field(default=1.0, metadata={"help": "Weight of the (virtual) adversarial losses."})

    def __post_init__(self):
        if not self.layerwise_lr_decay >= 1.0:
            raise ValueError(
                f"--layerwise_lr_decay must be >= 1 (1 = one rate for all; ULMFiT used 2.6), "
                f"but it was {self.layerwise_lr_decay}."
            )
        for name in ("word_dropout", "weight_drop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"--{name} must be a probability in [0, 1), but it was {getattr(self, name)}.")
        for name in ("adversarial_epsilon", "virtual_adversarial_epsilon", "adversarial_weight"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"--{name} must be >= 0 (0 = off), but it was {getattr(self, name)}.")
        if not 0.0 < self.stlr_cut_frac < 1.0 or not self.stlr_ratio >= 1.0:
            raise ValueError(
                f"--stlr_cut_frac must be in (0, 1) and --stlr_ratio >= 1, but they were "
                f"{self.stlr_cut_frac} and {self.stlr_ratio}."
            )

    def enabled(self) -> dict:
        """The tools that are on, with their settings (for results and the model card); empty when all are off."""
        defaults = FineTuningArguments()
        on = {k: v for k, v in asdict(self).items() if v != getattr(defaults, k)}
        if not self.slanted_triangular:
            on.pop("stlr_cut_frac", None)
            on.pop("stlr_ratio", None)
        if not (self.adversarial_epsilon or self.virtual_adversarial_epsilon):
            on.pop("adversarial_weight", None)
        return on


# ----------------------------------------------------------------------------------------------------------------
# Parameter groups, from the embedding (bottom) to the classifier (top)


def layer_groups(model: BiLSTMForSequenceClassification) -> list[list[tuple[str, nn.Parameter]]]:
    """
    `[embedding, recurrent layer 0, ..., recurrent layer L-1, head]`, each a list of (name, parameter). Both
    directions of a layer (and both stacks of separate directions) share a group.
    """
    layers = model.config.num_layers
    groups = [[] for _ in range(layers + 2)]
    for name, param in model.named_parameters():
        if name.startswith("bilstm.embeddings."):
            groups[0].append((name, param))
        elif name.startswith("bilstm."):
            match = re.search(r"_l(\d+)(_reverse)?$", name)
            if match is None:
                raise ValueError(f"layer_groups: cannot tell the recurrent layer of parameter {name!r}.")
            groups[1 + int(match.group(1))].append((name, param))
        else:
            groups[-1].append((name, param))
    return groups


def slanted_triangular(step: int, total: int, cut_frac: float = 0.1, ratio: float = 32.0) -> float:
    """ULMFiT's slanted triangular learning-rate factor at `step` of `total` (1 at the peak, 1/ratio at the ends)."""
    cut = max(1, int(total * cut_frac))
    if step < cut:
        p = step / cut
    else:
        p = max(0.0, 1 - (step - cut) / max(1, total - cut))
    return (1 + p * (ratio - 1)) / ratio


class GradualUnfreezingCallback(TrainerCallback):
    """Epoch e trains the top e+1 groups of `layer_groups` (head first); the rest stay frozen."""

    def __init__(self, groups: list[list[tuple[str, nn.Parameter]]]):
        self.groups = groups

    def on_epoch_begin(self, args, state, control, **kwargs):
        trainable = int(state.epoch or 0) + 1
        for index, group in enumerate(reversed(self.groups)):
            for _, param in group:
                param.requires_grad_(index < trainable)

    def on_train_end(self, args, state, control, **kwargs):
        for group in self.groups:
            for _, param in group:
                param.requires_grad_(True)


# ----------------------------------------------------------------------------------------------------------------
# Regularisers as hooks: the model class stays the one that is saved and loaded


def add_word_dropout(model: BiLSTMForSequenceClassification, p: float):
    """Blanks whole tokens (embedding zeroed, the rest scaled by 1/(1-p)) in training mode; returns the hook handle."""

    def hook(module, inputs, output):
        if not module.training or p == 0:
            return output
        keep = output.new_empty(output.shape[:-1] + (1,)).bernoulli_(1 - p)  # (batch, seq, 1)
        return output * keep / (1 - p)

    return model.get_input_embeddings().register_forward_hook(hook)


def add_weight_drop(model: BiLSTMForSequenceClassification, p: float) -> list:
    """
    DropConnect on every `weight_hh` of the recurrent modules in training mode (one mask per batch). The dropped
    matrices are handed to the RNNs for one encoder call and the parameters themselves are never changed.
    """
    # Hooked on the encoder, not on each RNN module: the padded path runs a bidirectional stack layer by layer without
    # calling the module, but both paths read the module's `_flat_weights`, swapped here for the whole call.
    encoder = model.base_model
    rnns = [module for module in encoder.modules() if isinstance(module, nn.RNNBase)]

    def before(module, args, kwargs):
        if module.training and p > 0:
            for rnn in rnns:
                rnn._flat_weights = [
                    nn.functional.dropout(weight, p, training=True) if name.startswith("weight_hh") else weight
                    for name, weight in zip(rnn._flat_weights_names, rnn._flat_weights)
                ]

    def after(module, args, kwargs, output):
        if module.training and p > 0:
            for rnn in rnns:
                rnn._init_flat_weights()  # back to the parameters themselves

    return [
        encoder.register_forward_pre_hook(before, with_kwargs=True),
        encoder.register_forward_hook(after, with_kwargs=True),
    ]


def _unit(direction: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each example's direction on its text tokens, scaled to norm 1. (batch, seq, dim)"""
    direction = direction * mask.unsqueeze(-1)
    norm = direction.flatten(1).norm(dim=1).clamp_min(1e-12)
    return direction / norm.view(-1, 1, 1)


def _norms(embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (embeds * mask.unsqueeze(-1)).flatten(1).norm(dim=1).view(-1, 1, 1).detach()  # (batch, 1, 1)


class FineTuningTrainer(LengthGroupedTrainer):
    """
    The stock `Trainer` plus the tools of `FineTuningArguments`: layer-wise learning rates (`create_optimizer`), the
    slanted triangular schedule (`create_scheduler`) and (virtual) adversarial losses (`compute_loss`). Word dropout,
    weight drop and gradual unfreezing are installed here as hooks and a callback.
    """

    def __init__(self, *args, finetuning: FineTuningArguments, **kwargs):
        super().__init__(*args, **kwargs)
        self.finetuning = finetuning
        model = self.model
        if not isinstance(model, BiLSTMForSequenceClassification):
            raise ValueError(f"FineTuningTrainer fine-tunes a BiLSTMForSequenceClassification, not {type(model)}.")
        self.groups = layer_groups(model)
        if finetuning.word_dropout:
            add_word_dropout(model, finetuning.word_dropout)
        if finetuning.weight_drop:
            add_weight_drop(model, finetuning.weight_drop)
        if finetuning.gradual_unfreezing:
            self.add_callback(GradualUnfreezingCallback(self.groups))

    def create_optimizer(self, model=None):
        tools = self.finetuning
        if self.optimizer is not None or (tools.layerwise_lr_decay == 1.0 and not tools.gradual_unfreezing):
            return super().create_optimizer(model)
        # Every parameter goes in, frozen or not: gradual unfreezing thaws them later and AdamW skips grad-less ones.
        decay = set(self.get_decay_parameter_names(self.model))
        top = len(self.groups) - 1
        param_groups = []
        for depth, group in enumerate(self.groups):
            lr = self.args.learning_rate / tools.layerwise_lr_decay ** (top - depth)
            for with_decay in (True, False):
                params = [p for n, p in group if (n in decay) == with_decay]
                if params:
                    wd = self.args.weight_decay if with_decay else 0.0
                    param_groups.append({"params": params, "lr": lr, "weight_decay": wd})
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, self.model)
        optimizer_kwargs.pop("lr", None)
        self.optimizer = optimizer_cls(param_groups, **optimizer_kwargs)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is not None or not self.finetuning.slanted_triangular:
            return super().create_scheduler(num_training_steps, optimizer)
        cut_frac, ratio = self.finetuning.stlr_cut_frac, self.finetuning.stlr_ratio
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer or self.optimizer, lambda step: slanted_triangular(step, num_training_steps, cut_frac, ratio)
        )
        self._created_lr_scheduler = True
        return self.lr_scheduler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        tools = self.finetuning
        if not (model.training and (tools.adversarial_epsilon or tools.virtual_adversarial_epsilon)):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        inputs = dict(inputs)
        input_ids, labels = inputs.pop("input_ids"), inputs.pop("labels")
        mask = inputs.get("attention_mask")
        mask = torch.ones_like(input_ids) if mask is None else mask
        mask = mask.to(torch.float32)
        embeds = model.get_input_embeddings()(input_ids)  # (batch, seq, dim): perturbations act here
        if not embeds.requires_grad:  # a frozen embedding (gradual unfreezing) still needs the direction
            embeds.requires_grad_()
        outputs = model(inputs_embeds=embeds, labels=labels, **inputs)
        loss = outputs.loss
        scale = _norms(embeds, mask)
        if tools.adversarial_epsilon:
            (grad,) = torch.autograd.grad(loss, embeds, retain_graph=True)
            moved = embeds + tools.adversarial_epsilon * scale * _unit(grad.detach(), mask)
            loss = loss + tools.adversarial_weight * model(inputs_embeds=moved, labels=labels, **inputs).loss
        if tools.virtual_adversarial_epsilon:
            clean = nn.functional.log_softmax(outputs.logits.detach().float(), dim=-1)
            probe = (1e-3 * scale * _unit(torch.randn_like(embeds), mask)).requires_grad_()
            probed = model(inputs_embeds=embeds.detach() + probe, **inputs).logits.float()
            kl = nn.functional.kl_div(probed.log_softmax(-1), clean, log_target=True, reduction="batchmean")
            (grad,) = torch.autograd.grad(kl, probe)
            moved = embeds + tools.virtual_adversarial_epsilon * scale * _unit(grad.detach(), mask)
            moved_logits = model(inputs_embeds=moved, **inputs).logits.float()
            vat = nn.functional.kl_div(moved_logits.log_softmax(-1), clean, log_target=True, reduction="batchmean")
            loss = loss + tools.adversarial_weight * vat
        return (loss, outputs) if return_outputs else loss
