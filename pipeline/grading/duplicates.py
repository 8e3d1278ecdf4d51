"""Duplicate detection: identical architectures or identical source code, flagged for review.

Two fingerprints per submission, both computed in the trusted grader:

- architecture: the model's Keras JSON (`model.to_json()`, written by the sandbox) with every
  name replaced by its position (so `dense_3` and `my_dense` compare equal) and the model's own
  name dropped; identical layers, sizes, activations and wiring give the same hash.
- source: every `.py` file of the submission parsed with `ast` and dumped without comments,
  docstrings, formatting or line numbers; renaming a variable makes it different, reformatting
  or re-commenting does not.

Flags are information for the instructor: the leaderboard shows them, nothing is penalised.
"""

from __future__ import annotations

import ast
import hashlib
import json
import threading
from pathlib import Path
from typing import Optional

# The sandbox writes the JSON; a larger file is not a plausible model and is not parsed.
MAX_CONFIG_BYTES = 5_000_000
MAX_SOURCE_BYTES = 2_000_000
IGNORED_DIRECTORIES = {"__pycache__"}


# Keys that mark a dict as a layer's or model's config (a dtype policy's "name" is a real value).
LAYER_CONFIG_KEYS = ("trainable", "batch_shape")


def _layer_names(node, names: dict[str, str]) -> None:
    """Collect every layer and model name in document order, numbering each distinct one once."""
    if isinstance(node, dict):
        name = node.get("name")
        if isinstance(name, str) and name not in names and any(key in node for key in LAYER_CONFIG_KEYS):
            names[name] = f"#{len(names)}"
        for value in node.values():
            _layer_names(value, names)
    elif isinstance(node, list):
        for value in node:
            _layer_names(value, names)


def _replace_names(node, names: dict[str, str]):
    if isinstance(node, dict):
        return {key: _replace_names(value, names) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_names(value, names) for value in node]
    if isinstance(node, str) and node in names:
        return names[node]  # a name, or a reference to one (functional models' inbound nodes)
    return node


def normalise_architecture(config: dict) -> dict:
    """The Keras config with names replaced by positions; the model's own name dropped."""
    config = json.loads(json.dumps(config))  # a deep copy
    inner = config.get("config") if isinstance(config.get("config"), dict) else config
    inner.pop("name", None)
    names: dict[str, str] = {}
    _layer_names(config, names)
    return _replace_names(config, names)


def architecture_hash(config_json: Optional[str]) -> Optional[str]:
    """sha256 of the normalised architecture, or None if there is none or it is unreadable."""
    if not config_json or len(config_json) > MAX_CONFIG_BYTES:
        return None
    try:
        config = json.loads(config_json)
    except ValueError:
        return None
    if not isinstance(config, dict):
        return None
    normalised = normalise_architecture(config)
    return hashlib.sha256(json.dumps(normalised, sort_keys=True).encode()).hexdigest()


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


# CPython 3.11's parser is not safe to call from two threads at once ("SystemError: AST
# constructor recursion depth mismatch", seen with grading workers=2): one parse at a time.
_PARSE_LOCK = threading.Lock()


def normalised_source(source: str) -> Optional[str]:
    """The code's syntax tree without comments, docstrings and positions; None if unparsable."""
    try:
        with _PARSE_LOCK:
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return ast.dump(_strip_docstrings(tree), annotate_fields=False, include_attributes=False)


def source_hash(submission_dir: Path) -> Optional[str]:
    """sha256 over the normalised source of every .py file (by relative path); None if none parse."""
    digest = hashlib.sha256()
    found = False
    for path in sorted(submission_dir.rglob("*.py")):
        relative = path.relative_to(submission_dir)
        if IGNORED_DIRECTORIES.intersection(relative.parts) or not path.is_file():
            continue
        try:
            if path.stat().st_size > MAX_SOURCE_BYTES:
                continue
            dumped = normalised_source(path.read_text(errors="replace"))
        except OSError:
            continue
        if dumped is None:
            continue
        found = True
        digest.update(relative.as_posix().encode() + b"\0" + dumped.encode() + b"\n")
    return digest.hexdigest() if found else None


def duplicate_groups(fingerprints: dict[str, Optional[str]]) -> dict[str, list[str]]:
    """{submission: the other submissions with the same fingerprint} (missing fingerprints never match)."""
    by_hash: dict[str, list[str]] = {}
    for submission, fingerprint in fingerprints.items():
        if isinstance(fingerprint, str) and fingerprint:  # None or NaN (from a table) never match
            by_hash.setdefault(fingerprint, []).append(submission)
    return {
        submission: sorted(other for other in by_hash.get(fingerprint, []) if other != submission)
        if isinstance(fingerprint, str) else []
        for submission, fingerprint in fingerprints.items()
    }


def describe(architecture_twins: list[str], source_twins: list[str]) -> str:
    """The leaderboard's `duplicate_of` cell: '' or e.g. 'source: bob; architecture: bob, carol'."""
    parts = []
    if source_twins:
        parts.append("source: " + ", ".join(source_twins))
    if architecture_twins:
        parts.append("architecture: " + ", ".join(architecture_twins))
    return "; ".join(parts)
