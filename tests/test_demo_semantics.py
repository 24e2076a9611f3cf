"""On the demo dataset's real audio, the real tagger hears the classes whose sounds differ."""

import numpy as np
import pytest

from vida_core.io.decode import decode_audio
from vida_core.io.demo import DemoConfig, generate_demo_dataset
from vida_core.learn.feature_tagger import class_tag_profiles
from vida_core.models import audioset_labels, load_audio_tagger


@pytest.fixture(scope="module")
def demo_audio(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    config = DemoConfig(clips_per_class=4, width=96, height=64, no_audio_fraction=0.0,
                        silent_fraction=0.0)
    rows = generate_demo_dataset(root, config, progress=False)
    waveforms, labels = [], []
    for row in rows:
        waveform, note = decode_audio(str(root / row["path"]))
        assert waveform is not None, note
        waveforms.append(waveform)
        labels.append(row["label"])
    return np.stack(waveforms), labels


def test_teacher_outputs_differ_between_classes_whose_sounds_differ(demo_audio):
    waveforms, labels = demo_audio
    tagger = load_audio_tagger("yamnet", device="cpu")
    profiles = class_tag_profiles(tagger.tag(waveforms), labels)
    names = [label["name"] for label in audioset_labels()]
    classes = sorted(profiles)
    # Every two classes have clearly different mean tag profiles.
    unit = {c: profiles[c] / np.linalg.norm(profiles[c]) for c in classes}
    distance = np.array([[np.linalg.norm(unit[a] - unit[b]) for b in classes] for a in classes])
    assert np.all(distance[~np.eye(len(classes), dtype=bool)] > 0.05), distance.round(3)
    # The look-alike pairs are told apart by sound: their top tags are not the same set.
    top = {c: {names[i] for i in np.argsort(profiles[c])[::-1][:3]} for c in classes}
    assert top["metal_drop"] != top["wood_drop"]
    assert top["shaking_rattle"] != top["shaking_bell"]
