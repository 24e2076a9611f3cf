"""Stage `demo_data`: generate the embedded demo dataset (real mp4 clips with audio) into data/demo."""

from pathlib import Path

from vida_core.demo import DemoConfig, generate_demo_dataset
from vida_core.params import load_params, section

from _common import report


def main() -> None:
    params = load_params()
    demo = section(params, "demo")
    out_dir = Path(demo.pop("root", "data/demo"))
    rows = generate_demo_dataset(out_dir, DemoConfig(workers=int(params.get("workers", 1)), **demo))
    report("demo_data", {"clips": len(rows), "folder": str(out_dir)})


if __name__ == "__main__":
    main()
