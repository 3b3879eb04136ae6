"""A local, in-memory STAND-IN for the Hugging Face Hub's HTTP API, for tests only. It is not the Hub.

It implements the part of the protocol that `huggingface_hub` (upload) and `transformers` (download) use for a model
repository, with the Hub's status codes, error headers and hashing rules, so that a push and a fresh-cache load
exercise the real client code paths end to end:

- `GET  /api/whoami-v2`                                   token check (401 for an unknown token)
- `GET  /api/agent-harnesses`                             (huggingface_hub >= 2 reads it; answered empty)
- `POST /api/repos/create`                                409 for an existing repo, still carrying `url`
- `POST /api/validate-yaml`                               README.md front matter must be YAML
- `POST /api/models/{repo}/branch/{branch}`               409 for an existing branch
- `POST /api/models/{repo}/preupload/{rev}`               upload mode (lfs/regular) and the remote oid per file
- `POST /{repo}.git/info/lfs/objects/batch`               LFS batch API: upload (signed URL, no token) + verify
- `PUT  /lfs-upload/{oid}?sig=...`, `POST /{repo}.git/info/lfs/objects/verify`
- `POST /api/models/{repo}/commit/{rev}`                  ndjson: header, file, lfsFile, deletedFile
- `GET  /api/models/{repo}[/revision/{rev}]`              `sha`, `siblings`, `private`, `cardData`
- `GET  /api/models/{repo}/tree/{rev}[/{path}]`, `GET /api/models/{repo}/refs`
- `HEAD|GET /{repo}/resolve/{rev}/{path}`                 `X-Repo-Commit`, `ETag`, `X-Linked-Etag`/`X-Linked-Size`

Simplifications (none of which the client can observe on these paths): LFS files are served by the resolve URL
itself instead of a redirect to a CDN, there is no pagination, and commits are stored as full file maps.
Any request outside this list is answered 501 and recorded in `unhandled`, so a test can assert that the client
used nothing the stand-in does not implement. `fail_next` injects server errors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

# What the Hub's default .gitattributes stores with LFS (a subset), plus anything of 10 MiB or more.
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack", ".pkl", ".zip", ".npy")
LFS_MIN_SIZE = 10 * 1024 * 1024
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob, which the Hub uses as ETag and oid of regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class StoredFile:
    size: int
    content: bytes | None = None  # regular files
    lfs_oid: str | None = None  # LFS files: sha256 of the content, kept in the LFS store

    @property
    def oid(self) -> str:
        return self.lfs_oid if self.lfs_oid is not None else git_blob_sha1(self.content)


@dataclass
class Commit:
    sha: str
    parent: str | None
    title: str
    files: dict[str, StoredFile]
    date: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        return self.commits.get(revision)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.body = status, message, code, body


class HubStandIn:
    """
    The stand-in's state and server. `tokens` maps a token to `(user name, role)`, role `"write"` or `"read"`;
    `orgs` maps a user to the organisations it may write to.
    """

    def __init__(self, tokens: dict[str, tuple[str, str]], orgs: dict[str, list[str]] | None = None):
        self.tokens = dict(tokens)
        self.orgs = dict(orgs or {})
        self.repos: dict[str, Repo] = {}
        self.lfs_store: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.unhandled: list[tuple[str, str]] = []
        self.fail_next: dict[str, int] = {}  # route name ("commit", "preupload", ...) -> status of its next answer
        self._secret = secrets.token_bytes(16)
        self._lock = threading.RLock()
        self._counter = 0
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> HubStandIn:
        stand_in = self

        class Handler(_Handler):
            hub = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="hub-stand-in", daemon=True).start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # ---------------------------------------------------------------- helpers for tests
    def commit_count(self, repo_id: str) -> int:
        return len(self.repos[repo_id].commits)

    def head(self, repo_id: str, branch: str = "main") -> Commit:
        repo = self.repos[repo_id]
        return repo.commits[repo.branches[branch]]

    def file_bytes(self, repo_id: str, path: str, revision: str = "main") -> bytes:
        stored = self.repos[repo_id].resolve(revision).files[path]
        return stored.content if stored.lfs_oid is None else self.lfs_store[stored.lfs_oid]

    # ---------------------------------------------------------------- auth
    def user_of(self, headers, required: str | None) -> tuple[str | None, str | None]:
        """Returns (user, role) for the request's token; `required` = "read"/"write" makes a token mandatory."""
        auth = headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        if token is None:
            if required:
                raise HubError(401, "Invalid username or password.")
            return None, None
        if token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        user, role = self.tokens[token]
        if required == "write" and role != "write":
            raise HubError(403, "You don't have the rights to write with this token: it is a read token.")
        return user, role

    def can_write(self, user: str, namespace: str) -> bool:
        return namespace == user or namespace in self.orgs.get(user, [])

    def visible_repo(self, repo_id: str, user: str | None) -> Repo:
        repo = self.repos.get(repo_id)
        # Like the Hub, a private repo of someone else looks exactly like a missing one.
        if repo is None or (repo.private and (user is None or not self.can_write(user, repo_id.split("/")[0]))):
            raise HubError(404 if user else 401, "Repository not found", "RepoNotFound")
        return repo

    def sign(self, oid: str) -> str:
        return hmac.new(self._secret, oid.encode(), hashlib.sha256).hexdigest()

    def new_commit(self, repo: Repo, parent: str | None, title: str, files: dict[str, StoredFile]) -> Commit:
        self._counter += 1
        tree = json.dumps({path: [f.oid, f.size] for path, f in sorted(files.items())})
        sha = hashlib.sha1(f"{repo.repo_id}\n{parent}\n{title}\n{tree}\n{self._counter}".encode()).hexdigest()
        date = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        commit = Commit(sha=sha, parent=parent, title=title, files=dict(files), date=date)
        repo.commits[sha] = commit
        return commit


