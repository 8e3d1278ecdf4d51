"""Git repositories (GitHub Classroom or any git URL): mirror once, fetch after, read files by commit.

Repositories are mirrored bare (`git clone --mirror`) into a cache outside submissions/, so no
student file is ever checked out: hooks, filters, submodules and symlinks in the repository never
act. Files are read as blobs from the chosen commit with `git cat-file`, after checking in the tree
listing that each is a regular file (not a symlink) within the size cap.

Times are *commit* times (the committer date), the only time git records; a student can set it
by hand. git_checks points at the histories worth a look; for contested cases compare with the
push times GitHub shows.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit, urlunsplit

from pipeline.course.handin_names import META_FILE, MODEL_FILES, explain_missing

GIT_TIMEOUT_SECONDS = 300  # a classroom repository is small; this only stops a hung connection
MAX_LISTED_PATHS = 10_000  # paths read from a tree only to say what was found instead of model.py
CLASSROOM_BOT = "github-classroom[bot]"  # the author of GitHub Classroom's starter commits
SYMLINK_MODE = "120000"
CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")  # scheme://user:token@host


class IntakeError(Exception):
    """This student's repository cannot be collected; the message says why (one line)."""


@dataclass(frozen=True)
class Commit:
    sha: str
    time: datetime.datetime  # committer time, UTC
    parents: tuple[str, ...] = ()
    author: str = ""
    tree: str = ""

    @property
    def short(self) -> str:
        return self.sha[:10]


def redact_url(url: str) -> str:
    """The URL without user name or token (https://TOKEN@github.com/...), fit to record and print."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return url


def _git(arguments: list[str], cwd: Optional[Path] = None, text: bool = True) -> subprocess.CompletedProcess:
    # No prompts for credentials (a private repo we cannot read must fail, not wait for a person),
    # and no system or user configuration that could change what is read.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}
    try:
        return subprocess.run(["git", *arguments], cwd=cwd, env=env, capture_output=True, text=text,
                              timeout=GIT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise IntakeError(f"git {arguments[0]} took over {GIT_TIMEOUT_SECONDS} s") from None


def _last_line(output: str | bytes) -> str:
    """git's own reason: its first "fatal:"/"error:" line (the rest is advice), else its last line."""
    if isinstance(output, bytes):
        output = output.decode("utf-8", "replace")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    reasons = [line for line in lines if line.startswith(("fatal:", "error:"))]
    line = reasons[0] if reasons else (lines[-1] if lines else "no message from git")
    return CREDENTIALS.sub(r"\1", line)  # git may echo a URL with its token


def sync(url: str, cache: Path) -> str:
    """Clone `url` into `cache` once, fetch into it afterwards. Returns "cloned" or "fetched"."""
    if (cache / "HEAD").is_file():
        origin = _git(["config", "--get", "remote.origin.url"], cwd=cache)
        if origin.returncode == 0 and origin.stdout.strip() == url:
            fetched = _git(["fetch", "--prune", "--quiet", "origin"], cwd=cache)
            if fetched.returncode != 0:
                raise IntakeError(f"cannot fetch {redact_url(url)}: {_last_line(fetched.stderr)}")
            return "fetched"
        shutil.rmtree(cache)  # the roster names another repository now: start again
    cache.parent.mkdir(parents=True, exist_ok=True)
    # "--" so that a URL can never be read as an option.
    cloned = _git(["clone", "--mirror", "--quiet", "--", url, str(cache)])
    if cloned.returncode != 0:
        shutil.rmtree(cache, ignore_errors=True)
        raise IntakeError(f"cannot clone {redact_url(url)}: {_last_line(cloned.stderr)}")
    return "cloned"


def commits(cache: Path) -> list[Commit]:
    """Commits of the default branch (HEAD), newest first: a child always before its parents
    (--topo-order), whatever their dates say."""
    listed = _git(["log", "--topo-order", "--format=%H%x00%ct%x00%P%x00%an%x00%T", "HEAD", "--"], cwd=cache)
    if listed.returncode != 0:
        raise IntakeError(f"no commits on the default branch ({_last_line(listed.stderr)})")
    found = []
    for line in listed.stdout.split("\n"):
        if line.strip():
            sha, seconds, parents, author, tree = line.split("\0")
            found.append(Commit(sha, datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc),
                                tuple(parents.split()), author, tree))
    if not found:
        raise IntakeError("the repository has no commits")
    return found


