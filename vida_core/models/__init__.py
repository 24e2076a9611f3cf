"""Model roles of the pipeline: captioner, text encoder, image encoder, audio tagger.

Each `load_*` takes a registered short name, a local folder, or a Hugging Face id, loads the
model once, and returns an object that processes inputs in internal batches (on GPU in half
precision when the device resolves to CUDA). The embedded defaults need no network:

    captioner      effnet-lite2-labels   (paper: blip; its own network, not the image encoder's)
    text encoder   minilm                (paper: any sentence-transformers id / BERT folder)
    image encoder  effnet-lite0          (paper: vit)
    audio tagger   yamnet                (paper: ast)
"""

from .captioner import load_captioner
from .image import load_image_encoder
from .loading import ModelLoadError, resolve_device
from .specs import REGISTRY, ModelSpec, audioset_labels, model_identity, resolve_spec
from .tagger import load_audio_tagger
from .text import load_text_encoder

__all__ = [
    "REGISTRY",
    "ModelLoadError",
    "ModelSpec",
    "audioset_labels",
    "load_audio_tagger",
    "load_captioner",
    "load_image_encoder",
    "load_text_encoder",
    "model_identity",
    "resolve_device",
    "resolve_spec",
]
