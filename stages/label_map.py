"""Stage `label_map`: each caption -> the AudioSet labels it evokes, and CAFMap's condition -> label_map.h5.

A caption is embedded with the text encoder and compared (cosine) with the 527 label names;
labels whose similarity is >= the mean of the top-k similarities are kept (`label_map.top_k`,
paper 5; always at least the best one). At each captioned (representative) frame the condition
is the mean label-bank feature of the kept labels; elsewhere zero, with `condition_mask` false.
"""

import json

import h5py

from vida_core.artifacts import read_strings, require, write_h5, write_strings
from vida_core.models import audioset_labels, load_text_encoder
from vida_core.params import load_params, section
from vida_core.semantics import cafmap_condition, embed_texts, map_captions_to_labels, model_identity

from _common import ARTIFACTS, report


def main() -> None:
    params = load_params()
    top_k = int(section(params, "label_map").get("top_k", 5))
    with h5py.File(require(ARTIFACTS / "representative.h5", "representative"), "r") as f:
        clip_ids, masks = read_strings(f["clip_id"]), f["mask"][()]
    captions = json.loads(require(ARTIFACTS / "captions.json", "captions").read_text())
    with h5py.File(require(ARTIFACTS / "label_bank.h5", "label_bank"), "r") as f:
        bank_mean = f["mean"][()]
    for cid, mask in zip(clip_ids, masks):
        frames = [item["frame"] for item in captions["clips"].get(cid, [])]
        if cid not in captions["clips"] or any(not mask[frame] for frame in frames):
            raise RuntimeError(f"label_map: captions.json does not match representative.h5 at clip {cid}; "
                               "the captions are stale, run `dvc repro captions`")

    encoder = load_text_encoder(params["models"]["text_encoder"], device=params.get("device", "auto"))
    label_names = [label["name"] for label in audioset_labels()]
    label_embeddings = embed_texts(encoder, label_names)
    label_index, label_similarity = map_captions_to_labels(
        clip_ids, captions["clips"], encoder, label_embeddings, top_k)
    condition, condition_mask = cafmap_condition(label_index, bank_mean)

    encoder_id = model_identity(encoder)
    with write_h5(ARTIFACTS / "label_map.h5", "label_map",
                  params={"label_map.top_k": top_k, "models.text_encoder": params["models"]["text_encoder"]},
                  models={"text_encoder": encoder_id["id"]}) as f:
        write_strings(f, "clip_id", clip_ids)
        f["label_index"] = label_index            # [N,18,top_k], -1 = no label
        f["label_similarity"] = label_similarity  # [N,18,top_k], NaN = no label
        f["condition"], f["condition_mask"] = condition, condition_mask
        f["label_embeddings"] = label_embeddings  # the 527 names, embedded once per text encoder
        write_strings(f, "label_name", label_names)
        f.attrs.update(text_encoder=json.dumps(encoder_id), top_k=top_k,
                       rule="keep labels with similarity >= mean of the top_k similarities, at least the best")
    kept = (label_index >= 0).sum(-1)[condition_mask]
    report("label_map", {"clips": len(clip_ids), "conditioned_frames": int(condition_mask.sum()),
                         "clips_without_condition": int((~condition_mask.any(1)).sum()),
                         "mean_labels_per_frame": round(float(kept.mean()), 2) if kept.size else 0})


if __name__ == "__main__":
    main()
