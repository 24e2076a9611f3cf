"""Stage `manifest`: list the dataset's clips as (clip_id, path, label, split, fingerprint) rows -> manifest.csv."""

from collections import Counter

from vida_core.io.dataset import build_manifest, check_watched, write_manifest
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("manifest")
    ds = stage.params.dataset
    rows = build_manifest(ds.name, root=ds.root, csv_path=ds.csv, classes=ds.classes,
                          max_clips_per_class=ds.max_clips_per_class, val_fraction=ds.val_fraction,
                          test_fraction=ds.test_fraction, seed=ds.seed)
    outside = check_watched(rows, ds.root, ds.csv if ds.name == "csv" else None)
    if outside:
        print(f"[manifest] warning: {len(outside)} clips lie outside dataset.root ({ds.root}), e.g. {outside[0]}: "
              "DVC does not watch them, so a change to one is picked up only when the manifest reruns "
              "(`dvc repro -f manifest`)")
    write_manifest(rows, stage.output("manifest"))
    stage.done({"clips": len(rows), "classes": len({r["label"] for r in rows}),
                "splits": dict(Counter(r["split"] for r in rows))})


if __name__ == "__main__":
    main()
