"""Statistics for the label-budget experiment: paired gains over baseline that hold up across runs.

Each condition is trained in R runs (a run is one label draw and one seed; run r of every
condition used the same labelled clips and the same seed) and tested on the same n test clips.
Its input here is `correct` [R, n]: 1 where run r's classifier got test clip j right.

Why both runs and clips are resampled: a run's label draw and training noise move its accuracy
on many clips at once (e.g. a look-alike pair of classes that one run mostly calls A and the
next mostly calls B). Resampling only the test clips, with the runs held fixed, treats that
run-to-run spread as known, and its intervals exclude 0 far more often than 5 % of the time
when two conditions differ only by chance (`clustered_null` reproduces it). So each bootstrap
replicate draws R runs with replacement and, independently, n test clips with replacement,
as count weights; a replicate's accuracy is the weighted mean over (run, clip) cells. The same
weights score every condition, so differences are paired.

Why the interval is widened: with a handful of runs the bootstrap spread over runs is too narrow
(by sqrt((R-1)/R)) and its tails are normal where a t with R-1 degrees of freedom is due; at 10
runs the plain 95 % percentile interval calls a chance difference real ~7 % of the time under
`clustered_null`. Each interval is therefore the percentile interval stretched about the
replicates' median by k = sqrt(R/(R-1)) * t_{R-1} / z (1.22 at 10 runs, 1.10 at 20; it tends to 1),
and the minimum detectable gain uses the same critical value.

Reported per condition: top-1 with its percentile interval; against baseline the gain, its
interval, the replicates' standard error, the minimum gain the experiment would detect at
80 % power, and a verdict from the interval alone; and the share of real audio's gain a
condition recovers, when real audio has a gain to recover.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
from scipy.stats import norm, t

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
LEVEL = 0.95
POWER = 0.80
BASELINE = "baseline"
REFERENCE = "real_audio"
NO_SHARE = "real audio does not beat baseline here: no share to recover"
CHUNK = 256   # replicates whose clip weights are drawn at a time (bounds the [chunk, n] index array)

BETTER = "better than baseline"
WORSE = "worse than baseline"
SAME = "not distinguishable from baseline"


def bootstrap_weights(n_runs: int, n_clips: int, samples: int = BOOTSTRAP_SAMPLES,
                      seed: int = BOOTSTRAP_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Count weights (W_runs [B, R], W_clips [B, n]) of B replicates, as float64.

    Row b of W_runs counts how often each run was drawn when drawing R runs with replacement
    (it sums to R); W_clips likewise for the n test clips (sums to n), drawn independently.
    Runs are drawn first, then clips in chunks; the same seed gives the same weights.
    """
    rng = np.random.default_rng(seed)
    w_runs = _counts(rng.integers(0, n_runs, size=(samples, n_runs)), n_runs)
    w_clips = np.concatenate([_counts(rng.integers(0, n_clips, size=(min(CHUNK, samples - start), n_clips)), n_clips)
                              for start in range(0, samples, CHUNK)]) if samples else np.zeros((0, n_clips))
    return w_runs, w_clips


def _counts(draws: np.ndarray, size: int) -> np.ndarray:
    """[rows, k] indices in [0, size) -> [rows, size] how often each index was drawn."""
    rows = draws.shape[0]
    flat = draws + size * np.arange(rows)[:, None]
    return np.bincount(flat.ravel(), minlength=rows * size).reshape(rows, size).astype(np.float64)


def replicate_means(correct: np.ndarray, w_runs: np.ndarray, w_clips: np.ndarray,
                    clip_mask: np.ndarray | None = None) -> np.ndarray:
    """[B] mean accuracy of each replicate: (w_r @ X @ w_c) / (sum w_r * sum w_c).

    With all clips that is / (R * n). With `clip_mask` only the masked clips count, normalised by
    the weight the replicate gave them; a replicate that drew none of them is NaN (callers drop it).
    Linear in `correct`, so replicate gains are replicate_means(cond - base, ...).
    """
    x = np.asarray(correct, dtype=np.float64)
    if clip_mask is not None and not np.all(clip_mask):
        mask = np.asarray(clip_mask, dtype=bool)
        x, w_clips = x[:, mask], w_clips[:, mask]
    totals = w_runs.sum(axis=1) * w_clips.sum(axis=1)
    with _blas().limit(limits=1, user_api="blas"):   # a small product: BLAS threads only fight over the cores
        per_run = x @ w_clips.T                        # [R, B]: clips first, as n >> R
    sums = np.einsum("br,rb->b", w_runs, per_run)      # w_r @ X @ w_c per replicate
    return np.divide(sums, totals, out=np.full(len(sums), np.nan), where=totals > 0)


@lru_cache(maxsize=1)
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def verdict(lo: float, hi: float) -> str:
    """From the paired interval only, never from the mean."""
    if lo > 0:
        return BETTER
    if hi < 0:
        return WORSE
    return SAME


