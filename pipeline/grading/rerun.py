"""`python -m pipeline rerun <run-id>`: grade one MLflow entry again, exactly, and say whether
its score reproduces bit for bit.

Everything comes from the run itself, not from today's params.yaml or submissions/: the
submission's files (the run's `submission/` artifacts, checked against its content hash), the
track's schedule, limits, subset and seeds and the hidden split (result.json's grading_config).
The prepared data must be the run's (same fingerprint), otherwise the rerun refuses: a score on
other data says nothing. A different grader version only warns, since checking whether new code
reproduces an old score is a legitimate use.
"""

from __future__ import annotations

import datetime
import json
import tempfile
from importlib import metadata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import HiddenSplit, Track
from pipeline.data.layout import is_prepared
from pipeline.grading import fingerprints
from pipeline.grading.executors.local import LocalExecutor
from pipeline.grading.orchestrate import train_every_seed
from pipeline.grading.record import SCHEMA_VERSION, Result, read_result
from pipeline.grading.run_artifacts import (PYTHON_VERSION_TAG, RESULT_ARTIFACT, SUBMISSION_ARTIFACT_DIR,
                                            VERSION_TAG_PREFIX)
from pipeline.grading.scoring import TrackData
from pipeline.sandbox import leftovers
from pipeline.sandbox.isolation import IsolationPolicy, choose_isolation

if TYPE_CHECKING:  # the client is made by the command layer (reporting.tracking_store.make_client)
    from mlflow.tracking import MlflowClient

COMPARED = ("public_accuracy", "private_accuracy", "test_accuracy", "validation_accuracy", "predictions_sha256")


@dataclass
class RerunReport:
    run_id: str
    reproduced: bool = False
    lines: list[str] = field(default_factory=list)


class RerunError(ValueError):
    """The run cannot be re-graded exactly (missing artifacts, other data)."""


def _download_submission(client: MlflowClient, run_id: str, destination: Path, name: str) -> Path:
    folder = destination / name
    try:
        downloaded = client.download_artifacts(run_id, SUBMISSION_ARTIFACT_DIR, str(destination))
    except Exception as error:  # noqa: BLE001 - MLflow raises several kinds for a missing artifact
        raise RerunError(f"run {run_id} has no copy of its submission ({SUBMISSION_ARTIFACT_DIR}/ "
                         f"artifacts): it was logged before reruns were supported ({error})") from None
    Path(downloaded).rename(folder)
    return folder


def recorded_result(client: MlflowClient, run_id: str, scratch: Path) -> Result:
    try:
        path = client.download_artifacts(run_id, RESULT_ARTIFACT, str(scratch))
    except Exception as error:  # noqa: BLE001
        raise RerunError(f"run {run_id} has no {RESULT_ARTIFACT} artifact: it was logged before "
                         f"reruns were supported ({error})") from None
    result = read_result(Path(path))
    if result is None:
        raise RerunError(f"run {run_id}'s {RESULT_ARTIFACT} was written by another version of the "
                         f"grader (result schema {SCHEMA_VERSION} expected): check out the run's commit to re-run it")
    return result


def package_differences(run_tags: dict[str, str]) -> list[str]:
    """The packages whose installed version differs from the one the run was graded with."""
    lines = []
    for key, recorded in sorted(run_tags.items()):
        if not key.startswith(VERSION_TAG_PREFIX) or key == PYTHON_VERSION_TAG:
            continue
        package = key[len(VERSION_TAG_PREFIX):]
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != recorded:
            lines.append(f"note: {package} is {installed} here, the run used {recorded} "
                         f"(install the lock file's versions: ./setup.sh)")
    return lines


def compare(recorded: Result, again: dict) -> tuple[bool, list[str]]:
    """Per seed, every score and the predictions' hash must be identical (not approximately)."""
    lines, same = [], recorded.status == again["status"]
    if not same:
        lines.append(f"status: recorded {recorded.status}, now {again['status']} ({again.get('error')})")
    recorded_seeds = {entry.seed: entry.model_dump(exclude_none=True) for entry in recorded.per_seed}
    for entry in again.get("per_seed") or []:
        before = recorded_seeds.get(entry["seed"], {})
        for key in COMPARED:
            if key not in before and key not in entry:
                continue
            equal = before.get(key) == entry.get(key)
            same = same and equal
            shown = (lambda v: v[:12] if isinstance(v, str) else repr(v))
            lines.append(f"seed {entry['seed']}: {key} recorded {shown(before.get(key))}, now {shown(entry.get(key))}"
                         f" {'(identical)' if equal else '(DIFFERENT)'}")
    return same, lines


def rerun(client: MlflowClient, run_id: str, prepared_root: Path, policy: IsolationPolicy = IsolationPolicy(),
          echo=print) -> RerunReport:
    run = client.get_run(run_id)
    report = RerunReport(run_id)
    with tempfile.TemporaryDirectory(prefix=leftovers.scratch_prefix("rerun")) as scratch_name:
        scratch = Path(scratch_name)
        recorded = recorded_result(client, run_id, scratch)
        track_name, submission = recorded.track, recorded.submission
        config = recorded.grading_config
        if not config:
            raise RerunError(f"run {run_id}'s result.json has no grading_config: it cannot be re-graded exactly")
        track = Track.model_validate(config["track"])
        hidden_split = HiddenSplit.model_validate(config["hidden_split"])
        (scratch / "submissions").mkdir()
        submission_dir = _download_submission(client, run_id, scratch / "submissions", submission)
        content_hash = fingerprints.submission_sha256(submission_dir)
        if content_hash != recorded.content_hash:
            raise RerunError(f"the stored copy of {submission} hashes to {content_hash[:12]}, but the run "
                             f"recorded {recorded.content_hash[:12]}: the artifacts were changed")
        prepared_dir = prepared_root / track.dataset
        if not is_prepared(prepared_dir):
            raise RerunError(f"{prepared_dir}/ is not prepared: run `dvc repro preprocess@{track.dataset}` "
                             f"(or `dvc checkout`) first")
        data_key = fingerprints.data_fingerprint(prepared_dir)
        if data_key != recorded.data_fingerprint:
            raise RerunError(f"{prepared_dir}/ is not the data run {run_id} was graded on (fingerprint "
                             f"{data_key[:12]}, recorded {recorded.data_fingerprint[:12]}): check out "
                             f"the run's commit {run.data.tags.get('git_commit', '?')[:12]} and `dvc checkout`")
        report.lines.append(f"re-grading {track_name}/{submission} (run {run_id}): seeds {track.seed_list()}, "
                            f"schedule {json.dumps(track.schedule.model_dump())}")
        report.lines += package_differences(run.data.tags)
        if recorded.grader_fingerprint != fingerprints.grader_fingerprint():
            report.lines.append("note: the grading code differs from the run's (git commit "
                                f"{run.data.tags.get('git_commit', '?')[:12]}); checking whether it reproduces anyway")
        isolation = choose_isolation(policy)
        # The run's own thread count (runs from before schedule.threads recorded theirs here).
        threads = int(recorded.threads or track.schedule.threads)
        data = TrackData.load(prepared_dir, track, hidden_split)
        with LocalExecutor(data.inputs, isolation, threads) as executor:
            again, _, _ = train_every_seed(submission_dir, track_name, track, data, executor, lambda line: echo(line))
    report.reproduced, lines = compare(recorded, again)
    report.lines += lines
    client.set_tag(run_id, "rerun.reproduced", "true" if report.reproduced else "false")
    client.set_tag(run_id, "rerun.checked_at",
                   datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    return report
