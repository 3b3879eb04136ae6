"""Push a model folder to the Hugging Face Hub and prove that it loads back for someone without `hf_bilstm`.

`hf-bilstm push FOLDER USER/NAME` uploads only what a user needs (safetensors weights, config with `auto_map`, the two
code files, tokenizer, model card, results JSONs; never a pickle), then loads the new commit in a fresh process with an
empty cache where `import hf_bilstm` fails, through `AutoModelForSequenceClassification` and
`pipeline(..., trust_remote_code=True)`, and compares its logits with the local model's.
`hf-bilstm train --push_to_hub --hub_model_id USER/NAME` uses `check_push_to_hub` before training and `push_trained`
after it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from .cards import CardError
from .errors import HubPushError, HubUnreachableError, PushRefusedError, UsageError
from .folder import CODE_FILES, MODEL_FILES, OPTIONAL_FILES, OWN_NAMES, SHARD, TOKENIZER_FILES
from .hub_verification import VERIFY_TEXTS, verify_push
from .logs import get_logger
from .push_card import complete_card

logger = get_logger(__name__)

# What a pushed model consists of: the files hf_bilstm.folder lists, results and ONNX files; any other file in the
# folder is left out (and listed).
RESULTS_JSON = re.compile(r"^(all|train|eval|test|validation|predict)_results\.json$|^results\.json$")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
AUTO_CLASSES = ("AutoConfig", "AutoModel", "AutoModelForSequenceClassification")
REPO_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")
TOKEN_FIX = (
    "Log in with `hf auth login` (it stores the token), or export HF_TOKEN=hf_... with a token that has write "
    "access, created at https://huggingface.co/settings/tokens."
)


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
    """`USER/NAME` with the Hub's name rules, or a UsageError saying what is wrong."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise UsageError(
            f"Invalid repo id {repo_id!r}: it must be USER/NAME (or ORG/NAME), e.g. alice/bilstm-imdb; "
            "the namespace is your Hub user name or an organisation you can write to."
        )
    for part in repo_id.split("/"):
        if not REPO_ID.match(part) or "--" in part or ".." in part or part.endswith(".git"):
            raise UsageError(
                f"Invalid repo id {repo_id!r}: {part!r} must be 1-96 characters of letters, digits, '-', '_' or "
                "'.', not start or end with '-' or '.', and contain neither '--' nor '..' nor end in '.git'."
            )
    return repo_id


def validate_branch(revision: str) -> str:
    if not revision or re.fullmatch(r"[0-9a-f]{40}", revision) or revision.startswith("/") or ".." in revision:
        raise UsageError(
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
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in OWN_NAMES)
    shards = [n for n in names if SHARD.match(n)]
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
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
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
    from .onnx.runtime import FP32_FILE, INT8_FILE, ONNX_DIR, REPORT_FILE, check_export_is_current, read_report

    target = folder / ONNX_DIR
    if target.is_symlink():  # refused like a linked file: left out silently, the push would lose the export unsaid
        raise PushRefusedError(
            f"{target} is a symbolic link (to {os.path.realpath(target)}); a push never uploads files from outside "
            f"the folder. Replace it by the folder itself (rm {target} && cp -r {os.path.realpath(target)} "
            f"{target}), or remove it."
        )
    if not target.is_dir():
        return []
    names = [f"{ONNX_DIR}/{name}" for name in (FP32_FILE, INT8_FILE, REPORT_FILE) if (target / name).exists()]
    report = target / REPORT_FILE
    if names and (not report.is_file() or report.is_symlink()):
        raise PushRefusedError(
            f"{target} holds {names} but no {REPORT_FILE}, so nothing says they were exported from this model's "
            f"weights and checked. Export again (hf-bilstm export {folder} --overwrite), or remove {target}."
        )
    if names:
        try:  # each ONNX file pushed must be the one its report vouches for, made from these weights and tokenizer
            present = [name for name in (FP32_FILE, INT8_FILE) if (target / name).exists()]
            check_export_is_current(str(folder), read_report(str(folder), str(report)), present)
        except UsageError as error:
            raise PushRefusedError(str(error)) from error
        # The JavaScript modules and the demo page (not its vendor/ copy of transformers.js: the page then loads
        # it from a CDN).
        from .onnx.javascript import DEMO_DIR, DEMO_FILES, JS_MODULES

        extras = [*JS_MODULES] + [f"{DEMO_DIR}/{name}" for name in (*DEMO_FILES, "model_info.json")]
        names += [name for name in extras if (folder / name).is_file()]
    return names


