"""Several seeds per submission: mean and sample standard deviation, failures stop the rest."""

import pytest

from pipeline import status
from pipeline.grading import seeds


def seed_result(public, private=0.5, **extra):
    return {"status": status.OK, "error": None, "public_accuracy": public, "private_accuracy": private,
            "test_accuracy": public, "validation_accuracy": public, "train_seconds": 2.0, "predict_seconds": 0.5,
            "wall_seconds": 10.0, "predictions_sha256": f"hash{public}", "history": {"loss": [public]},
            "trainable_params": 7850, "peak_rss_mb": 100.0 + public, **extra}


def test_mean_and_sample_std_over_seeds():
    combined = seeds.combine([1, 2, 3], [seed_result(0.90), seed_result(0.92), seed_result(0.94)])
    assert combined["status"] == status.OK
    assert combined["public_accuracy"] == pytest.approx(0.92)
    assert combined["public_accuracy_std"] == pytest.approx(0.02)  # ddof=1: sqrt((0.02² + 0 + 0.02²) / 2)
    assert combined["seeds"] == [1, 2, 3]
    assert [entry["public_accuracy"] for entry in combined["per_seed"]] == [0.90, 0.92, 0.94]
    assert combined["per_seed"][1]["predictions_sha256"] == "hash0.92"
    assert combined["history"] == {"loss": [0.90]}  # the first seed's curves represent it
    assert combined["wall_seconds"] == 30.0 and combined["peak_rss_mb"] == pytest.approx(100.94)


def test_a_single_seed_is_passed_through_exactly():
    combined = seeds.combine([1234], [seed_result(0.8765432101234567)])
    assert combined["public_accuracy"] == 0.8765432101234567  # bit-identical, not re-averaged
    assert combined["public_accuracy_std"] is None


def test_a_failing_seed_fails_the_submission_with_its_message():
    failed = {"status": status.DIVERGED, "error": "the training loss became NaN", "wall_seconds": 3.0}
    combined = seeds.combine([1, 2, 3], [seed_result(0.9), failed])
    assert combined["status"] == status.DIVERGED
    assert combined["error"] == "seed 2: the training loss became NaN"
    assert "public_accuracy" not in combined
    assert [entry["seed"] for entry in combined["per_seed"]] == [1, 2]


def test_a_review_on_any_seed_stands_for_the_submission():
    flag = "review: hidden-test accuracy far above validation (test 1.0000 on 500 images, validation 0.4400 on 300)"
    combined = seeds.combine([1, 2], [seed_result(0.9), seed_result(1.0, review=flag)])
    assert combined["review"] == f"seed 2: {flag}"
    assert seeds.combine([1234], [seed_result(1.0, review=flag)])["review"] == flag
    assert seeds.combine([1, 2], [seed_result(0.9), seed_result(0.91)])["review"] is None


def test_combine_needs_a_result():
    with pytest.raises(ValueError):
        seeds.combine([1], [])
