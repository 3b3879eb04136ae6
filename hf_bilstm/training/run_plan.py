"""What `hf-bilstm train` is about to do, said before it does it: the plan block and a measured time estimate."""

import os
import time

import torch
from transformers import TrainerCallback

from ..cpu_threads import describe as describe_wait_policy
from ..cpu_threads import waits_briefly
from ..grouped_split import SHARED_WORDS
from ..logs import get_logger

logger = get_logger(__name__)

# A CPU run expected to take longer than this gets a warning naming a faster preset.
SLOW_RUN_SECONDS = 3600.0
# Throughput is measured after the first step (which pays one-time costs) over at least this long or this many steps.
MEASURE_SECONDS, MEASURE_STEPS = 10.0, 20
# Each preset's training speed through the Trainer on the project's 2-core CPU (AMD EPYC, torch 2.13, 2 threads, idle,
# fp32), real tokens/s over the first 30 steps: benchmarks/results/2026-12-04-cpu-training.json (tutorial, base,
# cpu) and the run plan's own estimate in 2026-12-04-cpu-preset-cpu-best.json (cpu-best's student).
REFERENCE_THREADS = 2
REFERENCE_TOKENS_PER_SECOND = {
    "tutorial": 34_000,
    "base": 13_150,
    "cpu": 40_600,
    "cpu-taught": 40_600,  # the `cpu` model
    "cpu-best": 27_800,
}
# Measured this many times below the reference (scaled to this run's threads): a collapse, not a slower CPU...
COLLAPSE_FACTOR = 3.0
# ...unless other processes are seen using less than this many cores: then it is a slower CPU (an idle AVX2-only
# Zen 1 trains `base` 3.05x below the reference: benchmarks/results/2026-12-05-cpu-training-busy.json).
OTHERS_BUSY_CORES = 0.5


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
        reference: the preset's tokens/s on the reference CPU (`REFERENCE_TOKENS_PER_SECOND`), when this run trains
            the preset's model as it is; a CPU run measured `COLLAPSE_FACTOR` times below it gets a warning naming
            the likely cause (other processes on the cores) and the fix.
        grouped: `Splits.grouped` when validation (and test) were carved by whole groups (--group_column).
        fitted_seconds: the seconds training has when its learning-rate schedule is laid over the time budget
            (`--fit_schedule_to_budget`): the plan then says when training ends instead of how long the epochs take.
    """

    def __init__(
        self,
        preset,
        preset_reason: str,
        splits: dict,
        train_tokens: int,
        faster_preset: str | None = None,
        reference: float | None = None,
        grouped: dict | None = None,
        fitted_seconds: float | None = None,
    ):
        self.preset, self.preset_reason, self.splits = preset, preset_reason, splits
        self.train_tokens, self.faster_preset = train_tokens, faster_preset
        self.reference, self.grouped, self.fitted_seconds = reference, grouped, fitted_seconds
        self._start = None  # (time, step, tokens seen, CPU seconds: this process, the whole machine) after step 1
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
            where = f"CPU, {torch.get_num_threads()} threads, {describe_wait_policy()}"
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
        if self.grouped:
            groups = ", ".join(f"{name} {count:,}" for name, count in self.grouped.items() if name != "column")
            column = self.grouped["column"]
            source = "rows sharing rare words" if column == SHARED_WORDS else f"column {column!r}"
            lines.append(f"carve: by whole groups of {source}, no group on both sides (groups: {groups})")
        steps_per_epoch = state.max_steps / max(args.num_train_epochs, 1e-9) if args.max_steps <= 0 else None
        epochs = f"{args.num_train_epochs:g} epochs" if args.max_steps <= 0 else f"max_steps {args.max_steps}"
        per_epoch = f" ({steps_per_epoch:.0f} per epoch)" if steps_per_epoch else ""
        lines.append(
            f"training: {epochs}, {state.max_steps:,} steps{per_epoch}, batch {args.train_batch_size}, "
            f"{self.train_tokens:,} tokens per epoch"
        )
        if self.fitted_seconds is not None:
            ends = time.strftime("%H:%M", time.localtime(time.time() + self.fitted_seconds))
            lines.append(
                f"schedule: laid over the time budget ({minutes(self.fitted_seconds)} of training, until about "
                f"{ends}): warmup and decay end then, after as many of those steps as this machine gets through"
            )
        logger.info("\n".join(["Training plan:", *("  " + line for line in lines)]))

    def on_step_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or self._estimated:
            return
        now, tokens = time.perf_counter(), state.num_input_tokens_seen
        if self._start is None:
            self._start = (now, state.global_step, tokens, time.process_time(), machine_cpu_seconds())
            return
        started, first_step, first_tokens, own_cpu, machine_cpu = self._start
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
        if self.fitted_seconds is not None:  # the time budget ends training: say how far it will get
            share = min(self.fitted_seconds / max(elapsed + remaining, 1e-9), 1.0)
            logger.info(
                f"Measured {rate} over steps {first_step + 1}-{state.global_step}: the time budget fits about "
                f"{share:.0%} of the planned steps (the schedule ends with the budget)"
            )
            return
        logger.info(
            f"Measured {rate} over steps {first_step + 1}-{state.global_step}: training needs "
            f"about {minutes(remaining)} more (until about {finish}), plus the evaluations"
        )
        if args.device.type == "cpu" and remaining > SLOW_RUN_SECONDS:
            faster = f" `--preset {self.faster_preset}` is sized for a CPU;" if self.faster_preset else ""
            logger.warning(
                f"This run needs over {minutes(SLOW_RUN_SECONDS)} on this CPU.{faster} "
                "shorter texts (--max_length), fewer epochs or a GPU are faster."
            )
        if args.device.type == "cpu" and counted and self.reference:
            measured = (tokens - first_tokens) / elapsed
            others = other_processes_cores(elapsed, time.process_time() - own_cpu, machine_cpu)
            line = collapse_line(measured, self.reference, torch.get_num_threads(), others)
            if line:
                logger.warning(line)


def machine_cpu_seconds() -> float | None:
    """CPU seconds spent by every process on the machine since boot (Linux /proc/stat); None where unknown."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
    ticks = [int(value) for value in fields[1:9]]
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def other_processes_cores(elapsed: float, own_cpu: float, machine_cpu_start: float | None) -> float | None:
    """How many cores other processes kept busy over the last `elapsed` seconds (None where unknown)."""
    now = machine_cpu_seconds()
    if now is None or machine_cpu_start is None or elapsed <= 0:
        return None
    return max(now - machine_cpu_start - own_cpu, 0.0) / elapsed


