"""Stage `audio_quality`: generated audio measured as audio-generation papers measure it.

On the clips of a split (val, test) that have real audio, every generator variant's output (per
seed, then averaged over seeds) and three reference rows are scored against the real audio:

- standardised MSE: squared error per mel bin after standardising with the statistics the
  generators standardise their targets with (`target_norm` in generators.py: the real audio of
  the clips they fit to, per mel bin over clips and steps), so the mean predictor scores about 1,
  as in the generators' own MSE table;
- Frechet distance between the real and the generated clips' embeddings, the feature tagger's
  penultimate layer (`FeatureTagger.embed`): each side a Gaussian fitted to its clips (see
  `frechet_distance`). A distance between two samples, so it shrinks with more clips: the
  `real_fitting` row (a second sample of real audio) is the floor two real samples reach;
- KL divergence between tag distributions (`tag_kl`): per clip, the feature tagger's label
  probabilities on real and on generated audio, each normalised to sum 1 over the labels,
  KL(real || generated), averaged over clips: how AudioLDM-style papers compute "KL" with a tagger.

Reference rows:
- `mean_predictor`: every clip gets the fitting clips' mean per mel bin (0 after standardisation);
- `class_template`: each clip gets the mean 18 x 128 real log-mel of the fitting clips of its own
  class, the look-alike classes (protocol.lookalike_classes) merged into one class: all that
  vision can know. It reads the fitting clips' labels, which no pipeline model does (U is
  unlabelled): a reference, not a method. A generator that does not beat it reproduces its
  class's average sound and little more;
- `real_fitting`: the fitting clips' own real audio, for the distribution metric only (it is
  not paired with the split's clips, so it has no MSE or per-clip KL).

Fitting clips: the unlabelled pool U (roles pool and pool_val), or the train split when there is
no pool (labels_per_class: all). Nothing here chooses anything; test numbers are reported only.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import h5py
import numpy as np

from vida_core.shared.artifacts import aligned_rows, read_rows, read_strings
from vida_core.learn.budget import has_pool, pool_view
from vida_core.learn.data import H5Column, build_table, feature_stats, per_seed

REFERENCE_ROWS = ("mean_predictor", "class_template", "real_fitting")
METRICS = ("mse", "frechet", "kl")
KL_EPSILON = 1e-8
SPLITS = ("val", "test")


# ---------------------------------------------------------------- the metrics

def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (negative
    eigenvalues from rounding clipped to 0)."""
    w, v = np.linalg.eigh((matrix + matrix.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2):
    |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    Tr((S1 S2)^(1/2)) is computed as Tr((sqrt(S1) S2 sqrt(S1))^(1/2)), the same trace (the two
    matrices are similar) of a symmetric PSD matrix, so two numpy eigendecompositions do it
    stably, with no complex parts to discard."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum())
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def gaussian_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (ddof 1) of the rows of x [N, D]."""
    x = np.asarray(x, np.float64)
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance_of(x: np.ndarray, y: np.ndarray) -> float | None:
    """Frechet distance between Gaussians fitted to two samples [N, D] (None with fewer than 2 rows)."""
    if len(x) < 2 or len(y) < 2:
        return None
    return frechet_distance(*gaussian_fit(x), *gaussian_fit(y))


def tag_kl(real_probs: np.ndarray, generated_probs: np.ndarray, eps: float = KL_EPSILON) -> float | None:
    """Mean over clips of KL(real || generated) between tag distributions.

    Per clip, each side's label probabilities [labels] (the tagger's independent sigmoids) are
    normalised to sum 1 over the labels after adding `eps` to every label, so no label has zero
    mass; then KL(p || q) = sum p log(p / q), which is 0 for identical rows and positive
    otherwise. This is the "KL" of AudioLDM-style evaluations, which compare a tagger's outputs
    on paired real and generated clips. None with no clips."""
    p = np.asarray(real_probs, np.float64) + eps
    q = np.asarray(generated_probs, np.float64) + eps
    if len(p) == 0:
        return None
    p /= p.sum(-1, keepdims=True)
    q /= q.sum(-1, keepdims=True)
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1)))


def standardised_mse(predicted: np.ndarray, real: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float | None:
    """Mean squared error per mel bin after standardising both sides with (mean, std) [mels]."""
    if len(real) == 0:
        return None
    z = (np.asarray(predicted, np.float64) - np.asarray(real, np.float64)) / np.asarray(std, np.float64)
    return float(np.mean(z ** 2))


# ---------------------------------------------------------------- the reference rows

def class_key(name: str, lookalike: list[str] | tuple[str, ...]) -> str:
    """The class a template is made for: the look-alike classes share one key."""
    return "+".join(sorted(lookalike)) if name in lookalike else name


def class_templates(logmel: np.ndarray, classes: list[str], lookalike=()) -> dict[str, np.ndarray]:
    """Mean [18, 128] real log-mel of the given (fitting) clips per class key (`class_key`)."""
    keys = np.array([class_key(c, list(lookalike)) for c in classes], dtype=object)
    logmel = np.asarray(logmel, np.float64)
    return {key: logmel[keys == key].mean(0) for key in sorted(set(keys.tolist()))}


def class_template_predictions(templates: dict[str, np.ndarray], classes: list[str], lookalike,
                               fallback: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each clip's class template [N, 18, 128]; a class without fitting clips gets `fallback`
    (the mean predictor). Returns (predictions, the class keys that fell back)."""
    if not templates:
        raise ValueError("class templates need at least one fitting clip")
    keys = [class_key(c, list(lookalike)) for c in classes]
    missing = sorted({k for k in keys if k not in templates})
    fallback = np.broadcast_to(np.asarray(fallback, np.float64), next(iter(templates.values())).shape)
    out = np.stack([templates.get(k, fallback) for k in keys]) if keys else np.zeros((0, *fallback.shape))
    return out, missing


