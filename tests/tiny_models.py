"""Tiny, randomly initialised paper models (BLIP, ViT, AST) saved to folders, for tests that run
the paper's code paths offline."""

from pathlib import Path

import numpy as np
import torch

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "a", "photo", "of", "dog", "cat", "car", "on", "grass",
         "clock", "bell", "banjo", "siren"]


def save_tiny_blip(folder: Path) -> Path:
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor

    from vida_core.models.image import image_processor_class

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab_source.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    config = BlipConfig(
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        text_config=dict(vocab_size=len(VOCAB), hidden_size=32, encoder_hidden_size=32, intermediate_size=37,
                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=64, bos_token_id=5,
                         sep_token_id=3, eos_token_id=3, pad_token_id=0),
        projection_dim=32,
    )
    torch.manual_seed(0)
    BlipForConditionalGeneration(config).save_pretrained(folder)
    processor = BlipProcessor(image_processor=image_processor_class("Blip")(size={"height": 32, "width": 32}),
                              tokenizer=BertTokenizer(str(vocab), bos_token="[DEC]"))
    processor.save_pretrained(folder)
    return folder


def save_tiny_vit(folder: Path) -> Path:
    from transformers import ViTConfig, ViTModel

    from vida_core.models.image import image_processor_class

    torch.manual_seed(0)
    ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                       image_size=32, patch_size=8)).save_pretrained(folder)
    image_processor_class("ViT")(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def save_tiny_ast(folder: Path, max_length: int = 320) -> Path:
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    from vida_core.models.specs import audioset_names

    names = audioset_names()
    id2label = dict(enumerate(names))
    config = ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                       patch_size=16, frequency_stride=16, time_stride=16, max_length=max_length, num_mel_bins=128,
                       num_labels=len(names), id2label=id2label, label2id={v: k for k, v in id2label.items()})
    torch.manual_seed(0)
    model = ASTForAudioClassification(config)
    with torch.no_grad():  # a spread of scores, so top-k tags are not all ties
        model.classifier.dense.bias.copy_(torch.from_numpy(np.linspace(-3, 3, len(names), dtype=np.float32)))
    model.save_pretrained(folder)
    ASTFeatureExtractor(max_length=max_length).save_pretrained(folder)
    return folder
