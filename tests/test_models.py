"""Tests for vida_core.models: embedded defaults, paper-model code paths, error messages.

Everything runs offline. Paper models (BLIP, ViT, AST, BERT) are exercised with tiny,
randomly initialised models of the real architectures written to tmp_path.
"""

from __future__ import annotations

import dataclasses
import functools
import socket

import numpy as np
import pytest
import torch

from vida_core.models import (
    ModelLoadError,
    ModelSpec,
    audioset_labels,
    load_audio_tagger,
    load_captioner,
    load_image_encoder,
    load_text_encoder,
    resolve_device,
    resolve_spec,
)
from vida_core.models.tagger import pool_and_stretch

SR = 16000
AUDIOSET_NAMES = [row["name"] for row in audioset_labels()]


def synthetic_images(n: int, height: int = 120, width: int = 160) -> np.ndarray:
    """Gradients, stripes and flat colours: distinct, deterministic uint8 RGB frames."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:height, :width]
    images = []
    for i in range(n):
        img = np.zeros((height, width, 3), np.uint8)
        img[..., i % 3] = (xx * 255 // width).astype(np.uint8)
        img[..., (i + 1) % 3] = ((yy // (4 + i)) % 2 * 200).astype(np.uint8)
        img[..., (i + 2) % 3] = rng.integers(0, 255)
        images.append(img)
    return np.stack(images)


def make_signals() -> dict[str, np.ndarray]:
    t = np.arange(3 * SR) / SR
    return {
        "sine": 0.5 * np.sin(2 * np.pi * 1000 * t),
        "noise": np.random.default_rng(0).uniform(-0.5, 0.5, t.size),
        "silence": np.zeros(t.size),
    }




@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """All four embedded defaults, loaded with every socket connection refused."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDA_CACHE", str(tmp_path_factory.mktemp("vida-cache")))  # YAMNet unzips here
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        return {
            "text": load_text_encoder("minilm", device="cpu"),
            "image": load_image_encoder("effnet-lite0", device="cpu", batch_size=3),
            "captioner": load_captioner("effnet-lite2-labels", device="cpu", batch_size=2),
            "captioner_lite0": load_captioner("effnet-lite0-labels", device="cpu", batch_size=2),
            "tagger": load_audio_tagger("yamnet", device="cpu"),
        }


# ---- small pieces ----------------------------------------------------------------------


def test_audioset_labels():
    labels = audioset_labels()
    assert len(labels) == 527
    assert labels[0] == {"index": 0, "mid": "/m/09x0r", "name": "Speech"}
    assert [row["index"] for row in labels] == list(range(527))


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError):
        resolve_device("no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


def test_specs_are_frozen_and_complete():
    spec = resolve_spec("captioner", "blip")
    assert isinstance(spec, ModelSpec) and spec.hf_id == "Salesforce/blip-image-captioning-base"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"
    assert len(resolve_spec("captioner", "effnet-lite0-labels").label_names()) == 1000
    assert len(resolve_spec("audio_tagger", "yamnet").label_names()) == 527
    for role, name in [("text_encoder", "minilm"), ("image_encoder", "vit"), ("audio_tagger", "ast")]:
        spec = resolve_spec(role, name)
        assert spec.license and spec.weights_source and spec.size_mb and spec.loader


def test_pool_and_stretch():
    frames = np.arange(2 * 10 * 3, dtype=np.float32).reshape(2, 10, 3)
    out = pool_and_stretch(frames, steps=2)
    assert out.shape == frames.shape
    np.testing.assert_allclose(out[:, :5], np.repeat(frames[:, :5].mean(1, keepdims=True), 5, axis=1))
    np.testing.assert_allclose(out[:, 5:], np.repeat(frames[:, 5:].mean(1, keepdims=True), 5, axis=1))
    np.testing.assert_allclose(pool_and_stretch(frames, steps=10), frames)


# ---- embedded defaults ------------------------------------------------------------------


def test_text_encoder_semantics(embedded):
    txt = embedded["text"]
    emb = txt.encode(["dog barking", "a dog barks", "car engine"])
    assert emb.shape == (3, txt.dim) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    similar, unrelated = emb[0] @ emb[1], emb[0] @ emb[2]
    assert similar > 0.7 and unrelated < 0.4 and similar > unrelated + 0.3
    assert txt.encode([]).shape == (0, txt.dim)


def test_image_encoder_dim_and_deterministic(embedded):
    img = embedded["image"]
    images = synthetic_images(5)  # batch_size=3: two internal batches
    a, b = img.encode(images), img.encode(images)
    assert img.dim == 1280 and a.shape == (5, 1280) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(img.encode(images[3:4]), a[3:4], rtol=1e-4, atol=1e-5)  # batch-independent
    assert not np.allclose(a[0], a[1])
    with pytest.raises(ValueError):
        img.encode(images.astype(np.float32))


@pytest.mark.parametrize("which", ["captioner", "captioner_lite0"])
def test_embedded_captioner(embedded, which):
    captions = embedded[which].caption(synthetic_images(5))
    assert len(captions) == 5
    assert all(isinstance(c, str) and c.startswith("a photo of a") for c in captions)


def test_the_default_captioner_is_not_the_image_encoders_network(embedded):
    from vida_core.shared.config import ModelsConfig

    captioner, image = embedded["captioner"], embedded["image"]
    assert ModelsConfig().captioner == "effnet-lite2-labels" and captioner.spec.input_size == 260
    assert captioner.prep.height == captioner.prep.width == 260
    own = {k: v.shape for k, v in captioner.model.state_dict().items()}
    encoder = {k: v.shape for k, v in image.model.state_dict().items()}
    assert own != encoder and sum(v.numel() for v in captioner.model.parameters()) > \
        sum(v.numel() for v in image.model.parameters())


def test_yamnet_tagger(embedded):
    tag = embedded["tagger"]
    signals = make_signals()
    scores = tag.tag(np.stack(list(signals.values())).astype(np.float32))
    assert scores.shape == (3, 527) and scores.dtype == np.float32
    assert scores.min() >= 0 and scores.max() <= 1
    assert len(tag.missing_indices) == 6
    assert np.all(scores[:, tag.missing_indices] == 0)
    top = {name: AUDIOSET_NAMES[int(s.argmax())] for name, s in zip(signals, scores)}
    assert len(set(top.values())) == 3, top
    assert top["silence"] == "Silence"
    assert top["sine"] in {"Sine wave", "Beep, bleep"}


def test_yamnet_pooled_stretched(embedded):
    tag = embedded["tagger"]
    t = np.arange(3 * SR) / SR
    chirp = (0.5 * np.sin(2 * np.pi * (200 + 1200 * t) * t)).astype(np.float32)
    waves = np.stack([chirp, np.zeros_like(chirp)])
    pooled = tag.tag_pooled_stretched(waves, steps=18)
    assert pooled.shape == (2, 527)
    np.testing.assert_allclose(pooled[1], tag.tag(waves[1:])[0], atol=1e-6)  # constant input: no change
    assert not np.allclose(pooled[0], tag.tag(waves[:1])[0])


# ---- paper-model code paths with tiny random models -------------------------------------


@pytest.fixture()
def tiny_vocab(tmp_path):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "photo", "of", "dog", "cat", "car", "on", "grass"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(words) + "\n")
    return path, len(words)


