"""Push a model folder to the Hugging Face Hub and prove that it loads back for someone without `hf_bilstm`.

`hf-bilstm push FOLDER USER/NAME` uploads only what a user needs (safetensors weights, config with `auto_map`, the two
code files, tokenizer, model card, results JSONs; never a pickle), then loads the new commit in a fresh process with an
empty cache where `import hf_bilstm` fails, through `AutoModelForSequenceClassification` and
`pipeline(..., trust_remote_code=True)`, and compares its logits with the local model's.
`hf-bilstm train --push_to_hub --hub_model_id USER/NAME` uses `check_push_to_hub` before training and `push_trained`
after it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .arguments import FlagParser, option, positional, switch
from .logs import get_logger, show_progress
from .model_card import CardError, complete_card

logger = get_logger(__name__)

# Exact names of what a pushed model consists of; any other file in the folder is left out (and listed).
MODEL_FILES = ("config.json", "model.safetensors")
CODE_FILES = ("configuration_bilstm.py", "modeling_bilstm.py")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
OPTIONAL_FILES = ("special_tokens_map.json", "added_tokens.json", "generation_config.json", "data_schema.json")
SHARDED_WEIGHTS = re.compile(r"^model-\d{5}-of-\d{5}\.safetensors$")
RESULTS_JSON = re.compile(r"^(all|train|eval|test|validation|predict)_results\.json$|^results\.json$")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
AUTO_CLASSES = ("AutoConfig", "AutoModel", "AutoModelForSequenceClassification")
REPO_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")
VERIFY_TEXTS = (
    "A wonderful film: the acting, the music and the story were great. I loved it!",
    "Terrible and boring. The plot made no sense and I fell asleep.",
    "",
    "It was fine.<br />Not great, not bad, " + "and it went on and on " * 40 + "until the end.",
)
LOGIT_TOLERANCE = 1e-5
TOKEN_FIX = (
    "Log in with `hf auth login` (it stores the token), or export HF_TOKEN=hf_... with a token that has write "
    "access, created at https://huggingface.co/settings/tokens."
)


class HubPushError(RuntimeError):
    """A push or its verification failed; the message says what happened and how to fix or retry it."""


class PushRefusedError(HubPushError, ValueError):
    """The folder cannot be pushed as it is (checked before anything runs or is sent): exit 2, like a usage error."""


class HubUnreachableError(HubPushError):
    """The Hub did not answer (network, DNS, timeout)."""


@dataclass
class PushResult:
    """What a push did: the repository, the branch and the commit a user should pin, and what was sent."""

    repo_id: str
    revision: str
    commit_sha: str
    commit_url: str
    files: list[str]
    changed: bool
    verification: dict | None = None  # the fresh process's report, when verified


# ------------------------------------------------------------------------------------------------ checks (local)
def validate_repo_id(repo_id: str) -> str:
    """`USER/NAME` with the Hub's name rules, or a ValueError saying what is wrong."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ValueError(
            f"Invalid repo id {repo_id!r}: it must be USER/NAME (or ORG/NAME), e.g. alice/bilstm-imdb; "
            "the namespace is your Hub user name or an organisation you can write to."
        )
    for part in repo_id.split("/"):
        if not REPO_ID.match(part) or "--" in part or ".." in part or part.endswith(".git"):
            raise ValueError(
                f"Invalid repo id {repo_id!r}: {part!r} must be 1-96 characters of letters, digits, '-', '_' or "
                "'.', not start or end with '-' or '.', and contain neither '--' nor '..' nor end in '.git'."
            )
    return repo_id


def validate_branch(revision: str) -> str:
    if not revision or re.fullmatch(r"[0-9a-f]{40}", revision) or revision.startswith("/") or ".." in revision:
        raise ValueError(
            f"--revision {revision!r} must be a branch name (e.g. main or v2); a commit sha cannot be pushed to."
        )
    return revision


