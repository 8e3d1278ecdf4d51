"""The integrity flag: honest gaps between hidden-test and validation accuracy are never flagged,
memorised hidden labels are."""

import numpy as np
import pytest

from pipeline.grading import integrity


@pytest.mark.parametrize("test, test_size, validation, validation_size", [
    (0.9717, 10_000, 0.9720, 12_000),  # an MLP on MNIST: the usual tiny gap
    (0.9842, 10_000, 0.9790, 12_000),  # a CNN half a point better on the test split
    (0.8616, 10_000, 0.86275, 12_000),  # a linear model: test below validation
    (1.0, 500, 0.99, 300),  # accuracies near 1.0 on the small test subsets
    (1.0, 10_000, 0.998, 12_000),
    (1.0, 500, 1.0, 300),
    (0.5, 20, 0.2, 10),  # tiny samples: a large gap is still chance
    (1.0, 10, 0.5, 10),
    (0.44, 300, 0.40, 200),  # one epoch, a weak honest model
    (0.0, 100, 0.0, 100),
])
def test_honest_gaps_are_never_flagged(test, test_size, validation, validation_size):
    assert integrity.review(test, test_size, validation, validation_size) is None


def test_honest_models_by_simulation_are_flagged_at_most_once_in_a_thousand():
    """Both splits scored at one true accuracy (near 1.0 included), binomial luck only."""
    rng = np.random.default_rng(25)
    flagged = draws = 0
    for accuracy in (0.3, 0.44, 0.9, 0.97, 0.99, 0.999, 1.0):
        for test_size, validation_size in ((20, 10), (300, 200), (500, 300), (3_000, 1_200), (10_000, 12_000)):
            for _ in range(100):
                test = rng.binomial(test_size, accuracy) / test_size
                validation = rng.binomial(validation_size, accuracy) / validation_size
                flagged += integrity.review(test, test_size, validation, validation_size) is not None
                draws += 1
    assert draws == 3500 and flagged <= draws * integrity.MAX_P_VALUE


@pytest.mark.parametrize("test, test_size, validation, validation_size", [
    (1.0, 3_000, 0.44, 1_200),  # a frozen lookup of the public t10k labels, one epoch
    (1.0, 500, 0.44, 300),  # the same on the test suite's small subsets
    (1.0, 10_000, 0.92, 12_000),  # the lookup behind a plausible model
    (0.95, 10_000, 0.92, 12_000),  # a graph's constants carrying a share of the labels
    (1.0, 60, 0.6, 50),  # memorised, even on a few images
])
def test_memorised_test_labels_are_flagged(test, test_size, validation, validation_size):
    message = integrity.review(test, test_size, validation, validation_size)
    assert message is not None and message.startswith(integrity.REVIEW_MESSAGE)


def test_the_message_gives_the_figures():
    assert integrity.review(1.0, 3_000, 0.44, 1_200) == (
        "review: hidden-test accuracy far above validation (test 1.0000 on 3,000 images, validation 0.4400 on 1,200)")


def test_missing_figures_give_no_flag_and_impossible_ones_an_error():
    assert integrity.review(None, 500, 0.9, 300) is None
    assert integrity.review(0.9, 500, None, 300) is None
    assert integrity.review(1.0, 0, 0.4, 300) is None
    with pytest.raises(ValueError, match="test_accuracy must be between 0 and 1, got 1.5"):
        integrity.review(1.5, 500, 0.4, 300)


@pytest.mark.parametrize("table", [(30, 30, 15, 30), (500, 500, 132, 300), (9_500, 10_000, 11_040, 12_000),
                                   (10, 10, 5, 10), (0, 10, 0, 10), (7, 10, 9, 10)])
def test_the_p_value_is_fishers_exact_test(table):
    stats = pytest.importorskip("scipy.stats")
    test_correct, test_size, validation_correct, validation_size = table
    expected = stats.fisher_exact([[test_correct, test_size - test_correct],
                                   [validation_correct, validation_size - validation_correct]],
                                  alternative="greater").pvalue
    assert integrity.chance_of_gap(*table) == pytest.approx(expected, rel=1e-9, abs=1e-300)