def test_blip_from_local_folder(tmp_path, tiny_vocab):
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor

    from vida_core.models.image import image_processor_class

    vocab_path, vocab_size = tiny_vocab
    config = BlipConfig(
        vision_config=dict(
            hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8
        ),
        text_config=dict(
            vocab_size=vocab_size, hidden_size=32, encoder_hidden_size=32, intermediate_size=37, num_hidden_layers=1,
            num_attention_heads=2, max_position_embeddings=64, bos_token_id=5, sep_token_id=3, eos_token_id=3, pad_token_id=0,
        ),
        projection_dim=32,
    )
    torch.manual_seed(0)
    folder = tmp_path / "tiny-blip"
    BlipForConditionalGeneration(config).save_pretrained(folder)
    tokenizer = BertTokenizer(str(vocab_path), bos_token="[DEC]")
    image_processor = image_processor_class("Blip")(size={"height": 32, "width": 32})
    BlipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)

    cap = load_captioner(str(folder), device="cpu", batch_size=2)
    assert cap.spec.loader == "blip" and cap.spec.folder == str(folder.resolve()) and cap.spec.input_size == 32
    cap.max_new_tokens = 5
    captions = cap.caption(synthetic_images(3))
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)


def tiny_vit_config():
    from transformers import ViTConfig

    return ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, image_size=32, patch_size=8
    )


def test_vit_from_local_folder(tmp_path):
    from transformers import ViTModel

    from vida_core.models.image import image_processor_class

    folder = tmp_path / "tiny-vit"
    ViTModel(tiny_vit_config()).save_pretrained(folder)
    image_processor_class("ViT")(size={"height": 32, "width": 32}).save_pretrained(folder)

    img = load_image_encoder(str(folder), device="cpu", batch_size=2)
    feats = img.encode(synthetic_images(3))
    assert img.dim == 32 and feats.shape == (3, 32) and feats.dtype == np.float32
    np.testing.assert_allclose(img.encode(synthetic_images(3)), feats, rtol=1e-5, atol=1e-6)