def newest_at_or_before(history: list[Commit], moment: Optional[datetime.datetime]) -> Optional[Commit]:
    """The newest commit (in history order, not by date) dated at or before `moment` (None: no limit).

    History order, so that a last commit dated before its parent is still the last hand-in (and
    git_checks says its date is odd) instead of being passed over for its parent.
    """
    return next((commit for commit in history if moment is None or commit.time <= moment), None)


def is_ancestor(cache: Path, sha: str, descendant: str = "HEAD") -> bool:
    """Whether `sha` is in `descendant`'s history (False also when the commit is gone)."""
    return _git(["merge-base", "--is-ancestor", sha, descendant], cwd=cache).returncode == 0


def tree_of(cache: Path, revision: str) -> Optional[str]:
    """The tree id of a commit or branch, or None if the repository does not have it."""
    resolved = _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{tree}}"], cwd=cache)
    return resolved.stdout.strip() if resolved.returncode == 0 else None


def all_paths(cache: Path, sha: str) -> list[str]:
    """Every file path in the commit (at most MAX_LISTED_PATHS), for saying what was found."""
    listed = _git(["ls-tree", "-r", "-z", "--name-only", sha], cwd=cache, text=False)
    if listed.returncode != 0:
        return []
    names = listed.stdout.split(b"\0")[:MAX_LISTED_PATHS]
    return [name.decode("utf-8", "surrogateescape") for name in names if name]


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    kind: str
    sha: str
    size: Optional[int]
    name: str


def _tree(cache: Path, sha: str) -> dict[str, TreeEntry]:
    """Top-level entries of the commit's tree, by name (names that are not UTF-8 are kept as escapes)."""
    listed = _git(["ls-tree", "-z", "-l", sha], cwd=cache, text=False)
    if listed.returncode != 0:
        raise IntakeError(f"cannot list commit {sha[:10]}: {_last_line(listed.stderr)}")
    entries = {}
    for record in listed.stdout.split(b"\0"):
        if not record:
            continue
        info, _, raw_name = record.partition(b"\t")
        mode, kind, object_sha, size = info.decode().split()
        name = raw_name.decode("utf-8", "surrogateescape")
        entries[name] = TreeEntry(mode, kind, object_sha, None if size == "-" else int(size), name)
    return entries


def read_files(cache: Path, sha: str, max_bytes: int) -> tuple[dict[str, bytes], list[str]]:
    """(files to collect by name, warnings) from the commit: the model file and optional meta.yaml.

    Raises IntakeError when there is no acceptable model file.
    """
    tree = _tree(cache, sha)
    files: dict[str, bytes] = {}
    warnings: list[str] = []
    model_name = next((name for name in MODEL_FILES if name in tree), None)
    if model_name is None:
        raise IntakeError(f"{explain_missing(all_paths(cache, sha))} (commit {sha[:10]})")
    for name in (model_name, META_FILE):
        entry = tree.get(name)
        if entry is None:
            continue
        problem = _refusal(entry, max_bytes)
        if problem and name == model_name:
            raise IntakeError(problem)
        if problem:
            warnings.append(f"{problem}; collected without it")
            continue
        blob = _git(["cat-file", "blob", entry.sha], cwd=cache, text=False)
        if blob.returncode != 0:
            raise IntakeError(f"cannot read {name} at {sha[:10]}: {_last_line(blob.stderr)}")
        files[name] = blob.stdout
    return files, warnings


def _refusal(entry: TreeEntry, max_bytes: int) -> Optional[str]:
    if entry.mode == SYMLINK_MODE:
        return f"{entry.name} is a symbolic link in the repository: refused (commit the file itself)"
    if entry.kind != "blob":
        return f"{entry.name} is a {entry.kind}, not a file: refused"
    if entry.size is not None and entry.size > max_bytes:
        return (f"{entry.name} is {entry.size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB cap "
                f"(course.max_file_mb): refused")
    return None


def cache_name(student_id: str) -> str:
    # student ids are safe folder names already (config.SAFE_ID); this keeps the cache flat regardless.
    return re.sub(r"[^A-Za-z0-9_.-]", "_", student_id)