def collect_files(folder: str | os.PathLike) -> tuple[dict[str, Path], list[str]]:
    """
    Checks that `folder` is a complete hf_bilstm model folder and returns `({path_in_repo: local path}, left_out)`,
    where `left_out` names the files that will not be uploaded (pickles, checkpoints, anything unknown).
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise PushRefusedError(f"{folder} {what}; give the output folder of `hf-bilstm train` (or save_pretrained).")
    from .output_dir import OWN_NAMES

    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in OWN_NAMES)
    shards = [n for n in names if SHARDED_WEIGHTS.match(n)]
    weights = ["model.safetensors"] if "model.safetensors" in names else []
    if not weights and shards and "model.safetensors.index.json" in names:
        weights = ["model.safetensors.index.json", *shards]
    if not weights:
        pickles = [n for n in names if n.endswith(PICKLE_SUFFIXES)]
        hint = f" It holds {pickles}, which are pickles and are never pushed." if pickles else ""
        raise PushRefusedError(
            f"{folder} has no model.safetensors.{hint} Save the model with `model.save_pretrained(folder)` "
            "(safetensors is its default) and push again."
        )
    missing = [n for n in (*MODEL_FILES[:1], *CODE_FILES, *TOKENIZER_FILES) if n not in names]
    if missing:
        raise PushRefusedError(
            f"{folder} lacks {missing}. A pushed model needs its config, both code files (written by "
            "`model.save_pretrained`) and its tokenizer (`tokenizer.save_pretrained(folder)`); save them, push again."
        )
    chosen_names = [*weights, "config.json", *CODE_FILES, *TOKENIZER_FILES]
    chosen_names += [n for n in names if n in OPTIONAL_FILES or RESULTS_JSON.match(n) or n == "README.md"]
    chosen_names += onnx_files(folder)
    check_no_links(folder, chosen_names)
    try:
        config = json.loads((folder / "config.json").read_text())
    except ValueError as error:
        raise PushRefusedError(f"{folder}/config.json is not valid JSON ({error}); save the model again.") from error
    if not isinstance(config, dict):
        raise PushRefusedError(f"{folder}/config.json is not a JSON object; save the model again.")
    if config.get("model_type") != "bilstm":
        raise PushRefusedError(
            f"{folder}/config.json has model_type {config.get('model_type')!r}, not 'bilstm': this is not an "
            "hf_bilstm model folder."
        )
    check_auto_map(folder, config.get("auto_map") or {})
    check_tokenizer_auto_map(folder)
    absent = [name for name in AUTO_CLASSES if name not in (config.get("auto_map") or {})]
    if absent:
        raise PushRefusedError(
            f"{folder}/config.json has no auto_map entry for {absent}, so users could not load it with "
            "trust_remote_code. Re-save it with hf_bilstm: "
            "`BiLSTMForSequenceClassification.from_pretrained(folder).save_pretrained(folder)`."
        )
    chosen = chosen_names
    left_out = [n for n in names if n not in chosen]
    return {name: folder / name for name in chosen}, left_out


def onnx_files(folder: Path) -> list[str]:
    """The `onnx/` files of `hf-bilstm export` (Optimum's layout), refused when made from other weights."""
    from .onnx_runtime import FP32_FILE, INT8_FILE, ONNX_DIR, REPORT_FILE, check_export_is_current

    target = folder / ONNX_DIR
    if not target.is_dir() or target.is_symlink():
        return []
    names = [f"{ONNX_DIR}/{name}" for name in (FP32_FILE, INT8_FILE, REPORT_FILE) if (target / name).exists()]
    report = target / REPORT_FILE
    if names and (not report.is_file() or report.is_symlink()):
        raise PushRefusedError(
            f"{target} holds {names} but no {REPORT_FILE}, so nothing says they were exported from this model's "
            f"weights and checked. Export again (hf-bilstm export {folder} --overwrite), or remove {target}."
        )
    if names:
        try:
            check_export_is_current(str(folder), json.loads(report.read_text()))
        except ValueError as error:  # UsageError, or a report that is not JSON
            raise PushRefusedError(str(error)) from error
    return names


def check_no_links(folder: Path, names: list[str]) -> None:
    """Refuses a symlink, or anything resolving outside `folder`: a push would upload a file from elsewhere."""
    root = folder.resolve()
    for name in names:
        path = folder / name
        resolved = path.resolve()
        if path.is_symlink() or (resolved != root and root not in resolved.parents):
            raise PushRefusedError(
                f"{path} is a symbolic link (to {os.path.realpath(path)}); a push never uploads a file from "
                "outside the folder. Replace the link by the file itself (cp --remove-destination TARGET LINK), or "
                "remove it."
            )


def check_tokenizer_auto_map(folder: Path) -> None:
    """tokenizer_config.json may carry an auto_map too (AutoTokenizer runs its class under trust_remote_code): the
    folder's code has no tokenizer class, so any entry there is code from elsewhere and is refused."""
    try:
        settings = json.loads((folder / "tokenizer_config.json").read_text())
    except ValueError as error:
        raise PushRefusedError(
            f"{folder}/tokenizer_config.json is not valid JSON ({error}); save the tokenizer again."
        ) from error
    auto_map = settings.get("auto_map") if isinstance(settings, dict) else None
    if auto_map:
        raise PushRefusedError(
            f"{folder}/tokenizer_config.json has auto_map {auto_map!r}: users loading the model with "
            "trust_remote_code would run that tokenizer code, which is not part of hf_bilstm. Remove the auto_map "
            "entry, or save the tokenizer again with hf_bilstm (tokenizer.save_pretrained(folder))."
        )


def check_auto_map(folder: Path, auto_map: dict) -> None:
    """Every auto_map entry must name a class of the folder's own code files, never another repository's code."""
    modules = {name[: -len(".py")] for name in CODE_FILES}
    if not isinstance(auto_map, dict):
        raise PushRefusedError(f"{folder}/config.json: auto_map is a {type(auto_map).__name__}, not a mapping.")
    for key, value in auto_map.items():
        for reference in value if isinstance(value, (list, tuple)) else [value]:
            if reference is None:
                continue
            if not isinstance(reference, str) or "--" in reference or reference.split(".")[0] not in modules:
                raise PushRefusedError(
                    f"{folder}/config.json: auto_map[{key!r}] = {reference!r} points at code outside the folder "
                    f"(another repository's, or a module other than {sorted(modules)}); users loading it with "
                    "trust_remote_code would run that code. Re-save the model with hf_bilstm "
                    "(`BiLSTMForSequenceClassification.from_pretrained(folder).save_pretrained(folder)`)."
                )


def check_code_files(folder: Path, allow_custom_code: bool = False) -> None:
    """
    The folder's code files are run by everyone who loads the pushed model with trust_remote_code (and by the
    verification): they must be byte-identical to the installed package's, unless a custom push is asked for.
    """
    package = Path(__file__).resolve().parent
    differing = [name for name in CODE_FILES if (folder / name).read_bytes() != (package / name).read_bytes()]
    if differing and not allow_custom_code:
        raise PushRefusedError(
            f"{folder}: the code file(s) {differing} differ from the installed hf_bilstm's ({package}); they would "
            "run on every machine that loads the model with trust_remote_code. Re-save the model with this hf_bilstm "
            "(model.save_pretrained(folder)) to get the package's code, or pass --allow_custom_code if the change "
            "is yours and deliberate."
        )
    if differing:
        logger.warning(f"warning: pushing custom code files {differing} (--allow_custom_code).")


# ------------------------------------------------------------------------------------------------ token (network)
def check_token(repo_id: str, token: str | None = None) -> tuple[str, str]:
    """
    Finds the token (argument, `HF_TOKEN` or the stored login) and asks the Hub whether it may write to `repo_id`'s
    namespace. Returns `(token, user name)`; raises HubPushError with the fix otherwise. Call it before training.
    """
    from huggingface_hub import HfApi, constants, get_token
    from huggingface_hub.utils import HfHubHTTPError

    validate_repo_id(repo_id)
    token = token or get_token()
    if not token:
        raise HubPushError(f"No Hugging Face token found, so nothing can be pushed to {repo_id}. {TOKEN_FIX}")
    try:
        info = HfApi(endpoint=constants.ENDPOINT).whoami(token=token)
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status == 401:
            raise HubPushError(
                f"The Hugging Face token was refused by {constants.ENDPOINT} (401). {TOKEN_FIX}"
            ) from err
        raise HubPushError(f"Could not check the token with {constants.ENDPOINT}: {err}") from err
    except Exception as err:  # connection refused, DNS, timeout: whatever the HTTP library raises
        raise HubUnreachableError(
            f"Could not reach the Hub at {constants.ENDPOINT} to check the token ({type(err).__name__}: {err}). "
            "Check the network (and HF_ENDPOINT), then try again."
        ) from err
    user = info.get("name")
    role = ((info.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise HubPushError(f"The Hugging Face token of {user!r} is read-only; pushing needs write access. {TOKEN_FIX}")
    namespaces = {user, *(org.get("name") for org in info.get("orgs") or [])}
    namespace = repo_id.split("/")[0]
    if namespace not in namespaces:
        raise HubPushError(
            f"The token belongs to {user!r}, who cannot write to the namespace {namespace!r} of {repo_id}. "
            f"Use {user}/{repo_id.split('/')[1]}, or a token of a member of {namespace!r}."
        )
    return token, user


# ------------------------------------------------------------------------------------------------ train --push_to_hub
def check_push_to_hub(training_args) -> tuple[str, str]:
    """
    For `hf-bilstm train --push_to_hub --hub_model_id USER/NAME` (the TrainingArguments' own flags): checks the repo
    id, the branch and the token BEFORE training, so that a long run never ends in a push that cannot happen.
    Returns `(repo_id, token)`.
    """
    repo_id = training_args.hub_model_id
    if not repo_id:
        raise ValueError("--push_to_hub needs --hub_model_id USER/NAME: the model repository to create or update.")
    validate_repo_id(repo_id)
    validate_branch(getattr(training_args, "hub_revision", None) or "main")
    try:
        token, _ = check_token(repo_id, training_args.hub_token)
    except HubPushError as err:
        raise HubPushError(
            f"{err}\nNothing was trained. Fix this, or train without --push_to_hub and push the folder later with "
            "`hf-bilstm push OUTPUT_DIR USER/NAME`."
        ) from err
    return repo_id, token


def push_trained(output_dir: str, training_args, token: str) -> PushResult:
    """The push at the end of `hf-bilstm train --push_to_hub`, once the output folder is complete; verified."""
    result = push_folder(
        output_dir,
        training_args.hub_model_id,
        private=bool(training_args.hub_private_repo),
        revision=getattr(training_args, "hub_revision", None) or "main",
        commit_message=f"hf-bilstm train: {Path(output_dir).name}",
        token=token,
    )
    logger.info(describe(result))
    return result


# ------------------------------------------------------------------------------------------------ push
def retry_command(
    folder, repo_id: str, private: bool = False, revision: str = "main", commit_message: str | None = None, **extra
) -> str:
    """The exact `hf-bilstm push` command that repeats a push (uploading again only what did not arrive)."""
    words = ["hf-bilstm", "push", str(Path(folder).resolve()), repo_id]
    if private:
        words.append("--private")
    if revision != "main":
        words += ["--revision", revision]
    if commit_message:
        words += ["--commit_message", commit_message]
    for key, value in extra.items():
        if value:
            words += [f"--{key}", str(value)]
    return shlex.join(words)


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str = "main",
    commit_message: str | None = None,
    verify: bool = True,
    token: str | None = None,
    license: str | None = None,
    dataset: str | None = None,
    allow_custom_code: bool = False,
) -> PushResult:
    """
    Pushes a model folder to `repo_id` (creating the repository and the branch if needed) in one commit, then, unless
    `verify=False`, checks the pushed commit with [`verify_push`]. The local folder is only read, never changed.
    Re-pushing an unchanged folder creates no commit.
    """
    from huggingface_hub import CommitOperationAdd, HfApi, constants

    folder = Path(folder)
    validate_repo_id(repo_id)
    validate_branch(revision)
    files, left_out = collect_files(folder)
    check_code_files(folder, allow_custom_code)
    from .model_loading import load_classifier_folder

    load_classifier_folder(str(folder))  # weights that match the model, before anything is sent (UsageError)
    readme = files.pop("README.md", None)
    try:
        card = complete_card(readme.read_text() if readme else None, repo_id, folder, license, dataset)
    except CardError as error:
        raise PushRefusedError(str(error)) from error
    retry = retry_command(folder, repo_id, private, revision, commit_message, license=license, dataset=dataset)
    try:
        token, _ = check_token(repo_id, token)
    except HubUnreachableError as err:
        raise HubPushError(f"{err}\nThe local folder is intact; nothing was sent. Retry with:\n  {retry}") from err
    if left_out:
        logger.info(f"Not uploaded (not part of a model, or pickles): {', '.join(left_out)}")

    api = HfApi(endpoint=constants.ENDPOINT, token=token)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in files.items()]
    operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode("utf-8")))
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.model_info(repo_id, revision=revision)
        if private and not info.private:
            raise HubPushError(
                f"{repo_id} already exists and is public, but --private was asked: nothing was uploaded. Make it "
                f"private in its settings on the Hub (or push without --private), then run:\n  {retry}"
            )
        commit = api.create_commit(
            repo_id,
            operations=operations,
            commit_message=commit_message or f"Upload {folder.name} with hf_bilstm",
            revision=revision,
            parent_commit=info.sha,
        )
    except HubPushError:
        raise
    except Exception as err:  # unreachable Hub, HTTP errors, interrupted uploads: all are retried the same way
        raise HubPushError(
            f"Pushing {folder} to {repo_id} failed ({type(err).__name__}: {err}).\n"
            f"The local folder is intact. Once the cause is fixed (or the Hub answers again), retry with:\n  {retry}"
        ) from err
    changed = commit.oid != info.sha
    result = PushResult(
        repo_id=repo_id,
        revision=revision,
        commit_sha=commit.oid,
        commit_url=commit.commit_url,
        files=sorted([*files, "README.md"]),
        changed=changed,
    )
    if verify:
        result.verification = verify_push(folder, repo_id, commit.oid, token=token, retry=retry)
    return result


