"""The checks a traced custom model's graph must pass before the train step runs it, on graphs
traced in this process from honest and hostile layers (tracing.trace, as the build step does)."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
from keras import layers, ops  # noqa: E402

from pipeline.sandbox.trainer import tracing  # noqa: E402
from pipeline.status import SubmissionFailure  # noqa: E402


class FixedSeedNoise(layers.Layer):
    """Noise from a seed written into the layer: the same "random" numbers whatever the track says."""

    def call(self, inputs, training=False):
        return inputs + keras.random.normal(ops.shape(inputs), stddev=0.1, seed=42) if training else inputs


class SeededNoise(layers.Layer):
    """The honest way: a SeedGenerator, whose state the trainer seeds from the track's seed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(7)

    def call(self, inputs, training=False):
        return inputs + keras.random.normal(ops.shape(inputs), stddev=0.1, seed=self.seed_generator) \
            if training else inputs


def traced(noise_layer, tmp_path) -> dict:
    tracing.record_initializers()
    inputs = keras.Input((28, 28))
    model = keras.Model(inputs, layers.Dense(10)(noise_layer(layers.Flatten()(inputs))))
    return tracing.trace(model, (28, 28), tmp_path, str)


def test_random_numbers_from_a_fixed_seed_are_refused_naming_the_layer(tmp_path):
    with pytest.raises(SubmissionFailure) as refused:
        traced(FixedSeedNoise(), tmp_path)
    assert refused.value.message == ("model.py, FixedSeedNoise.call: draws random numbers from a fixed seed of its "
                                     "own: give the layer a keras.random.SeedGenerator and pass it as seed=, so the "
                                     "track's seed drives it")


def test_random_numbers_from_a_seed_generator_are_driven_by_the_trainer(tmp_path):
    manifest = traced(SeededNoise(), tmp_path)
    states = [weight for weight in manifest["weights"] if weight["initializer"].get("seed_state")]
    assert len(states) == 1 and states[0]["shape"] == [2]  # the state the trainer sets from the track's seed
