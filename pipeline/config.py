"""Load and validate params.yaml: the single source of configuration.

Every command reads params.yaml once, through `load_params`, and resolves what the command line
and the environment add in one place (`resolve_grading`, `tracking_uri`), then passes plain
values on. Nothing deeper down reads the environment.
A mistake in params.yaml becomes one `ConfigError` naming the key, the bad value and what is
allowed, instead of a traceback from deep inside a stage.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import Field, ValidationError, model_validator

from pipeline.course_settings import CourseSettings
from pipeline.paths import Paths
from pipeline.strict import Strict

DEFAULT_PARAMS_PATH = Path("params.yaml")
# A student or submission id. Ids become folder names, MLflow run names and file names, so they
# stay plain: never "..", absolute, or holding a path separator.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ConfigError(ValueError):
    """params.yaml is missing, unreadable or has a bad value."""



class RemoteFile(Strict):
    name: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # For archives that mirrors may re-pack: a digest of the members (names and bytes).
    content_sha256: Optional[str] = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    urls: list[str] = Field(min_length=1)


class Split(Strict):
    validation_fraction: float = Field(default=0.2, gt=0, lt=1)
    # Only for datasets without an official test set (notMNIST): the hidden share and the seed
    # of the stratified split.
    hidden_fraction: Optional[float] = Field(default=None, gt=0, lt=1)
    seed: int = Field(default=0, ge=0)


class Dataset(Strict):
    files: list[RemoteFile] = Field(min_length=1)
    split: Split = Split()


class DownloadSettings(Strict):
    retries: int = Field(default=4, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0)
    timeout_seconds: float = Field(default=30, gt=0)


class Subset(Strict):
    train: Optional[int] = Field(default=None, gt=0)
    validation: Optional[int] = Field(default=None, gt=0)
    hidden: Optional[int] = Field(default=None, gt=0)


class Schedule(Strict):
    optimizer: Literal["sgd", "adam", "rmsprop"] = "sgd"
    learning_rate: float = Field(default=0.01, gt=0)
    epochs: int = Field(default=30, ge=1)
    batch_size: int = Field(default=128, ge=1)
    seed: int = Field(default=1234, ge=0)
    scaling: Literal["standardize", "unit"] = "standardize"
    # TensorFlow's threads for one training. Float sums are split by thread, so the count is part
    # of the arithmetic, like the batch size: fixed per track, never derived from the machine.
    threads: int = Field(default=1, ge=1, le=64)


class Limits(Strict):
    wall_seconds: float = Field(default=3600, gt=0)
    memory_mb: int = Field(default=6144, ge=256)
    # Every parameter counts, trainable or not, and so do the values in a traced graph's constants.
    max_params: int = Field(default=5_000_000, ge=1)
    # Values a traced custom model may carry in constants (arrays in call(), not weights): more
    # would be knowledge that never trained on the schedule, such as a network trained at home.
    max_constant_params: int = Field(default=1024, ge=0)
    # Floating-point operations of one image's forward pass at inference, in millions (a multiply-add
    # is 2), counted by the trainer (docs/students/compute.md). null: no compute budget.
    max_mflops_per_image: Optional[float] = Field(default=None, gt=0)
    log_tail_bytes: int = Field(default=20_000, ge=1000)
    # Processes plus threads at once; TensorFlow itself needs a few dozen, a fork bomb far more.
    max_processes: int = Field(default=256, ge=32)
    # Everything a submission can write (home, temporary files, outputs), in MB.
    disk_mb: int = Field(default=1024, ge=64)


    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, values):
        if isinstance(values, dict) and "max_trainable_params" in values:
            raise ValueError("limits.max_trainable_params is now limits.max_params: the budget counts every "
                             "parameter, trainable or not (rename the key)")
        return values


class Track(Strict):
    dataset: str
    subset: Subset = Subset()
    schedule: Schedule = Schedule()
    limits: Limits = Limits()
    # Train every submission this many times, with seeds schedule.seed, schedule.seed + 1, ...;
    # the leaderboard shows mean ± std and ranks by the mean.
    seeds: int = Field(default=1, ge=1, le=20)

    def seed_list(self) -> list[int]:
        return [self.schedule.seed + offset for offset in range(self.seeds)]


class RaySettings(Strict):
    # null: the RAY_ADDRESS environment variable if set, else a Ray instance started on this machine.
    # "host:6379" joins a cluster as a driver; "ray://host:10001" goes through Ray Client.
    address: Optional[str] = None
    max_retries: int = Field(default=2, ge=0, le=10)  # attempts after a lost worker/node, then `crashed`


class Grading(Strict):
    executor: Literal["local", "ray"] = "local"
    workers: int = Field(default=1, ge=1, le=64)  # local executor only: throughput, never the scores
    # The order a batch starts in (grading/ordering.py): costliest first, or by folder name.
    order: Literal["longest_first", "folder"] = "longest_first"
    # Run submissions WITHOUT the bubblewrap sandbox when it is unavailable (trusted code only).
    unsafe_no_sandbox: bool = False
    ray: RaySettings = RaySettings()


class MlflowSettings(Strict):
    tracking_uri: Optional[str] = None


class HiddenSplit(Strict):
    """Kaggle's model: the hidden test split is divided into a public and a private part."""

    public_fraction: float = Field(default=0.3, gt=0, lt=1)
    seed: int = Field(default=2024, ge=0)


class LeaderboardSettings(Strict):
    hidden_split: HiddenSplit = HiddenSplit()
    # False: rank and show public-part accuracy only; True: rank by the private part (final).
    reveal_private: bool = False
    # What decides between equal accuracies: fewer parameters, or fewer FLOPs per image first.
    tie_break: Literal["parameters", "compute"] = "parameters"


