"""The audio-quality stage: Frechet distance, tag KL, the class template, the whole table on
small synthetic artifacts, and its table in `vida report`."""

import json

import numpy as np
import pytest
import torch

from vida_core.learn.audio_quality import (METRICS, REFERENCE_ROWS, audio_quality, class_key,
                                           class_template_predictions, class_templates, frechet_distance,
                                           frechet_distance_of, tag_kl)
from vida_core.learn.feature_tagger import FeatureTagger, TaggerHead
from synthetic import make_synthetic
from vida_core.views.report import build_report


def random_covariance(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_frechet_distance_of_identical_samples_is_zero():
    x = np.random.default_rng(0).standard_normal((400, 12))
    assert frechet_distance_of(x, x) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance_of(x[:1], x) is None   # one clip has no covariance


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    # Diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    a, b = rng.uniform(0.5, 3, 5), rng.uniform(0.5, 3, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    # S1 = I and a rotated S2 (the two do not share eigenvectors with a diagonal): (S1 S2)^(1/2) = S2^(1/2).
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    eig = rng.uniform(0.2, 4, 5)
    s2 = q @ np.diag(eig) @ q.T
    expected = np.sum((mu1 - mu2) ** 2) + 5 + eig.sum() - 2 * np.sqrt(eig).sum()
    assert frechet_distance(mu1, np.eye(5), mu2, s2) == pytest.approx(expected, rel=1e-10)
    # Two general covariances: the distance is symmetric, and 0 against itself.
    s1, s3 = random_covariance(rng, 5), random_covariance(rng, 5)
    assert frechet_distance(mu1, s1, mu2, s3) == pytest.approx(frechet_distance(mu2, s3, mu1, s1), rel=1e-9)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_gaussian_samples_approaches_the_closed_form():
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    eig = np.array([0.5, 1.0, 2.5])
    mu2 = np.array([1.0, -0.5, 0.25])
    x = rng.standard_normal((200_000, 3))                                  # N(0, I)
    y = mu2 + rng.standard_normal((200_000, 3)) @ (q @ np.diag(np.sqrt(eig))).T   # N(mu2, Q diag(eig) Q^T)
    expected = np.sum(mu2 ** 2) + 3 + eig.sum() - 2 * np.sqrt(eig).sum()
    assert frechet_distance_of(x, y) == pytest.approx(expected, rel=0.03)


def test_tag_kl_is_zero_for_identical_tags_and_positive_otherwise():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, (10, 527))
    assert tag_kl(p, p) == pytest.approx(0.0, abs=1e-12)
    assert tag_kl(p, rng.uniform(0, 1, (10, 527))) > 0
    assert tag_kl(p, 3 * p) == pytest.approx(0.0, abs=1e-9)   # each side is normalised to sum 1
    # By hand: p = (1/2, 1/2), q = (1/4, 3/4).
    expected = 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75)
    assert tag_kl([[0.2, 0.2]], [[0.1, 0.3]]) == pytest.approx(expected, rel=1e-6)
    assert np.isfinite(tag_kl([[0.5, 0.0]], [[0.0, 0.5]]))   # zeros are smoothed, not infinite
    assert tag_kl(np.zeros((0, 527)), np.zeros((0, 527))) is None


def test_class_template_merges_the_lookalike_classes():
    rng = np.random.default_rng(4)
    classes = ["clock_ticking", "clock_ringing", "siren", "clock_ticking", "siren", "clock_ringing"]
    logmel = rng.standard_normal((6, 18, 128))
    lookalike = ["clock_ticking", "clock_ringing"]
    templates = class_templates(logmel, classes, lookalike)
    assert set(templates) == {class_key("clock_ticking", lookalike), "siren"}
    clocks = [i for i, c in enumerate(classes) if c.startswith("clock")]
    np.testing.assert_allclose(templates[class_key("clock_ringing", lookalike)], logmel[clocks].mean(0))
    np.testing.assert_allclose(templates["siren"], logmel[[2, 4]].mean(0))
    fallback = np.full(128, -5.0)
    predicted, missing = class_template_predictions(templates, ["clock_ringing", "clock_ticking", "banjo"],
                                                    lookalike, fallback)
    np.testing.assert_array_equal(predicted[0], predicted[1])     # both clocks get one template
    assert missing == ["banjo"] and (predicted[2] == -5.0).all()  # a class with no fitting clip: the mean
    # Without merging, each clock class has its own template.
    assert len(class_templates(logmel, classes, ())) == 3


def small_tagger(seed=0):
    torch.manual_seed(seed)
    return FeatureTagger(TaggerHead(8), np.full(128, -8.0, np.float32), np.ones(128, np.float32))


def pool_roles(manifest):
    """Train clips cut into reservoir (every 4th), pool_val (every 4th after it) and pool."""
    roles, i = {}, 0
    for row in manifest:
        if row["split"] != "train":
            roles[row["clip_id"]] = row["split"]
            continue
        roles[row["clip_id"]] = ("reservoir", "pool_val", "pool", "pool")[i % 4]
        i += 1
    return roles


