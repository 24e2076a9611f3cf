"""Looking at what the learning stages made: generated spectrograms beside the real one."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from vida_core.shared.artifacts import atomic_path, clip_row


def _clip_row(path: str | Path, clip_id: str, dataset: str) -> np.ndarray | None:
    """One clip's row of `dataset`, or None when the file or the clip is absent."""
    if path is None or not Path(path).exists():
        return None
    with h5py.File(path, "r") as f:
        i = clip_row(f, clip_id)
        if i is None:
            return None
        if dataset == "logmel" and "has_audio" in f and not bool(f["has_audio"][i]):
            return None   # zeros stand for "no audio"; do not plot them as a spectrogram
        return np.asarray(f[dataset][i], dtype=np.float32)


def cosine_per_step(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity at each step of two [T, 128] log-mel sequences, each minus its time average.

    Raw log-mel vectors share a large negative offset and spectral tilt, so their cosine is
    ~0.99 for any two clips; without each clip's average spectrum, the similarity says
    whether the same bins rise and fall at the same steps (on the demo: ~0.4 for a clip and
    its SVDMap output, ~0.1 against a clip of another class).
    """
    a = a - a.mean(0, keepdims=True)
    b = b - b.mean(0, keepdims=True)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-8)


def plot_generated(clip_id: str, audio_h5, svdmap_h5, cafmap_h5, out_png: str | Path) -> dict:
    """Real vs SVDMap vs CAFMap log-mel (one shared colour scale) and per-step cosine similarity.

    Panels for absent files or a clip without real audio say so instead of failing. Returns
    the mean cosine similarity of each generator with the real audio (None where undefined).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"real": _clip_row(audio_h5, clip_id, "logmel"),
              "SVDMap": _clip_row(svdmap_h5, clip_id, "audio"),
              "CAFMap": _clip_row(cafmap_h5, clip_id, "audio")}
    present = [x for x in panels.values() if x is not None]
    if not present:
        raise KeyError(f"clip '{clip_id}' is in none of the given files")
    vmin, vmax = min(float(x.min()) for x in present), max(float(x.max()) for x in present)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), gridspec_kw={"width_ratios": [1, 1, 1, 1.2]})
    fig.subplots_adjust(top=0.8, wspace=0.3)
    axes[0].set_ylabel("mel bin")
    for ax, (name, x) in zip(axes, panels.items()):
        ax.set_title(name)
        ax.set_xlabel("step (1/6 s)")
        if x is None:
            ax.text(0.5, 0.5, "no audio" if name == "real" else "not generated", ha="center", va="center")
            ax.set_xticks([]), ax.set_yticks([])
            continue
        image = ax.imshow(x.T, origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma")
    fig.colorbar(image, ax=axes[:3].tolist(), label="log-mel")
    similarity = {}
    ax = axes[3]
    for name in ("SVDMap", "CAFMap"):
        if panels["real"] is None or panels[name] is None:
            similarity[name] = None
            continue
        cos = cosine_per_step(panels["real"], panels[name])
        similarity[name] = float(cos.mean())
        ax.plot(cos, marker="o", label=f"{name} (mean {cos.mean():.2f})")
    ax.set_title("cosine with real, per step\n(each minus its time average)", fontsize=9)
    ax.set_xlabel("step (1/6 s)")
    ax.set_ylim(-1, 1)
    ax.axhline(0, color="grey", lw=0.5)
    if any(v is not None for v in similarity.values()):
        ax.legend(fontsize=8)
    fig.suptitle(clip_id)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return similarity
