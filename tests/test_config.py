"""params.yaml mistakes become one clear message naming the key, the bad value and the rule."""

import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config import ConfigError, load_params

REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def write_params(tmp_path, mutate) -> Path:
    params = yaml.safe_load(REPO_PARAMS.read_text())
    mutate(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_repository_params_are_valid():
    params = load_params(REPO_PARAMS)
    assert params.tracks["mnist"].schedule.optimizer == "sgd"
    assert params.tracks["mnist"].schedule.learning_rate == 0.01
    assert params.tracks["mnist"].schedule.epochs == 30
    assert params.tracks["notmnist"].schedule.scaling == "unit"


def test_bad_optimizer_names_key_value_and_choices(tmp_path):
    path = write_params(tmp_path, lambda p: p["tracks"]["mnist"]["schedule"].update(optimizer="sgdd"))
    with pytest.raises(ConfigError) as error:
        load_params(path)
    message = str(error.value)
    assert "tracks.mnist.schedule.optimizer = 'sgdd'" in message
    assert "'sgd'" in message and "'adam'" in message


def test_unknown_key_is_rejected(tmp_path):
    path = write_params(tmp_path, lambda p: p["tracks"]["mnist"]["schedule"].update(epoch=3))
    with pytest.raises(ConfigError, match=r"tracks\.mnist\.schedule\.epoch: unknown key"):
        load_params(path)


def test_negative_epochs_and_track_with_unknown_dataset(tmp_path):
    def mutate(p):
        p["tracks"]["mnist"]["schedule"]["epochs"] = -1
        p["tracks"]["mnist"]["dataset"] = "cifar"

    path = write_params(tmp_path, mutate)
    with pytest.raises(ConfigError, match=r"epochs = -1: Input should be greater than or equal to 1"):
        load_params(path)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("tracks: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)


def test_repository_params_have_leaderboard_grades_and_seeds():
    params = load_params(REPO_PARAMS)
    assert params.leaderboard.reveal_private is False
    assert 0 < params.leaderboard.hidden_split.public_fraction < 1
    assert params.tracks["mnist"].seeds == 1 and params.tracks["mnist"].seed_list() == [1234]
    assert set(params.grades.bands) <= set(params.tracks)


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p["tracks"]["mnist"].update(seeds=0), r"tracks\.mnist\.seeds = 0: Input should be greater than or equal to 1"),
    (lambda p: p["leaderboard"].update(reveal_privat=True), r"leaderboard\.reveal_privat: unknown key"),
    (lambda p: p["leaderboard"]["hidden_split"].update(public_fraction=1.5),
     r"leaderboard\.hidden_split\.public_fraction = 1\.5: Input should be less than 1"),
    (lambda p: p["grades"]["bands"]["mnist"].reverse(), r"grades\.bands\.mnist: min_accuracy must strictly decrease"),
    (lambda p: p["grades"]["bands"].update(cifar=[{"min_accuracy": 0.5, "marks": 1}]), r"grades\.bands\.cifar: no such track"),
    (lambda p: p["grades"]["bands"]["mnist"][0].update(marks=-1), r"marks = -1: Input should be greater than or equal to 0"),
])
def test_leaderboard_and_grade_mistakes_are_named(tmp_path, mutate, message):
    with pytest.raises(ConfigError, match=message):
        load_params(write_params(tmp_path, mutate))


def test_unknown_executor_names_the_choices(tmp_path):
    path = write_params(tmp_path, lambda p: p["grading"].update(executor="dask"))
    with pytest.raises(ConfigError) as error:
        load_params(path)
    assert "grading.executor = 'dask'" in str(error.value) and "'ray'" in str(error.value)


def test_ray_executor_without_ray_installed_says_how_to_install(monkeypatch):
    from pipeline.grading.executors import ray as ray_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"pip install '\.\[ray\]'"):
        ray_executor._import_ray()