def describe(result: PushResult) -> str:
    """What a push did, for its user: the commit, the verification, and how to load exactly that commit."""
    where = f"{result.repo_id}@{result.revision}"
    if result.changed:
        lines = [f"Pushed {len(result.files)} files to {where}: commit {result.commit_sha}\n  {result.commit_url}"]
    else:
        lines = [f"Nothing changed since the last push: {where} stays at commit {result.commit_sha}"]
    if result.verification is not None:
        lines.append(
            f"Verified: {result.repo_id}@{result.commit_sha[:12]} loads in a fresh process without hf_bilstm (remote "
            "code, empty cache); AutoModelForSequenceClassification and pipeline logits match the local model on "
            f"{len(VERIFY_TEXTS)} texts (max difference {result.verification['max_diff']:.2g})."
        )
    lines.append(usage_snippet(result.repo_id, result.commit_sha))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ verify
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


def usage_snippet(repo_id: str, commit_sha: str) -> str:
    return (
        "Load it pinned to this commit (remote code runs only as pushed in it):\n\n"
        "    from transformers import pipeline\n"
        f'    classifier = pipeline("text-classification", model="{repo_id}",\n'
        f'                          revision="{commit_sha}", trust_remote_code=True)\n'
        '    classifier("A wonderful film!")\n\n'
        "With hf_bilstm installed, `import hf_bilstm` first and trust_remote_code is not needed.\n"
    )