@lru_cache(maxsize=256)
def widening(runs: int | None, level: float = LEVEL) -> float:
    """k = sqrt(R/(R-1)) * t_{R-1, 1-a/2} / z_{1-a/2}: how much wider than the bootstrap's spread to go.

    1 when runs are not resampled (None) or there is a single run (nothing to correct).
    """
    if runs is None or runs < 2:
        return 1.0
    q = 1 - (1 - level) / 2
    return float(np.sqrt(runs / (runs - 1)) * t.ppf(q, runs - 1) / _z(q))


def minimum_detectable_gain(se: float, level: float = LEVEL, power: float = POWER, runs: int | None = None) -> float:
    """The true gain the verdict rule finds with probability `power`: (k * z_{1-a/2} + z_power) * se.

    With 95 % and 80 % and k = 1 that is 2.80 standard errors; a smaller true gain is more likely
    missed than found. `runs` gives the k of the widened interval (see `widening`).
    """
    return float((widening(runs, level) * _z(1 - (1 - level) / 2) + _z(power)) * se)


@lru_cache(maxsize=64)
def _z(q: float) -> float:
    return float(norm.ppf(q))


def _interval(values: np.ndarray, level: float, k: float = 1.0) -> tuple[float, float]:
    """Percentile interval, ignoring NaN replicates, stretched about the median by k."""
    tail = 100 * (1 - level) / 2
    lo, mid, hi = np.nanpercentile(values, [tail, 50, 100 - tail])
    return float(mid + k * (lo - mid)), float(mid + k * (hi - mid))