def test_ast_from_local_folder(tmp_path):
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    # Labels in a shuffled order with one class dropped, to check the by-name mapping.
    order = np.random.default_rng(0).permutation(527)[:526]
    id2label = {i: AUDIOSET_NAMES[j] for i, j in enumerate(order)}
    config = ASTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, patch_size=16,
        frequency_stride=16, time_stride=16, max_length=320, num_mel_bins=128,
        num_labels=len(id2label), id2label=id2label, label2id={v: k for k, v in id2label.items()},
    )
    folder = tmp_path / "tiny-ast"
    ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor(max_length=320).save_pretrained(folder)

    tag = load_audio_tagger(str(folder), device="cpu", batch_size=2)
    assert tag.missing_indices == [int(np.setdiff1d(np.arange(527), order)[0])]
    signals = make_signals()
    waves = np.stack(list(signals.values())).astype(np.float32)
    scores = tag.tag(waves)
    assert scores.shape == (3, 527) and scores.dtype == np.float32
    assert np.all(scores[:, tag.missing_indices] == 0) and scores.max() <= 1
    pooled = tag.tag_pooled_stretched(waves, steps=18)
    assert pooled.shape == (3, 527)
    np.testing.assert_allclose(pooled[2], scores[2], atol=1e-5)  # silence is constant over time


def test_bert_folder_as_text_encoder(tmp_path, tiny_vocab):
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab_path, vocab_size = tiny_vocab
    folder = tmp_path / "tiny-bert"
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37
    )
    BertModel(config).save_pretrained(folder)
    BertTokenizer(str(vocab_path)).save_pretrained(folder)

    txt = load_text_encoder(str(folder), device="cpu", batch_size=2)
    emb = txt.encode(["a dog", "a cat on grass", "car"])
    assert emb.shape == (3, 32) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


# ---- errors -----------------------------------------------------------------------------

LOADERS = {
    "captioner": (functools.partial(load_captioner, batch_size=2), "effnet-lite2-labels"),
    "text encoder": (load_text_encoder, "minilm"),
    "image encoder": (load_image_encoder, "effnet-lite0"),
    "audio tagger": (load_audio_tagger, "yamnet"),
}


def assert_helpful(err: ModelLoadError, role: str, name: str, default: str):
    msg = str(err)
    assert role in msg and name in msg, msg
    assert "network" in msg and "local folder" in msg and f"'{default}'" in msg, msg


@pytest.mark.parametrize("role", LOADERS)
def test_unknown_short_name(role):
    load, default = LOADERS[role]
    with pytest.raises(ModelLoadError) as info:
        load("no-such-model", device="cpu")
    assert_helpful(info.value, role, "no-such-model", default)


def test_missing_local_folder(tmp_path):
    missing = tmp_path / "not-there"
    with pytest.raises(ModelLoadError) as info:
        load_captioner(str(missing), batch_size=2, device="cpu")
    assert_helpful(info.value, "captioner", str(missing), "effnet-lite2-labels")


@pytest.mark.parametrize("role", LOADERS)
def test_uncached_hub_id_offline(role, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    load, default = LOADERS[role]
    with pytest.raises(ModelLoadError) as info:
        load("vida-tests/no-such-model-anywhere", device="cpu")
    assert_helpful(info.value, role, "vida-tests/no-such-model-anywhere", default)


@pytest.mark.parametrize("load,name", [(functools.partial(load_captioner, batch_size=2), "blip"), (load_image_encoder, "vit"), (load_audio_tagger, "ast")])
def test_paper_short_names_offline(load, name, monkeypatch):
    from huggingface_hub import try_to_load_from_cache

    hf_id = resolve_spec({"blip": "captioner", "vit": "image_encoder", "ast": "audio_tagger"}[name], name).hf_id
    if isinstance(try_to_load_from_cache(hf_id, "config.json"), str):
        pytest.skip(f"{hf_id} is in the local cache here")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match=hf_id.replace(".", r"\.")):
        load(name, device="cpu")


def test_wrong_architecture_for_role(tmp_path):
    from transformers import ViTModel

    folder = tmp_path / "vit-as-captioner"
    ViTModel(tiny_vit_config()).save_pretrained(folder)
    with pytest.raises(ModelLoadError, match="'vit' model"):
        load_captioner(str(folder), batch_size=2, device="cpu")


# ---- what a pool of each model shows (vida_core.executors) -----------------------------

def _plain(value) -> bool:
    """Values a pool can mirror: data, not a network, a session or a device."""
    import dataclasses as dc
    from vida_core.models.image import ImagePrep
    from vida_core.models.specs import ModelSpec
    return isinstance(value, (str, int, float, bool, tuple, list, dict, ModelSpec, ImagePrep)) or (
        dc.is_dataclass(value) and not isinstance(value, type))


def test_every_model_declares_every_plain_attribute_a_pool_must_show(embedded):
    """A model attribute that stage code might read (plain data) must be in the class's
    `pool_attributes`, or a pool on a cluster would lack it; machinery goes in `local_attributes`."""
    from vida_core.executors.base import describe_model

    for model in embedded.values():
        cls = type(model)
        local = set(getattr(cls, "local_attributes", ()))
        undeclared = sorted(name for name, value in vars(model).items()
                            if not name.startswith("_") and _plain(value)
                            and name not in cls.pool_attributes and name not in local)
        assert not undeclared, f"{cls.__name__}: add {undeclared} to pool_attributes (or local_attributes)"
        shown = describe_model(model)
        assert set(shown["attrs"]) == set(cls.pool_attributes) and shown["methods"]