class Band(Strict):
    min_accuracy: float = Field(ge=0, le=1)
    marks: float = Field(ge=0)


class GradeSettings(Strict):
    # Per track: the highest band whose min_accuracy a submission reaches gives its marks.
    bands: dict[str, list[Band]] = {}
    # Marks for a track whose submission failed (any status but ok) or reaches no band.
    failed_marks: float = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _bands_are_ordered(self) -> "GradeSettings":
        for track_name, bands in self.bands.items():
            thresholds = [band.min_accuracy for band in bands]
            if not bands:
                raise ValueError(f"grades.bands.{track_name}: give at least one band or remove the track")
            if thresholds != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(thresholds):
                raise ValueError(f"grades.bands.{track_name}: min_accuracy must strictly decrease from the "
                                 f"first band to the last, got {thresholds}")
            marks = [band.marks for band in bands]
            if marks != sorted(marks, reverse=True):
                raise ValueError(f"grades.bands.{track_name}: a higher band may not give fewer marks, got {marks}")
        return self


class SiteSettings(Strict):
    # false: the public site shows display names (meta.yaml display_name, else a pseudonym); true: real ids.
    show_ids: bool = False


class Params(Strict):
    datasets: dict[str, Dataset]
    download: DownloadSettings = DownloadSettings()
    tracks: dict[str, Track]
    grading: Grading = Grading()
    mlflow: MlflowSettings = MlflowSettings()
    leaderboard: LeaderboardSettings = LeaderboardSettings()
    grades: GradeSettings = GradeSettings()
    site: SiteSettings = SiteSettings()
    course: Optional[CourseSettings] = None  # only `collect` needs it (pipeline/course/)

    @model_validator(mode="after")
    def _tracks_name_known_datasets(self) -> "Params":
        for track_name, track in self.tracks.items():
            if track.dataset not in self.datasets:
                raise ValueError(
                    f"tracks.{track_name}.dataset is {track.dataset!r}, but datasets has only "
                    f"{sorted(self.datasets)}"
                )
        for track_name in self.grades.bands:
            if track_name not in self.tracks:
                raise ValueError(f"grades.bands.{track_name}: no such track; tracks has {sorted(self.tracks)}")
        return self

    def track(self, name: str) -> Track:
        if name not in self.tracks:
            raise ConfigError(f"unknown track {name!r}; params.yaml defines {sorted(self.tracks)}")
        return self.tracks[name]

    def dataset(self, name: str) -> Dataset:
        if name not in self.datasets:
            raise ConfigError(f"unknown dataset {name!r}; params.yaml defines {sorted(self.datasets)}")
        return self.datasets[name]


def _describe(error: dict) -> str:
    """One line per pydantic error: `key.path = value: what is allowed`."""
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (check its spelling against params.yaml's documented keys)"
    if error["type"] == "missing":
        return f"{key}: required key is missing"
    value = error.get("input")
    where = f"{key} = {value!r}" if key else "params.yaml"
    return f"{where}: {error['msg']}"


def load_params(path: Path | str = DEFAULT_PARAMS_PATH) -> Params:
    """Read and validate params.yaml, or raise ConfigError with every problem listed."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run gradebench from the repository root)") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        lines = [_describe(item) for item in error.errors()]
        raise ConfigError(f"{path} has {len(lines)} problem(s):\n  " + "\n  ".join(lines)) from None


@dataclass(frozen=True)
class Settings:
    """What every command gets: params.yaml, validated, and where things are."""

    params: Params
    paths: Paths = Paths()


def tracking_uri(params: Params, repo_root: Path) -> str:
    """params.yaml's URI wins, then MLFLOW_TRACKING_URI, then a sqlite file in the repo."""
    if params.mlflow.tracking_uri:
        return params.mlflow.tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(repo_root / 'mlflow.db').resolve()}"


# The sandbox's opt-out, defined here (not in pipeline.sandbox) because config resolves it once.
DEFAULT_BWRAP = "bwrap"
UNSAFE_ENV_VAR = "GRADEBENCH_UNSAFE_NO_SANDBOX"


@dataclass(frozen=True)
class IsolationPolicy:
    """The driver's decision: which bubblewrap to use and whether its absence may be tolerated."""

    unsafe_no_sandbox: bool = False
    opted_in_by: Optional[str] = None  # "grading.unsafe_no_sandbox", "--unsafe-no-sandbox" or the env var
    bwrap: str = DEFAULT_BWRAP


@dataclass(frozen=True)
class GradingSettings:
    """Where trainings run and how they are isolated: resolved once by the grading process and
    passed down (to every Ray task too), never re-read from a worker's environment."""

    grading: Grading
    isolation: IsolationPolicy


def resolve_grading(params: Params, unsafe_no_sandbox_flag: bool = False, executor: Optional[str] = None,
                    ray_address: Optional[str] = None, environ=os.environ) -> GradingSettings:
    """params.yaml's `grading`, with the command line's overrides and the one environment opt-in."""
    grading = params.grading.model_copy(update={
        "executor": executor or params.grading.executor,
        "ray": params.grading.ray.model_copy(update={"address": ray_address or params.grading.ray.address}),
    })
    env_opt_in = environ.get(UNSAFE_ENV_VAR, "").strip().lower() in ("1", "true", "yes")
    opted_in_by = ("--unsafe-no-sandbox" if unsafe_no_sandbox_flag else
                   "grading.unsafe_no_sandbox" if params.grading.unsafe_no_sandbox else
                   f"{UNSAFE_ENV_VAR}=1" if env_opt_in else None)
    return GradingSettings(grading, IsolationPolicy(unsafe_no_sandbox=opted_in_by is not None,
                                                    opted_in_by=opted_in_by))
