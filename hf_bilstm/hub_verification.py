"""Verifying a push: the pushed commit is downloaded into an empty cache and loaded in a fresh process where
`import hf_bilstm` fails, through `AutoModelForSequenceClassification` and `pipeline(..., trust_remote_code=True)`,
and its logits are compared with the local model's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import HubPushError
from .logs import get_logger

logger = get_logger(__name__)

VERIFY_TEXTS = (
    "A wonderful film: the acting, the music and the story were great. I loved it!",
    "Terrible and boring. The plot made no sense and I fell asleep.",
    "",
    "It was fine.<br />Not great, not bad, " + "and it went on and on " * 40 + "until the end.",
)
LOGIT_TOLERANCE = 1e-5

_VERIFY_SCRIPT = r"""
import json, sys


class NoHfBilstm:
    # A user of the pushed model does not have hf_bilstm: only the code pushed with the weights may be used.
    def find_spec(self, name, path=None, target=None):
        if name == "hf_bilstm" or name.startswith("hf_bilstm."):
            raise ImportError("hf_bilstm is blocked in this verification process")
        return None


sys.meta_path.insert(0, NoHfBilstm())
request = json.loads(sys.argv[1])
repo, texts = request["folder"], list(request["texts"])
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

# AutoTokenizer reads config.json, whose auto_map names remote code: without trust_remote_code it would ask.
tokenizer = AutoTokenizer.from_pretrained(repo, trust_remote_code=True)
model = AutoModelForSequenceClassification.from_pretrained(repo, trust_remote_code=True).eval()
with torch.no_grad():
    auto = [model(**tokenizer(text, return_tensors="pt")).logits[0].tolist() for text in texts]
classifier = pipeline("text-classification", model=repo, trust_remote_code=True, device="cpu")
rows = classifier(texts, function_to_apply="none", top_k=None)
print("HF_BILSTM_VERIFY " + json.dumps({
    "module": type(model).__module__,
    "pipeline_module": type(classifier.model).__module__,
    "hf_bilstm_loaded": any(m == "hf_bilstm" or m.startswith("hf_bilstm.") for m in sys.modules),
    "auto": [{model.config.id2label[i]: v for i, v in enumerate(row)} for row in auto],
    "pipeline": [{item["label"]: item["score"] for item in row} for row in rows],
}))
"""


def fresh_process_env(home: str) -> dict[str, str]:
    """
    The environment of a user who never downloaded anything (empty HF_HOME, offline) and holds no credentials: the
    process runs the pushed code, so no token (nor anything named like one) is in reach of it.
    """
    dropped = ("HF_HUB_CACHE", "TRANSFORMERS_", "HF_MODULES", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(dropped)
        and not any(word in k.upper() for word in ("TOKEN", "SECRET", "PASSWORD", "CREDENTIAL"))
    }
    env.update(
        HF_HOME=home, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", HF_TOKEN_PATH=os.path.join(home, "none")
    )
    return env


def local_logits(folder: Path, texts) -> list[dict[str, float]]:
    """The local model's logits per label name, text by text, tokenized as the pipeline does (no truncation)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    # Importing this module imported hf_bilstm, which registered the bilstm Auto classes: the installed code is used,
    # and the folder's own code files are never run (nor is the user asked whether to run them).
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=False).eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            logits = model(**tokenizer(text, return_tensors="pt")).logits[0]
            rows.append({model.config.id2label[i]: float(v) for i, v in enumerate(logits)})
    return rows


def verify_push(
    folder: str | os.PathLike, repo_id: str, revision: str, token: str | None = None, retry: str | None = None
) -> float:
    """
    Loads `repo_id@revision` in a fresh Python process with an empty cache where `import hf_bilstm` fails, through
    `AutoTokenizer` + `AutoModelForSequenceClassification` and through `pipeline("text-classification")`, all with
    `trust_remote_code=True`, and checks that both give the local folder's logits (to 1e-5). Returns the report
    (`auto` and `pipeline` logits per label, the module of the model class, `max_diff`); raises HubPushError when
    loading fails or the logits differ.
    """
    from huggingface_hub import snapshot_download

    folder = Path(folder)
    expected = local_logits(folder, VERIFY_TEXTS)
    with tempfile.TemporaryDirectory(prefix="hf_bilstm_verify_") as home:
        # The pushed commit is downloaded here, with the token; the process that runs its code gets none.
        downloaded = os.path.join(home, revision)  # transformers names the dynamic module after the folder
        try:
            snapshot_download(repo_id, revision=revision, local_dir=downloaded, token=token)
        except Exception as err:  # HTTP and network errors: the push itself is done, the retry verifies again
            again = f"\nPush again to verify again:\n  {retry}" if retry else ""
            raise HubPushError(
                f"The push to {repo_id} succeeded (commit {revision}) but downloading it back failed "
                f"({type(err).__name__}: {err}).{again}"
            ) from err
        request = json.dumps({"folder": downloaded, "texts": list(VERIFY_TEXTS)})
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _VERIFY_SCRIPT, request],
                env=fresh_process_env(os.path.join(home, "hf_home")),
                cwd=home,
                stdin=subprocess.DEVNULL,  # transformers may prompt about remote code; never wait on it
                capture_output=True,
                text=True,
                timeout=900,
            )
        except subprocess.TimeoutExpired as err:
            raise HubPushError(f"Verification of {repo_id}@{revision} did not finish in 15 minutes.") from err
    # The marker may follow other output on its line (a library's prompt or progress text).
    lines = [line.split("HF_BILSTM_VERIFY ", 1)[1] for line in proc.stdout.splitlines() if "HF_BILSTM_VERIFY " in line]
    # Re-running the push uploads nothing when nothing changed, and verifies again.
    again = f"\nAfter fixing the cause, push again (it verifies again):\n  {retry}" if retry else ""
    if proc.returncode != 0 or not lines:
        raise HubPushError(
            f"The push to {repo_id} succeeded (commit {revision}) but loading it back without hf_bilstm failed "
            f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}{again}"
        )
    report = json.loads(lines[-1])
    report["max_diff"] = compare_logits(expected, report, f"{repo_id}@{revision}", again)
    return report


def compare_logits(expected: list[dict[str, float]], report: dict, where: str, again: str = "") -> float:
    """Checks a verification report against the local logits; returns the largest difference or raises."""
    modules = (report["module"], report["pipeline_module"])
    if report["hf_bilstm_loaded"] or not all(m.startswith("transformers_modules") for m in modules):
        raise HubPushError(
            f"Verification of {where} did not run the pushed code (model class from {modules}), "
            "so it proves nothing about what users get."
        )
    worst = 0.0
    for way in ("auto", "pipeline"):
        if len(report[way]) != len(expected):
            raise HubPushError(f"{where} answered {len(report[way])} rows for {len(expected)} texts ({way}).")
        for i, (mine, theirs) in enumerate(zip(expected, report[way])):
            if set(mine) != set(theirs):
                raise HubPushError(f"The labels of {where}, {sorted(theirs)}, differ from the local {sorted(mine)}.")
            diff = max(abs(mine[label] - theirs[label]) for label in mine)
            worst = max(worst, diff)
            if diff > LOGIT_TOLERANCE:
                raise HubPushError(
                    f"{where} gives different logits from the local folder on text #{i} ({way}): {theirs} vs {mine} "
                    f"(difference {diff:.3g} > {LOGIT_TOLERANCE}).{again}"
                )
    return worst
