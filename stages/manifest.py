"""Stage `manifest`: list the dataset's clips as (clip_id, path, label, split) rows."""

from collections import Counter

from vida_core.dataset import build_manifest, write_manifest
from vida_core.params import load_params, section

from _common import ARTIFACTS, report


def main() -> None:
    ds = section(load_params(), "dataset")
    rows = build_manifest(ds["name"], root=ds.get("root"), csv_path=ds.get("csv"),
                          classes=ds.get("classes"), max_clips_per_class=ds.get("max_clips_per_class"),
                          val_fraction=ds.get("val_fraction", 0.15), test_fraction=ds.get("test_fraction", 0.15),
                          seed=ds.get("seed", 0))
    write_manifest(rows, ARTIFACTS / "manifest.csv")
    report("manifest", {"clips": len(rows), "classes": len({r["label"] for r in rows}),
                        "splits": dict(Counter(r["split"] for r in rows))})


if __name__ == "__main__":
    main()