def collapse_line(measured: float, reference: float, threads: int, others: float | None) -> str | None:
    """One warning line when `measured` tokens/s is `COLLAPSE_FACTOR` times below the preset's `reference` (scaled
    to `threads`, up to the reference's 2), with the likely cause and the fix; None otherwise, and None when other
    processes were seen using under `OTHERS_BUSY_CORES` cores (`others`; None: not measurable here)."""
    expected = reference * min(threads, REFERENCE_THREADS) / REFERENCE_THREADS
    if measured * COLLAPSE_FACTOR > expected or (others is not None and others < OTHERS_BUSY_CORES):
        return None
    cores = os.cpu_count() or 1
    seen = f" (other processes kept {others:.1f} of {cores} cores busy)" if others is not None else ""
    if not waits_briefly():
        fix = (
            "unset OMP_WAIT_POLICY and GOMP_SPINCOUNT so that hf_bilstm chooses, or set GOMP_SPINCOUNT=300 before "
            "torch starts (torch's waiting threads spin otherwise), or"
        )
    else:
        fix = "stop them, give this run fewer threads (--torch_threads 1), or"
    return (
        f"Training at {measured:,.0f} tokens/s is {expected / measured:.0f}x below this preset's "
        f"{expected:,.0f} on an idle {REFERENCE_THREADS}-core CPU: other processes are probably using the "
        f"cores{seen}; {fix} train when the machine is free."
    )
