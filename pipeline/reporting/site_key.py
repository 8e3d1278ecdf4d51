"""The site key: where it comes from (GRADEBENCH_SITE_KEY, else a key file created on the first run)
and the feedback pages' unguessable folder names derived from it.

A feedback page's path is an HMAC-SHA256 of the submission id keyed with the site key, so that no
one can enumerate the others' pages; the pseudonyms come from the same key (pseudonyms.py).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Optional

from pipeline.config import ConfigError
from pipeline.reporting import pseudonyms

SITE_KEY_ENV = "GRADEBENCH_SITE_KEY"
MIN_KEY_BYTES = 16


class SiteKeyError(ConfigError):
    """The site key is unusable (too short): a configuration mistake, exit code 2."""


def _checked(value: str, where: str, instead: str) -> bytes:
    if len(value.encode("utf-8")) < MIN_KEY_BYTES:
        raise SiteKeyError(
            f"{where} holds a site key of {len(value)} characters; a key must be at least {MIN_KEY_BYTES} random "
            f"characters, or anyone could guess the feedback pages' addresses. Make a good one with "
            f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, or {instead}")
    return value.encode("utf-8")


def resolve_key(key_file: Path, from_env: Optional[str]) -> tuple[bytes, str]:
    """The site key and a line saying where it came from: `from_env` (GRADEBENCH_SITE_KEY, read by
    the command) if set, else `key_file` (paths.Paths.site_key), created on the first run with a
    random key (mode 0600, in the git-ignored .gradebench/), so that the very first `dvc repro`
    writes feedback pages. The same key must be used on every run: the pages' addresses (and the
    pseudonyms) are derived from it. A key too short to be secret is an error."""
    if from_env:
        instead = f"unset {SITE_KEY_ENV} to use {key_file} (created on the first run)"
        return _checked(from_env, SITE_KEY_ENV, instead), f"site key: from {SITE_KEY_ENV}"
    try:
        instead = f"delete {key_file} to have a new one made (every feedback page then gets a new address)"
        return _checked(key_file.read_text().strip(), str(key_file), instead), f"site key: {key_file} (reused)"
    except FileNotFoundError:
        pass
    key_file.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # O_EXCL: two runs at once never write two different keys; 0600: only this user reads it.
    handle = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w") as writer:
        writer.write(value + "\n")
    return value.encode("utf-8"), (
        f"site key: created {key_file} (mode 0600, git-ignored). Keep this file, and back it up: every "
        f"feedback page's address comes from it, so a new key gives every student a new address (the links "
        f"already mailed stop working). To use a key of your own instead, set {SITE_KEY_ENV}.")


def feedback_token(submission_id: str, key: bytes) -> str:
    """The unguessable folder name of a submission's feedback page (128 bits of a keyed hash)."""
    return pseudonyms.keyed_digest(key, "feedback", submission_id).hex()[:32]