@pytest.mark.parametrize("with_pool", [True, False])
def test_audio_quality_table_on_synthetic_artifacts(tmp_path, with_pool):
    art = make_synthetic(tmp_path, clips=168, classes=4, seeds=(0, 1), rejected_every=11)
    manifest = art["manifest"]
    roles = pool_roles(manifest) if with_pool else {r["clip_id"]: ("reservoir" if r["split"] == "train" else r["split"])
                                                    for r in manifest}
    lookalike = ["class00", "class01"]
    out = audio_quality(manifest, roles, art["audio"],
                        {"svdmap": art["generated_svdmap"], "cafmap": art["generated_cafmap"]},
                        small_tagger(), lookalike=lookalike)
    json.dumps(out)
    assert out["rows"] == [*REFERENCE_ROWS, "svdmap", "cafmap"] and out["metrics"] == list(METRICS)
    assert set(out["splits"]) == {"val", "test"}
    assert out["class_template"]["merged"] == lookalike
    assert out["seeds"] == {"svdmap": [0, 1], "cafmap": [0, 1]}

    # The fitting clips and the standardisation clips (the generators' own: U's pool, or train).
    import h5py
    with h5py.File(art["audio"]) as f:
        ids = [c.decode() for c in f["clip_id"][()]]
        has_audio, logmel = f["has_audio"][()], f["logmel"][()]
    with h5py.File(art["generated_svdmap"]) as f:
        kept = {c.decode() for c in f["clip_id"][()]}
    usable = [i for i, c in enumerate(ids) if c in kept and has_audio[i]]
    fit_roles = ("pool", "pool_val") if with_pool else ("reservoir",)
    norm_roles = ("pool",) if with_pool else ("reservoir",)
    assert out["fitting"]["clips"] == sum(roles[ids[i]] in fit_roles for i in usable)
    norm = [i for i in usable if roles[ids[i]] in norm_roles]
    assert out["standardised_on"]["clips"] == len(norm)
    mean = logmel[norm].reshape(-1, 128).mean(0)
    std = logmel[norm].reshape(-1, 128).std(0)
    split_of = {r["clip_id"]: r["split"] for r in manifest}
    test = [i for i in usable if split_of[ids[i]] == "test"]
    assert out["splits"]["test"]["clips"] == len(test)

    rows = out["splits"]["test"]["rows"]
    assert list(rows) == out["rows"]
    by_hand = np.mean(((logmel[test] - mean) / std) ** 2)
    assert rows["mean_predictor"]["mse"] == pytest.approx(by_hand, rel=1e-4)
    assert 0.8 < rows["mean_predictor"]["mse"] < 1.5
    # Each class's audio is its prototype plus noise, so the class template beats the mean.
    assert rows["class_template"]["mse"] < rows["mean_predictor"]["mse"]
    assert rows["class_template"]["frechet"] < rows["mean_predictor"]["frechet"]
    assert rows["real_fitting"]["mse"] is None and rows["real_fitting"]["kl"] is None
    assert rows["real_fitting"]["frechet"] >= 0
    for name in ("svdmap", "cafmap"):
        assert set(rows[name]["per_seed"]) == {"0", "1"}
        for metric in METRICS:
            assert rows[name][metric] == pytest.approx(np.mean([rows[name]["per_seed"][s][metric] for s in "01"]))
            assert rows[name][metric] > 0
        # Generated = class prototype + fresh noise: distributed like real audio (far nearer than the
        # mean predictor's one point), but further from each clip than its class template.
        assert rows[name]["frechet"] < rows["mean_predictor"]["frechet"]
        assert rows[name]["mse"] > rows["class_template"]["mse"]


def test_report_shows_the_audio_quality_table():
    from test_learn_results import details_for_report

    details = details_for_report()
    row = lambda mse, fd, kl: {"mse": mse, "frechet": fd, "kl": kl}   # noqa: E731
    details["audio_quality"] = {
        "rows": [*REFERENCE_ROWS, "svdmap", "cafmap"], "metrics": list(METRICS),
        "fitting": {"clips": 40, "which": "the unlabelled pool U (roles pool, pool_val)"},
        "class_template": {"merged": ["clock_ringing", "clock_ticking"]}, "embedding": {"dim": 256},
        "splits": {"test": {"clips": 30, "rows": {
            "mean_predictor": row(1.01, 900.0, 1.2), "class_template": row(0.58, 180.0, 0.35),
            "real_fitting": row(None, 5.2, None), "svdmap": row(0.59, 145.4, 0.39), "cafmap": row(0.68, 175.9, 0.51)}}}}
    text = build_report(details, {})
    assert "## Generated audio against real audio (test clips with real audio, mean over seeds)" in text
    assert "| audio | test MSE (standardised) | Frechet distance | KL |" in text
    assert "| mean predictor (reference) | 1.010 | 900.0 | 1.200 |" in text
    assert "| class template (reference) | 0.580 | 180.0 | 0.350 |" in text
    assert "| real audio of the fitting clips (reference) | – | 5.2 | – |" in text
    assert "| `svdmap` | 0.590 | 145.4 | 0.390 |" in text
    assert "clock_ringing and clock_ticking merged" in text
    # The generators' own MSE table stays beside it.
    assert "| svdmap | train | 1.000 | 0.500 | 0.500 |" in text
    del details["audio_quality"]
    assert "`dvc repro audio_quality results`" in build_report(details, {})