class _Handler(BaseHTTPRequestHandler):
    hub: HubStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep pytest output clean
        pass

    # ---------------------------------------------------------------- plumbing
    def _body(self) -> bytes:
        return self._raw

    def _json_body(self):
        try:
            return json.loads(self._body() or b"null")
        except json.JSONDecodeError as err:
            raise HubError(400, f"Invalid JSON body: {err}") from err

    def _send(self, status: int, payload=None, headers: dict | None = None, raw: bytes | None = None, head=False):
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        content_type = "application/octet-stream" if raw is not None else "application/json; charset=utf-8"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _dispatch(self, method: str):
        split = urlsplit(self.path)
        # Unquote per segment: a revision such as "refs%2Fpr%2F1" is one segment.
        parts = [unquote(p) for p in split.path.split("/")[1:]]
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        hub = self.hub
        with hub._lock:
            hub.requests.append((method, split.path))
        # Read the body up front, so that an early error answer leaves the connection usable.
        length = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(length) if length else b""
        try:
            route = self._route(method, parts)
            if route is None:
                with hub._lock:
                    hub.unhandled.append((method, split.path))
                raise HubError(501, f"The Hub stand-in does not implement {method} {split.path}")
            name, handler = route
            with hub._lock:
                status = hub.fail_next.pop(name, None)
            if status is not None:
                raise HubError(status, f"Injected server error on {name}")
            handler(parts, query)
        except HubError as err:
            headers = {"X-Error-Message": err.message}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._send(err.status, err.body or {"error": err.message}, headers, head=method == "HEAD")

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def _route(self, method: str, p: list[str]):
        n = len(p)
        if method == "GET" and p == ["api", "whoami-v2"]:
            return "whoami", self.whoami
        if method == "GET" and p == ["api", "agent-harnesses"]:
            return "agent-harnesses", self.agent_harnesses
        if method == "POST" and p == ["api", "repos", "create"]:
            return "create", self.create_repo
        if method == "POST" and p == ["api", "validate-yaml"]:
            return "validate-yaml", self.validate_yaml
        if method == "PUT" and n == 2 and p[0] == "lfs-upload":
            return "lfs-upload", self.lfs_upload
        if n >= 4 and p[:2] == ["api", "models"]:
            rest = p[4:]
            if method == "GET" and not rest:
                return "info", self.model_info
            if method == "GET" and len(rest) == 2 and rest[0] == "revision":
                return "info", self.model_info
            if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
                return "tree", self.tree
            if method == "GET" and rest == ["refs"]:
                return "refs", self.refs
            if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
                return "preupload", self.preupload
            if method == "POST" and len(rest) == 2 and rest[0] == "commit":
                return "commit", self.commit
            if method == "POST" and len(rest) == 2 and rest[0] == "branch":
                return "branch", self.create_branch
        if method == "POST" and n == 6 and p[1].endswith(".git") and p[2:5] == ["info", "lfs", "objects"]:
            return ("lfs-batch", self.lfs_batch) if p[5] == "batch" else ("lfs-verify", self.lfs_verify)
        if method in ("GET", "HEAD") and n >= 5 and p[2] == "resolve":
            return "resolve", self.resolve
        return None

    # ---------------------------------------------------------------- endpoints
    def whoami(self, p, q):
        user, role = self.hub.user_of(self.headers, required="read")
        orgs = [{"type": "org", "name": org} for org in self.hub.orgs.get(user, [])]
        access = {"displayName": "stand-in token", "role": role}
        self._send(
            200, {"type": "user", "name": user, "orgs": orgs, "auth": {"type": "access_token", "accessToken": access}}
        )

    def agent_harnesses(self, p, q):
        # huggingface_hub >= 2 fetches this registry for its user agent; an empty one detects no agent.
        self._send(200, {"standardEnvVars": [], "harnesses": {}})

    def create_repo(self, p, q):
        user, _ = self.hub.user_of(self.headers, required="write")
        body = self._json_body() or {}
        if body.get("type") not in (None, "model"):
            raise HubError(400, "The Hub stand-in only hosts model repositories.")
        name, namespace = body.get("name") or "", body.get("organization") or user
        if not NAME_RE.match(name) or "--" in name or ".." in name or name.endswith(".git"):
            raise HubError(400, f"Invalid repo name {name!r}")
        if not self.hub.can_write(user, namespace):
            raise HubError(403, f"You don't have the rights to create a model under the namespace {namespace!r}")
        repo_id = f"{namespace}/{name}"
        url = f"{self.hub.url}/{repo_id}"
        private = body.get("visibility") == "private" or bool(body.get("private"))
        with self.hub._lock:
            if repo_id in self.hub.repos:
                raise HubError(409, "You already created this model repo", body={"error": "conflict", "url": url})
            repo = self.hub.repos[repo_id] = Repo(repo_id=repo_id, private=private)
            first = self.hub.new_commit(
                repo, None, "initial commit", {".gitattributes": StoredFile(len(GITATTRIBUTES), GITATTRIBUTES)}
            )
            repo.branches["main"] = first.sha
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def validate_yaml(self, p, q):
        self.hub.user_of(self.headers, required=None)
        body = self._json_body() or {}
        content = body.get("content", "")
        match = re.match(r"^---\s*\n(.*?)\n---\s*\n", content, re.DOTALL)
        if match is None:
            self._send(200, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata"}]})
            return
        try:
            meta = yaml.safe_load(match.group(1))
        except yaml.YAMLError as err:
            self._send(400, {"errors": [{"message": f"YAML parse error: {err}"}]})
            return
        errors = []
        if not isinstance(meta, dict):
            errors.append({"message": "metadata must be a YAML mapping"})
        elif "model-index" in meta:
            for entry in meta["model-index"] or []:
                for result in entry.get("results") or []:
                    if not result.get("task", {}).get("type") or not result.get("metrics"):
                        errors.append({"message": "model-index results need task.type and metrics"})
        self._send(400 if errors else 200, {"errors": errors, "warnings": []})

    def _repo_for_write(self, p) -> tuple[Repo, str]:
        user, _ = self.hub.user_of(self.headers, required="write")
        repo_id = f"{p[2]}/{p[3]}" if p[0] == "api" else f"{p[0]}/{p[1][: -len('.git')]}"
        repo = self.hub.visible_repo(repo_id, user)
        if not self.hub.can_write(user, repo_id.split("/")[0]):
            raise HubError(403, f"You don't have the rights to write to {repo_id}")
        return repo, user

    def create_branch(self, p, q):
        repo, _ = self._repo_for_write(p)
        body = self._json_body() or {}
        branch = p[5]
        with self.hub._lock:
            if branch in repo.branches:
                raise HubError(409, f"Branch {branch} already exists")
            start = repo.resolve(body.get("startingPoint") or "main")
            if start is None:
                raise HubError(404, "Invalid starting point", "RevisionNotFound")
            repo.branches[branch] = start.sha
        self._send(200, {})

    def preupload(self, p, q):
        repo, _ = self._repo_for_write(p)
        body = self._json_body() or {}
        head = repo.resolve(p[5])
        answers = []
        for item in body.get("files", []):
            path, size = item["path"], int(item["size"])
            mode = "lfs" if path.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE else "regular"
            existing = head.files.get(path) if head is not None else None
            answers.append(
                {"path": path, "uploadMode": mode, "shouldIgnore": False, "oid": existing.oid if existing else None}
            )
        self._send(200, {"files": answers, "commitOid": head.sha if head else None})

    def lfs_batch(self, p, q):
        self._repo_for_write(p)
        body = self._json_body() or {}
        if body.get("operation") != "upload":
            raise HubError(422, "The Hub stand-in only accepts LFS uploads")
        objects = []
        verify_href = f"{self.hub.url}/{p[0]}/{p[1]}/info/lfs/objects/verify"
        for obj in body.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            entry = {"oid": oid, "size": size, "authenticated": True}
            if oid not in self.hub.lfs_store:
                # Like a presigned storage URL: the signature authorises the PUT, which carries no token.
                upload = {"href": f"{self.hub.url}/lfs-upload/{oid}?sig={self.hub.sign(oid)}&size={size}"}
                entry["actions"] = {"upload": upload, "verify": {"href": verify_href, "header": {}}}
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_upload(self, p, q):
        oid = p[1]
        if not hmac.compare_digest(q.get("sig", ""), self.hub.sign(oid)):
            raise HubError(403, "Bad upload signature")
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid or len(data) != int(q.get("size", -1)):
            raise HubError(400, "Uploaded content does not match its oid and size")
        with self.hub._lock:
            self.hub.lfs_store[oid] = data
        self._send(200, raw=b"")

    def lfs_verify(self, p, q):
        self._repo_for_write(p)
        body = self._json_body() or {}
        data = self.hub.lfs_store.get(body.get("oid"))
        if data is None or len(data) != body.get("size"):
            raise HubError(404, "LFS object not found")
        self._send(200, {})

    def commit(self, p, q):
        repo, _ = self._repo_for_write(p)
        revision = p[5]
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "A commit payload starts with a header line")
        header = lines[0]["value"]
        with self.hub._lock:
            if revision not in repo.branches:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            parent = repo.commits[repo.branches[revision]]
            if header.get("parentCommit") not in (None, parent.sha):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(parent.files)
            for line in lines[1:]:
                key, value = line["key"], line["value"]
                path = value["path"]
                if key == "file":
                    content = base64.b64decode(value["content"])
                    files[path] = StoredFile(len(content), content=content)
                elif key == "lfsFile":
                    oid = value["oid"]
                    if oid not in self.hub.lfs_store:
                        raise HubError(422, f"LFS object {oid} for {path} was never uploaded")
                    files[path] = StoredFile(len(self.hub.lfs_store[oid]), lfs_oid=oid)
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                else:
                    raise HubError(400, f"The Hub stand-in does not implement commit operation {key!r}")
            commit = self.hub.new_commit(repo, parent.sha, header.get("summary") or "update", files)
            repo.branches[revision] = commit.sha
        url = f"{self.hub.url}/{repo.repo_id}/commit/{commit.sha}"
        self._send(200, {"success": True, "commitOid": commit.sha, "commitUrl": url, "commitMessage": commit.title})

    def _read_repo(self, repo_id: str) -> Repo:
        user, _ = self.hub.user_of(self.headers, required=None)
        return self.hub.visible_repo(repo_id, user)

    def _resolve(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def model_info(self, p, q):
        repo = self._read_repo(f"{p[2]}/{p[3]}")
        commit = self._resolve(repo, p[5] if len(p) > 5 else "main")
        card = {}
        if "README.md" in commit.files:
            text = commit.files["README.md"].content.decode("utf-8", "replace")
            match = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
            card = (yaml.safe_load(match.group(1)) or {}) if match else {}
        info = {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.sha,
            "lastModified": commit.date,
            "createdAt": repo.commits[min(repo.commits, key=lambda s: repo.commits[s].date)].date,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": list(card.get("tags") or []),
            "library_name": card.get("library_name"),
            "pipeline_tag": card.get("pipeline_tag"),
            "cardData": card,
            "siblings": [{"rfilename": path} for path in sorted(commit.files)],
        }
        self._send(200, info)

    def tree(self, p, q):
        repo = self._read_repo(f"{p[2]}/{p[3]}")
        commit = self._resolve(repo, p[5])
        prefix = "/".join(p[6:]).strip("/")
        recursive = q.get("recursive", "false").lower() in ("1", "true")
        entries, dirs = [], set()
        for path, stored in sorted(commit.files.items()):
            if prefix and not path.startswith(prefix + "/"):
                continue
            relative = path[len(prefix) + 1 :] if prefix else path
            if "/" in relative:
                top = (prefix + "/" if prefix else "") + relative.split("/")[0]
                dirs.add(top)
                if not recursive:
                    continue
            entry = {"type": "file", "oid": git_blob_sha1(stored.content or b""), "size": stored.size, "path": path}
            if stored.lfs_oid is not None:
                entry["lfs"] = {"oid": stored.lfs_oid, "size": stored.size, "pointerSize": 134}
            entries.append(entry)
        if prefix and not entries and not dirs:
            raise HubError(404, f"{prefix} does not exist on {p[5]}", "EntryNotFound")
        entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
        self._send(200, entries)

    def refs(self, p, q):
        repo = self._read_repo(f"{p[2]}/{p[3]}")
        branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": sha} for b, sha in repo.branches.items()]
        self._send(200, {"branches": branches, "tags": [], "converts": []})

    def resolve(self, p, q):
        head = self.command == "HEAD"
        repo = self._read_repo(f"{p[0]}/{p[1]}")
        commit = self._resolve(repo, p[3])
        path = "/".join(p[4:])
        stored = commit.files.get(path)
        if stored is None:
            raise HubError(404, "Entry not found", "EntryNotFound")
        headers = {"X-Repo-Commit": commit.sha, "Accept-Ranges": "bytes"}
        if stored.lfs_oid is None:
            data = stored.content
            headers["ETag"] = f'"{git_blob_sha1(data)}"'
        else:
            data = self.hub.lfs_store[stored.lfs_oid]
            headers["ETag"] = f'"{stored.lfs_oid}"'
            headers["X-Linked-Etag"] = f'"{stored.lfs_oid}"'
            headers["X-Linked-Size"] = str(stored.size)
        self._send(200, raw=data, headers=headers, head=head)


def main(argv: list[str] | None = None) -> int:
    """Runs the stand-in in the foreground, to try `hf-bilstm push` offline: HF_ENDPOINT=<printed URL>."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description="In-memory stand-in for the Hugging Face Hub API (for tests).")
    parser.add_argument("--user", default="alice", help="the user that the token belongs to")
    parser.add_argument("--token", default="hf_standin_token", help="the write token it accepts")
    args = parser.parse_args(argv)
    hub = HubStandIn({args.token: (args.user, "write")}).start()
    print(f"Hub stand-in at {hub.url} (user {args.user}, token {args.token}); Ctrl-C stops it.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        hub.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
