"""The demo's sound-only AudioSet stand-in: the label bank's external source."""

import hashlib

import numpy as np
import pytest

from vida_core.io.demo import DEMO_CLASSES, DemoConfig, render_clip
from vida_core.io.demo_audioset import (
    BANK_SOUNDS,
    SEGMENTS_FILE,
    bank_ytid,
    generate_demo_audioset,
    render_bank_sound,
)
from vida_core.models.specs import audioset_labels
from vida_core.semantic.label_bank import audioset_examples, index_audioset_files, read_audioset_csv

MID_OF = {label["name"]: label["mid"] for label in audioset_labels()}
SMALL = DemoConfig(width=128, height=96)


def test_every_sound_is_named_with_real_audioset_classes_and_covers_every_demo_class():
    for names, _ in BANK_SOUNDS.values():
        assert names and all(name in MID_OF for name in names)
    assert set(DEMO_CLASSES) <= set(BANK_SOUNDS)
    distractors = set(BANK_SOUNDS) - set(DEMO_CLASSES)
    assert len(distractors) >= 5, "the bank must hold sounds no demo class makes"


def test_ytids_are_eleven_characters_and_unique():
    ids = {bank_ytid(s, i) for s in range(len(BANK_SOUNDS)) for i in range(50)}
    assert len(ids) == 50 * len(BANK_SOUNDS) and {len(i) for i in ids} == {11}


def test_rendering_is_a_pure_function_and_streams_differ_from_the_demo_clips():
    a, sr_a = render_bank_sound("maracas", 0, SMALL)
    b, sr_b = render_bank_sound("maracas", 0, SMALL)
    assert sr_a == sr_b and np.array_equal(a, b)
    assert a.dtype == np.float32 and 0 < np.abs(a).max() <= 1
    other, _ = render_bank_sound("maracas", 1, SMALL)
    assert not np.array_equal(a[: len(other)], other[: len(a)])
    # Not a copy of any demo clip's sound: the bank draws from its own random streams.
    _, _, clip_audio, clip_sr = render_clip("maracas", 0, SMALL)
    if clip_sr == sr_a:
        n = min(len(a), clip_audio.shape[1])
        assert not np.allclose(a[:n], clip_audio[0, :n])


def test_every_sound_is_audible_and_not_silent():
    for sound in BANK_SOUNDS:
        mono, sr = render_bank_sound(sound, 2, SMALL)
        assert len(mono) == round(3.0 * sr) and np.abs(mono).max() > 0.2 and np.sqrt(np.mean(mono**2)) > 0.003, sound


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_audioset")
    rows = generate_demo_audioset(out, SMALL, 2, MID_OF, progress=False)
    return out, rows


def test_the_label_bank_reads_the_standin_as_it_reads_audioset(standin):
    out, rows = standin
    assert len(rows) == 2 * len(BANK_SOUNDS)
    segments = read_audioset_csv(out / SEGMENTS_FILE)
    assert [s["ytid"] for s in segments] == [r["ytid"] for r in rows]
    assert set(index_audioset_files(out)) == {r["ytid"] for r in rows}
    ids, features, label_sets, counts = audioset_examples(str(out), str(out / SEGMENTS_FILE), audioset_labels())
    assert counts["used"] == len(rows) and counts["unknown_mids"] == 0 and counts["unreadable"] == 0
    assert features.shape == (len(rows), 128) and np.isfinite(features).all()
    index_of = {label["name"]: label["index"] for label in audioset_labels()}
    first = dict(zip(ids, label_sets))[rows[0]["ytid"]]
    assert set(first) == {index_of[name] for name in BANK_SOUNDS[rows[0]["sound"]][0]}


def test_same_config_same_bytes(standin, tmp_path):
    out, _ = standin
    generate_demo_audioset(tmp_path, SMALL, 2, MID_OF, progress=False)
    digest = lambda folder: {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}
    assert digest(out) == digest(tmp_path)