def compare(correct: dict[str, np.ndarray], baseline: str = BASELINE, reference: str = REFERENCE,
            clip_mask: np.ndarray | None = None, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED,
            level: float = LEVEL, power: float = POWER, resample_runs: bool = True,
            weights: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Every condition's top-1 and its paired gain over `baseline` (see the module doc).

    `correct` maps condition -> [R, n], runs aligned across conditions. `clip_mask` restricts
    everything to a subset of test clips (e.g. the classes vision can tell apart). With
    `resample_runs=False` runs are held fixed (W_runs all ones): the older clip-only rule, kept
    to measure what it gets wrong (its intervals are not widened). `weights` reuses precomputed
    bootstrap_weights(R, n, ...). Returns plain floats:
    {runs, clips, samples, level, seed, resample_runs, widening, conditions: {name: ...}}.
    """
    if baseline not in correct:
        raise ValueError(f"no {baseline!r} condition to compare against")
    arrays = {name: np.asarray(x, dtype=np.float64) for name, x in correct.items()}
    shape = arrays[baseline].shape
    if any(x.shape != shape for x in arrays.values()) or len(shape) != 2:
        raise ValueError(f"every condition needs the same [runs, clips] array; got "
                         f"{ {name: x.shape for name, x in arrays.items()} }")
    runs, clips = shape
    mask = np.ones(clips, dtype=bool) if clip_mask is None else np.asarray(clip_mask, dtype=bool)
    if mask.shape != (clips,) or not mask.any():
        raise ValueError("clip_mask must be a boolean mask over the test clips selecting at least one")
    w_runs, w_clips = weights if weights is not None else bootstrap_weights(runs, clips, samples, seed)
    if not resample_runs:
        w_runs = np.ones_like(w_runs)
    k = widening(runs if resample_runs else None, level)

    point = {name: float(x[:, mask].mean()) for name, x in arrays.items()}
    reps = {name: replicate_means(x, w_runs, w_clips, mask) for name, x in arrays.items()}
    out = {"runs": runs, "clips": int(mask.sum()), "samples": int(len(w_runs)), "level": level, "seed": seed,
           "resample_runs": resample_runs, "widening": k, "conditions": {}}
    gains = {}
    for name in arrays:
        lo, hi = _interval(reps[name], level, k)
        entry = {"top1": {"mean": point[name], "lo": lo, "hi": hi}}
        if name != baseline:
            gains[name] = reps[name] - reps[baseline]
            lo, hi = _interval(gains[name], level, k)
            se = float(np.nanstd(gains[name], ddof=1))
            entry["gain"] = {"mean": point[name] - point[baseline], "lo": lo, "hi": hi, "se": se,
                             "mdg": minimum_detectable_gain(se, level, power, runs if resample_runs else None),
                             "verdict": verdict(lo, hi)}
        out["conditions"][name] = entry
    if reference in arrays and reference != baseline:
        ref_gain = out["conditions"][reference]["gain"]
        for name, entry in out["conditions"].items():
            if name not in (baseline, reference):
                entry["recovered"] = _recovered(entry["gain"]["mean"], ref_gain, gains[name], gains[reference],
                                                level, k)
    return out


def _recovered(gain: float, ref_gain: dict, gain_reps: np.ndarray, ref_reps: np.ndarray, level: float,
               k: float) -> dict:
    """Share of real audio's gain recovered, (cond - base) / (reference - base).

    Only meaningful when real audio's own gain interval is above 0; replicates whose
    denominator is exactly 0 are dropped from the interval.
    """
    if not ref_gain["lo"] > 0 or ref_gain["mean"] == 0:
        return {"mean": None, "lo": None, "hi": None, "note": NO_SHARE}
    keep = ref_reps != 0
    lo, hi = _interval(gain_reps[keep] / ref_reps[keep], level, k)
    return {"mean": float(gain / ref_gain["mean"]), "lo": lo, "hi": hi}


def null_false_positive_rate(simulate: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
                             trials: int = 500, samples: int = 400, seed: int = 0, level: float = LEVEL,
                             resample_runs: bool = True, bootstrap_seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """(rate, Monte Carlo standard error): how often the verdict rule calls a chance difference real.

    `simulate(rng)` returns (correct_a, correct_b) [R, n] for two conditions that differ only by
    chance; on each of `trials` datasets, b is compared with a (as baseline) and counted when the
    verdict is anything but "not distinguishable". A rule at 95 % should stay at or below 0.05.
    The bootstrap weights are drawn once with `bootstrap_seed`, as the results stage would.
    """
    rng = np.random.default_rng(seed)
    weights, hits = None, 0
    for _ in range(trials):
        a, b = simulate(rng)
        if weights is None:
            weights = bootstrap_weights(*np.shape(a), samples, bootstrap_seed)
        result = compare({BASELINE: a, "other": b}, samples=samples, seed=bootstrap_seed, level=level,
                         resample_runs=resample_runs, weights=weights)
        hits += result["conditions"]["other"]["gain"]["verdict"] != SAME
    rate = hits / trials if trials else float("nan")
    return float(rate), float(np.sqrt(rate * (1 - rate) / trials)) if trials else float("nan")


def clip_only_false_positive_rate(simulate, trials: int = 500, samples: int = 400, seed: int = 0,
                                  level: float = LEVEL, bootstrap_seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """The same measurement for the older rule that resamples test clips only (runs fixed)."""
    return null_false_positive_rate(simulate, trials, samples, seed, level, resample_runs=False,
                                    bootstrap_seed=bootstrap_seed)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def clustered_null(runs: int = 10, clips_per_class: int = 50, classes: int = 5, p_collapse: float = 0.5,
                   pair_accuracy: float = 0.85, accuracy: float = 0.97, clip_sd: float = 1.0,
                   run_sd: float = 0.5, seed_sd: float = 0.3, lift: float = 0.0
                   ) -> Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    """A simulator `simulate(rng) -> (correct_a, correct_b)` [runs, n] of two conditions equal but for chance.

    The test set: a look-alike pair of classes (A, B) and `classes` other classes, each with
    `clips_per_class` clips, so n = (2 + classes) * clips_per_class. Per dataset, each clip has a
    difficulty c_j ~ N(0, clip_sd) on the logit scale, the same for every run and condition.
    Per run r, its label draw shifts every clip by u_r ~ N(0, run_sd), shared by both conditions
    (they trained on the same labelled clips). Per run and condition, independently (classifier noise):
      - a shift e ~ N(0, seed_sd);
      - on the pair, with probability `p_collapse` the classifier calls every pair clip by ONE
        class, A or B at even odds, so it gets exactly that class's clips right; otherwise it
        tells them apart, clip j right with probability sigmoid(logit(pair_accuracy) + c_j + u_r + e);
      - other clips are right with probability sigmoid(logit(accuracy) + c_j + u_r + e).
    A run that collapses loses a block of ~100 pair answers at once: a run-level effect on
    accuracy that resampling test clips alone cannot see. `lift` > 0 gives condition b a true
    gain instead: each of its wrong answers turns right with that probability.
    """
    n_pair = 2 * clips_per_class
    n = (2 + classes) * clips_per_class
    is_a = np.arange(n_pair) < clips_per_class
    pair_base, other_base = _logit(pair_accuracy), _logit(accuracy)

    def condition(rng: np.random.Generator, clip: np.ndarray, shared: np.ndarray) -> np.ndarray:
        shift = clip[None, :] + shared[:, None] + rng.normal(0, seed_sd, runs)[:, None]
        base = np.concatenate([np.full(n_pair, pair_base), np.full(n - n_pair, other_base)])
        correct = rng.random((runs, n)) < _sigmoid(base[None, :] + shift)
        collapsed = rng.random(runs) < p_collapse
        calls_a = rng.random(runs) < 0.5
        correct[collapsed, :n_pair] = is_a[None, :] == calls_a[collapsed, None]
        return correct

    def simulate(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        clip = rng.normal(0, clip_sd, n)
        shared = rng.normal(0, run_sd, runs)
        a, b = condition(rng, clip, shared), condition(rng, clip, shared)
        if lift > 0:
            b = b | (rng.random(b.shape) < lift)
        return a.astype(np.float64), b.astype(np.float64)

    return simulate
