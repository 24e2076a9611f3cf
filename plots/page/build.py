"""Write plots/page/index.html: the page `dvc plots show` fills (`.dvc/config`, plots.html_template),
with Vega, Vega-Lite and Vega-Embed inlined, so the page draws every figure without network.

DVC's own page loads the three libraries from a CDN, which leaves the page blank on a machine
without internet (an offline cluster node, say). The libraries come from their npm packages, at
the major versions DVC's renderer writes specs for (Vega 5, Vega-Lite 5, Vega-Embed 6); their
licences (BSD-3-Clause) are in LICENSES.md beside this file.

    python plots/page/build.py      # needs npm; rewrites index.html
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGES = {"vega": "5.33.1", "vega-lite": "5.23.0", "vega-embed": "6.29.0"}
HERE = Path(__file__).resolve().parent

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>VIDA plots</title>
    <!-- {versions}: inlined from their npm packages by plots/page/build.py (BSD-3-Clause, see
         plots/page/LICENSES.md), so that no script is fetched from the network. -->
{inline_scripts}
    <style>
        body { font-family: sans-serif; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def minified(package: str, version: str, workdir: Path) -> str:
    """The package's build/<name>.min.js, without its source-map comment (the map is not shipped)."""
    tarball = subprocess.run(["npm", "pack", "--silent", f"{package}@{version}"], cwd=workdir, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
    with tarfile.open(workdir / tarball) as archive:
        source = archive.extractfile(f"package/build/{package}.min.js").read().decode()
    lines = [line for line in source.splitlines() if not line.startswith("//# sourceMappingURL=")]
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scripts = [f'    <script type="text/javascript">\n{minified(name, version, Path(tmp))}\n    </script>'
                   for name, version in PACKAGES.items()]
    versions = ", ".join(f"{name} {version}" for name, version in PACKAGES.items())
    # Only {plot_divs} and {refresh_tag} are left for DVC to fill; {scripts} (its CDN tags) is dropped.
    page = PAGE.replace("{versions}", versions).replace("{inline_scripts}", "\n".join(scripts))
    (HERE / "index.html").write_text(page)
    print(f"plots/page/index.html: {len(page) / 1e6:.2f} MB ({versions})")


if __name__ == "__main__":
    main()
