"""The feature-space tagger: average precision, agreement metrics, learning a synthetic
teacher, and checkpoint round trips."""

import numpy as np
import pytest
import torch

from vida_core.shared.artifacts import read_rows
from vida_core.learn.feature_tagger import (FeatureTagger, agreement_metrics, average_precision,
                                            class_tag_profiles, teacher_labels, train_feature_tagger)
from vida_core.models.tagger import tag_rows


def test_average_precision_by_hand():
    # Relevant items at ranks 1 and 3: AP = (1/1 + 2/3) / 2.
    assert average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)
    assert average_precision([0, 1], [0.9, 0.1]) == pytest.approx(0.5)
    assert average_precision([1, 0], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts as one cut
    assert np.isnan(average_precision([0, 0], [0.3, 0.2]))


def test_teacher_labels_always_include_the_top_label():
    teacher = np.array([[0.1, 0.05, 0.02], [0.9, 0.6, 0.1]])
    assert teacher_labels(teacher, 0.5).tolist() == [[True, False, False], [True, True, False]]


def test_agreement_of_a_perfect_copy():
    teacher = np.random.default_rng(0).random((20, 527))
    metrics = agreement_metrics(teacher, teacher, threshold=0.9)
    assert metrics["top1_agreement"] == 1.0 and metrics["mAP"] == pytest.approx(1.0)
    assert metrics["clips"] == 20 and metrics["labels_evaluated"] > 0


def synthetic(n, classes=8, seed=0):
    """Each class brightens its own band of mel bins in the middle steps; the teacher gives
    its own label (11 x class) 0.9 and small random scores elsewhere."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logmel = rng.normal(-8.0, 1.0, (n, 18, 128)).astype(np.float32)
    teacher = rng.uniform(0, 0.05, (n, 527)).astype(np.float32)
    for i, c in enumerate(labels):
        logmel[i, 6:12, 16 * c:16 * c + 16] += 3.0
        teacher[i, 11 * c] = 0.9
    return logmel, teacher, labels


@pytest.fixture
def one_thread():
    # A model this small trains fastest on one thread, and a busy machine makes more much slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_head_learns_a_synthetic_teacher_and_round_trips(tmp_path, one_thread):
    train_x, train_y, _ = synthetic(240, seed=0)
    val_x, val_y, _ = synthetic(60, seed=1)
    tagger, history = train_feature_tagger(train_x, train_y, val_x, val_y, hidden=32, epochs=12,
                                           lr=3e-3, batch_size=32, patience=5, seed=0)
    predicted = tagger.predict(val_x)
    assert predicted.shape == (60, 527) and 0 <= predicted.min() and predicted.max() <= 1
    assert agreement_metrics(val_y, predicted, 0.5)["top1_agreement"] > 0.8   # chance: 1/8
    assert history["best_epoch"] >= 1 and len(history["val_loss"]) == len(history["train_loss"])

    tagger.save(tmp_path / "tagger.pt")
    loaded = FeatureTagger.load(tmp_path / "tagger.pt")
    np.testing.assert_array_equal(loaded.predict(val_x), predicted)
    np.testing.assert_array_equal(loaded.mel_mean, tagger.mel_mean)

    again, _ = train_feature_tagger(train_x, train_y, val_x, val_y, hidden=32, epochs=2,
                                    lr=3e-3, batch_size=32, patience=5, seed=0)
    same, _ = train_feature_tagger(train_x, train_y, val_x, val_y, hidden=32, epochs=2,
                                   lr=3e-3, batch_size=32, patience=5, seed=0)
    np.testing.assert_array_equal(again.predict(val_x), same.predict(val_x))  # seeded


def test_tag_rows_scales_int16_and_batches():
    waveforms = np.zeros((5, 48000), np.int16)
    waveforms[:, 0] = [0, 16384, -32768, 32767, 8192]
    seen = []

    def fake_tag(batch):
        seen.append(len(batch))
        return np.repeat(batch[:, :1], 527, axis=1)

    scores = tag_rows(fake_tag, waveforms, np.array([1, 2, 4]), batch_size=2)
    assert seen == [2, 1] and np.allclose(scores[:, 0], [0.5, -1.0, 0.25])
    assert read_rows(waveforms, np.array([1, 3]), block=1,
                     transform=lambda x: x[:, :1]).ravel().tolist() == [16384, 32767]
    assert read_rows(waveforms, np.array([], np.int64)).shape == (0, 48000)


def test_class_tag_profiles_average_per_class():
    scores = np.array([[1.0, 0.0], [0.5, 0.0], [0.0, 1.0]])
    profiles = class_tag_profiles(scores, ["clap", "clap", "splash"])
    assert np.allclose(profiles["clap"], [0.75, 0.0]) and np.allclose(profiles["splash"], [0.0, 1.0])