# ---------------------------------------------------------------- the table

def _scores(tagger, real: np.ndarray, real_embedding: np.ndarray, real_probs: np.ndarray,
            predicted: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict:
    predicted = np.asarray(predicted, np.float32)
    return {"mse": standardised_mse(predicted, real, mean, std),
            "frechet": frechet_distance_of(real_embedding, tagger.embed(predicted)),
            "kl": tag_kl(real_probs, tagger.predict(predicted))}


def _mean_over_seeds(per_seed_scores: dict[str, dict]) -> dict:
    out = {}
    for metric in METRICS:
        values = [s[metric] for s in per_seed_scores.values() if s[metric] is not None]
        out[metric] = float(np.mean(values)) if values else None
    return out


def _read(path: Path, dataset: str, ids: list[str], stage: str) -> np.ndarray:
    """dataset's rows of the clips `ids`, aligned by clip id."""
    with h5py.File(path, "r") as f:
        rows = aligned_rows(ids, read_strings(f["clip_id"]), path, stage)
        return read_rows(f[dataset], rows)


def _seeds(path: Path) -> list[int]:
    with h5py.File(path, "r") as f:
        if "seeds" not in f:
            raise ValueError(f"{path} holds no `seeds`: it was written by an older generator stage; rerun it")
        return [int(s) for s in f["seeds"][()]]


def audio_quality(manifest_rows: list[dict], roles: dict[str, str], audio_h5: str | Path,
                  generated: dict[str, str | Path], tagger, lookalike=(), splits=SPLITS) -> dict:
    """Every generator variant (`generated`: name -> generated_<name>.h5) and the reference rows
    scored on each split's clips with real audio (module doc): per split, per row, the
    standardised MSE, the Frechet distance and the tag KL, generators averaged over their seeds
    (`per_seed` beside). `tagger` is a `FeatureTagger`; `roles` as in roles.csv."""
    if not generated:
        raise ValueError("audio_quality: no generated audio to measure")
    paths = {name: Path(p) for name, p in generated.items()}
    # The clips every generator wrote (the frame-based clips), in the first file's order.
    with h5py.File(next(iter(paths.values())), "r") as f:
        ids = read_strings(f["clip_id"])
    for path in list(paths.values())[1:]:
        with h5py.File(path, "r") as f:
            held = set(read_strings(f["clip_id"]))
        ids = [c for c in ids if c in held]
    table = build_table(ids, manifest_rows, audio_h5)
    names = np.array([table.class_names[y] for y in table.label], dtype=object)

    # Standardisation: the generators' target_norm, computed the same way on the same clips.
    fitted = pool_view(table, roles).positions("train", table.has_audio)
    mean, std = feature_stats(H5Column(audio_h5, "logmel", ids, "audio"), fitted)
    mean64, std64 = mean.astype(np.float64), std.astype(np.float64)

    pool = has_pool(roles)
    in_fitting = (np.array([roles.get(c) in ("pool", "pool_val") for c in ids]) if pool
                  else table.split == "train")
    fitting = np.flatnonzero(in_fitting & table.has_audio)
    if len(fitting) == 0:
        raise ValueError("audio_quality: no fitting clip has real audio (the pool U, or train without a pool)")
    fitting_audio = _read(Path(audio_h5), "logmel", [ids[i] for i in fitting], "audio")
    alike = [c for c in lookalike if c in table.class_names]
    templates = class_templates(fitting_audio, names[fitting].tolist(), alike)
    fitting_embedding = tagger.embed(fitting_audio)
    seeds = {name: _seeds(path) for name, path in paths.items()}

    out = {
        "rows": [*REFERENCE_ROWS, *paths],
        "metrics": list(METRICS),
        "fitting": {"clips": int(len(fitting)),
                    "which": "the unlabelled pool U (roles pool, pool_val)" if pool else "the train split"},
        "standardised_on": {"clips": int(len(fitted)),
                            "which": "the clips the generators fit to (their target_norm)"},
        "class_template": {"merged": sorted(alike) if len(alike) >= 2 else [], "classes": sorted(templates)},
        "embedding": {"layer": "feature tagger, pooled conv features before the last linear layer",
                      "dim": int(fitting_embedding.shape[1])},
        "kl_epsilon": KL_EPSILON,
        "seeds": seeds,
        "splits": {},
    }
    for split in splits:
        positions = np.flatnonzero((table.split == split) & table.has_audio)
        if len(positions) == 0:
            continue
        split_ids = [ids[i] for i in positions]
        real = _read(Path(audio_h5), "logmel", split_ids, "audio")
        real_embedding, real_probs = tagger.embed(real), tagger.predict(real)
        score = partial(_scores, tagger, real, real_embedding, real_probs, mean=mean64, std=std64)   # (predicted)
        template, fell_back = class_template_predictions(templates, names[positions].tolist(), alike, mean64)
        rows = {
            "mean_predictor": score(np.broadcast_to(mean64, real.shape)),
            "class_template": {**score(template), "classes_without_fitting_clip": fell_back},
            "real_fitting": {"mse": None, "frechet": frechet_distance_of(real_embedding, fitting_embedding),
                             "kl": None, "clips": int(len(fitting))},
        }
        for name, path in paths.items():
            per = {str(s): score(_read(path, per_seed("audio", s), split_ids, f"generate_{name}")) for s in seeds[name]}
            rows[name] = {**_mean_over_seeds(per), "per_seed": per}
        out["splits"][split] = {"clips": int(len(positions)), "rows": rows}
    return out