def check_no_links(folder: Path, names: list[str]) -> None:
    """Refuses a symlink, a hard link (a file with more than one name: its other name may be anywhere, and what is
    uploaded is that file's content) or anything resolving outside `folder`: a push would upload a file from
    elsewhere."""
    root = folder.resolve()
    for name in names:
        path = folder / name
        resolved = path.resolve()
        if not path.is_symlink() and path.is_file() and path.stat().st_nlink > 1:
            raise PushRefusedError(
                f"{path} is a hard link ({path.stat().st_nlink} names for one file, the others possibly outside "
                f"the folder); a push never uploads a file shared with elsewhere. Replace it by a copy of its own "
                f"(cp {path} {path}.copy && mv {path}.copy {path}), or remove it."
            )
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
        settings = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
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


def _checked_upload(folder: Path, repo_id, private, revision, commit_message, token, license, dataset, custom_code):
    """Everything checked before anything is sent: names, files, weights, card, token. Returns what to upload
    (`{path_in_repo: local path}`, the completed card), the retry command and the token."""
    validate_repo_id(repo_id)
    validate_branch(revision)
    files, left_out = collect_files(folder)
    check_code_files(folder, custom_code)
    from .model_loading import load_classifier_folder

    load_classifier_folder(str(folder))  # weights that match the model, before anything is sent (UsageError)
    readme = files.pop("README.md", None)
    try:
        card = complete_card(read_card(readme) if readme else None, repo_id, folder, license, dataset)
    except CardError as error:
        raise PushRefusedError(str(error)) from error
    retry = retry_command(folder, repo_id, private, revision, commit_message, license=license, dataset=dataset)
    try:
        token, _ = check_token(repo_id, token)
    except HubUnreachableError as err:
        raise HubPushError(f"{err}\nThe local folder is intact; nothing was sent. Retry with:\n  {retry}") from err
    if left_out:
        logger.info(f"Not uploaded (not part of a model, or pickles): {', '.join(left_out)}")
    return files, card, retry, token


def read_card(path: Path) -> str:
    """The card's text, which must be UTF-8 (the Hub reads it so); otherwise one line naming the file and the fix."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise CardError(
            f"{path} is not UTF-8 text ({error}); the Hub reads a card as UTF-8. Convert it (e.g. iconv -f latin1 "
            f"-t utf-8 {path} > {path}.utf8 && mv {path}.utf8 {path}), or delete it to get a generated card."
        ) from None


def _commit(folder: Path, repo_id, files, card, private, revision, commit_message, token, retry):
    """The repository (and branch) made if needed, then one commit of `files` and the card; `(info before, commit)`."""
    from huggingface_hub import CommitOperationAdd, HfApi, constants

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
    return info, commit


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
    folder = Path(folder)
    files, card, retry, token = _checked_upload(
        folder, repo_id, private, revision, commit_message, token, license, dataset, allow_custom_code
    )
    info, commit = _commit(folder, repo_id, files, card, private, revision, commit_message, token, retry)
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


def usage_snippet(repo_id: str, commit_sha: str) -> str:
    return (
        "Load it pinned to this commit (remote code runs only as pushed in it):\n\n"
        "    from transformers import pipeline\n"
        f'    classifier = pipeline("text-classification", model="{repo_id}",\n'
        f'                          revision="{commit_sha}", trust_remote_code=True)\n'
        '    classifier("The text to classify.")\n\n'
        "With hf_bilstm installed, `import hf_bilstm` first and trust_remote_code is not needed.\n"
    )
