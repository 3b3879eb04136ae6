"""libgomp waiting policies for the cpu-preset model, idle vs one busy process: predict (batch 32 and 1, 300 tokens)
and a training step (64 x 300), each figure from a fresh process whose environment sets the policy before torch loads.

    python scripts/probe_wait_policy.py OUT.json      # about 5 minutes a round on 2 cores; two rounds

Results: benchmarks/results/2026-12-05-cpu-wait-policy-probe.json (one round, the long spins),
2026-12-06-cpu-wait-policy-probe-short-spins.json (two rounds, the configurations below).
"""

import json
import os
import subprocess
import sys
import time

CHILD = r'''
import json, os, sys, time
import torch
from hf_bilstm.configuration_bilstm import BiLSTMConfig
from hf_bilstm.modeling_bilstm import BiLSTMForSequenceClassification
torch.manual_seed(0)
cfg = BiLSTMConfig(
    vocab_size=30000, embedding_dim=128, hidden_size=128, num_layers=1, pooling="max_mean", num_labels=2,
    pad_token_id=0,
)
m = BiLSTMForSequenceClassification(cfg)
def rate(fn, tokens, secs):
    fn(); t = time.perf_counter(); n = 0
    while time.perf_counter() - t < secs:
        fn(); n += 1
    return round(n * tokens / (time.perf_counter() - t), 1)
out = {}
m.eval()
for b, L in ((32, 300), (1, 300)):
    x = torch.randint(1, 30000, (b, L)); a = torch.ones_like(x)
    with torch.inference_mode():
        out[f"predict_b{b}_texts_per_s"] = rate(lambda: m(input_ids=x, attention_mask=a), b, 5)
m.train(); opt = torch.optim.AdamW(m.parameters())
x = torch.randint(1, 30000, (64, 300)); a = torch.ones_like(x); y = torch.randint(0, 2, (64,))
def step():
    opt.zero_grad(); m(input_ids=x, attention_mask=a, labels=y).loss.backward(); opt.step()
out["train_tokens_per_s"] = rate(step, 64 * 300, 8)
print("RESULT " + json.dumps(out))
'''
LOOP = "import time\nend=time.time()+600\nx=0\nwhile time.time()<end:\n    for i in range(100000): x+=i\n"
# The first round (2026-12-05) also tried 10,000 and 30,000 spins (they collapse beside a busy process) and one
# thread; the second (2026-12-06) the short spins below, two rounds, the order reversed in the second.
CONFIGS = {
    "default(spin 300k)": {},
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "GOMP_SPINCOUNT=1000": {"GOMP_SPINCOUNT": "1000"},
    "GOMP_SPINCOUNT=300": {"GOMP_SPINCOUNT": "300"},
    "GOMP_SPINCOUNT=100": {"GOMP_SPINCOUNT": "100"},
}


def main() -> None:
    results = {}
    for round_ in range(2):
        for name, extra in list(CONFIGS.items())[:: -1 if round_ % 2 else 1]:
            for busy in (0, 1):
                drop = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")
                env = {key: value for key, value in os.environ.items() if key not in drop}
                env.update(extra)
                procs = [subprocess.Popen([sys.executable, "-c", LOOP]) for _ in range(busy)]
                time.sleep(0.3)
                try:
                    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
                finally:
                    for proc in procs:
                        proc.kill()
                        proc.wait()
                lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
                result = json.loads(lines[-1][7:]) if lines else {"error": done.stderr[-500:]}
                results.setdefault(name, {}).setdefault(f"busy{busy}", []).append(result)
                print(round_, name, busy, result, flush=True)
                with open(sys.argv[1], "w") as handle:
                    json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