# ------------------------------------------------------------------------------------------------ command line
@dataclass
class PushArguments:
    """The arguments of `hf-bilstm push`."""

    folder: str = positional("the model folder (output of `hf-bilstm train` or save_pretrained)")
    repo_id: str = positional("USER/NAME (or ORG/NAME) of the model repository; created if absent")
    private: bool = switch("create the repository as private")
    revision: str = option("main", "branch to push to (created if absent; default main)")
    commit_message: str | None = option(None, "message of the commit")
    no_verify: bool = switch("skip loading the pushed model back")
    license: str | None = option(None, "license for a card that declares none, e.g. apache-2.0")
    dataset: str | None = option(None, "dataset id for a card that names none, e.g. stanfordnlp/imdb")
    allow_custom_code: bool = switch(
        "push code files that differ from the installed hf_bilstm's (a deliberate custom model)"
    )


def build_parser() -> FlagParser:
    return FlagParser(
        PushArguments,
        prog="hf-bilstm push",
        description="Push a model folder (weights, config, code, tokenizer, card, results) to the Hugging Face Hub "
        "and verify that it loads back without hf_bilstm. The token comes from HF_TOKEN or `hf auth login`.",
        formatter_class=argparse.HelpFormatter,  # the help texts state their defaults where it matters
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_command(sys.argv[1:] if argv is None else argv)
    show_progress()
    try:
        validate_repo_id(args.repo_id)
        validate_branch(args.revision)
        result = push_folder(
            args.folder,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            verify=not args.no_verify,
            license=args.license,
            dataset=args.dataset,
            allow_custom_code=args.allow_custom_code,
        )
    except ValueError as err:  # bad arguments or a folder that cannot be pushed as it is: nothing was sent
        print(f"hf-bilstm push: error: {err}", file=sys.stderr)
        return 2
    except HubPushError as err:
        print(f"hf-bilstm push: error: {err}", file=sys.stderr)
        return 1
    print(describe(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
