"""What `hf-bilstm train` is about to do, said before it does it: the plan block and a measured time estimate."""

import time

import torch
from transformers import TrainerCallback

from ..logs import get_logger

logger = get_logger(__name__)

# A CPU run expected to take longer than this gets a warning naming a faster preset.
SLOW_RUN_SECONDS = 3600.0
# Throughput is measured after the first step (which pays one-time costs) over at least this long or this many steps.
MEASURE_SECONDS, MEASURE_STEPS = 10.0, 20


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class RunPlanCallback(TrainerCallback):
    """
    Prints the run plan when training begins (preset and why, device, threads, precision, recurrent path, parameters,
    split sizes, epochs, steps), then an estimate of the training time from the throughput measured over the first
    steps, with a warning when a CPU run would take over an hour. Main process only.

    Args:
        preset: the preset trained, or `None` when starting from `--model_name_or_path`.
        preset_reason: why this preset (what `--preset auto` chose).
        splits: split name → number of rows.
        train_tokens: real (non-padding) tokens in one epoch of the training split.
        faster_preset: what to suggest when a CPU run is too slow (`None`: nothing faster).
    """

    def __init__(self, preset, preset_reason: str, splits: dict, train_tokens: int, faster_preset: str | None = None):
        self.preset, self.preset_reason, self.splits = preset, preset_reason, splits
        self.train_tokens, self.faster_preset = train_tokens, faster_preset
        self._start = None  # (time, step, tokens seen) after the first step
        self._estimated = False

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero:
            return
        self._start, self._estimated = None, False
        device = args.device
        on_cpu = device.type == "cpu"
        precision = "bf16 autocast" if args.bf16 else "fp16 autocast" if args.fp16 else "fp32"
        reason = f"  ({self.preset_reason})" if self.preset_reason else ""
        lines = [f"preset: {self.preset or 'none (--model_name_or_path)'}{reason}"]
        if on_cpu:
            where = f"CPU, {torch.get_num_threads()} threads"
        else:
            where = f"{device} ({torch.cuda.get_device_name(device)})"
        lines.append(f"device: {where}; precision: {precision}")
        if model is not None:
            encoder = getattr(model, "base_model", model)
            if hasattr(encoder, "use_packed_sequences"):
                path = "packed sequences" if encoder.use_packed_sequences(device) else "padded, no packing"
                lines.append(f"recurrent path: {path} (rnn_implementation={model.config.rnn_implementation!r})")
            lines.append(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
        lines.append("rows: " + ", ".join(f"{name} {count:,}" for name, count in self.splits.items()))
        steps_per_epoch = state.max_steps / max(args.num_train_epochs, 1e-9) if args.max_steps <= 0 else None
        epochs = f"{args.num_train_epochs:g} epochs" if args.max_steps <= 0 else f"max_steps {args.max_steps}"
        per_epoch = f" ({steps_per_epoch:.0f} per epoch)" if steps_per_epoch else ""
        lines.append(
            f"training: {epochs}, {state.max_steps:,} steps{per_epoch}, batch {args.train_batch_size}, "
            f"{self.train_tokens:,} tokens per epoch"
        )
        logger.info("\n".join(["hf-bilstm train: plan", *("  " + line for line in lines)]))

    def on_step_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or self._estimated:
            return
        now, tokens = time.perf_counter(), state.num_input_tokens_seen
        if self._start is None:
            self._start = (now, state.global_step, tokens)
            return
        started, first_step, first_tokens = self._start
        steps = state.global_step - first_step
        if now - started < MEASURE_SECONDS and steps < MEASURE_STEPS and state.global_step < state.max_steps:
            return
        self._estimated = True
        elapsed = now - started
        counted = tokens > first_tokens  # real tokens counted (include_num_input_tokens_seen)
        rate = f"{(tokens - first_tokens) / elapsed:,.0f} tokens/s" if counted else f"{steps / elapsed:.2f} steps/s"
        if counted and args.max_steps <= 0:
            # by tokens, not steps: length-grouped batches differ in length, and the first one is the longest
            remaining = max(self.train_tokens * args.num_train_epochs - tokens, 0) * elapsed / (tokens - first_tokens)
        else:
            remaining = (state.max_steps - state.global_step) * elapsed / steps
        finish = time.strftime("%H:%M", time.localtime(time.time() + remaining))
        logger.info(
            f"hf-bilstm train: measured {rate} over steps {first_step + 1}-{state.global_step}: training needs "
            f"about {minutes(remaining)} more (until about {finish}), plus the evaluations"
        )
        if args.device.type == "cpu" and remaining > SLOW_RUN_SECONDS:
            faster = f" `--preset {self.faster_preset}` is sized for a CPU;" if self.faster_preset else ""
            logger.warning(
                f"hf-bilstm train: warning: this run needs over {minutes(SLOW_RUN_SECONDS)} on this CPU.{faster} "
                "shorter texts (--max_length), fewer epochs or a GPU are faster."
            )
