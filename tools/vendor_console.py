"""Copy the web console's third-party files from node_modules/ into gateway/console/vendor/.

python tools/vendor_console.py           # write them (after changing a pin in package.json)
python tools/vendor_console.py --check   # fail if the committed copies differ from the pins

The console (gateway/console/) is served by Envoy itself, offline: nothing is loaded from a CDN.
Its libraries are npm devDependencies pinned in package.json and package-lock.json; this copies
their built files, with two changes that keep the page to its own origin and its data plain:
- the `//# sourceMappingURL=` line is dropped (the .map files are not shipped; a browser with its
  developer tools open would ask Envoy for them and get 404s);
- the world map's countries (world-atlas, Natural Earth 1:110m) are keyed by ISO 3166-1 alpha-2,
  the country codes the API answers with, instead of their numeric codes. The three shapes
  without an ISO code of their own keep no id (Kosovo gets XK, the code in common use).
It also writes gateway/console/vendor/THIRD_PARTY.md: each package's version and licence text.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pycountry

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "gateway" / "console" / "vendor"

# Shapes of world-atlas without an ISO 3166-1 numeric code, by their name there.
UNCODED_SHAPES = {"Kosovo": "XK"}


def without_source_map(text: str) -> str:
    return re.sub(r"\n?//# sourceMappingURL=\S+\s*$", "\n", text)


def keyed_by_alpha2(text: str) -> str:
    topology = json.loads(text)
    for shape in topology["objects"]["countries"]["geometries"]:
        numeric = shape.pop("id", None)
        country = pycountry.countries.get(numeric=numeric) if numeric else None
        code = country.alpha_2 if country else UNCODED_SHAPES.get(shape["properties"]["name"])
        if code:
            shape["id"] = code
    return json.dumps(topology, separators=(",", ":"), ensure_ascii=False) + "\n"


# vendored file → (its source in node_modules, how it is changed)
FILES: dict[str, tuple[str, Callable[[str], str]]] = {
    "chart.umd.min.js": ("chart.js/dist/chart.umd.min.js", without_source_map),
    "chartjs-chart-geo.umd.min.js": ("chartjs-chart-geo/build/index.umd.min.js", without_source_map),
    "countries-110m.json": ("world-atlas/countries-110m.json", keyed_by_alpha2),
}


# npm package → what of it the console ships. chartjs-chart-geo's build bundles the d3 modules and
# topojson-client (the page loads only chart.js beside it), at the versions it was built with: those
# have no version here.
PACKAGES = {
    "chart.js": "The charts: chart.umd.min.js",
    "chartjs-chart-geo": "The world map's chart type: chartjs-chart-geo.umd.min.js",
    "d3-array": "Bundled in chartjs-chart-geo.umd.min.js",
    "d3-color": "Bundled in chartjs-chart-geo.umd.min.js",
    "d3-geo": "Bundled in chartjs-chart-geo.umd.min.js",
    "d3-interpolate": "Bundled in chartjs-chart-geo.umd.min.js",
    "d3-scale-chromatic": "Bundled in chartjs-chart-geo.umd.min.js",
    "topojson-client": "Bundled in chartjs-chart-geo.umd.min.js",
    "world-atlas": "The countries' shapes: countries-110m.json, made from Natural Earth's 1:110m "
    "Admin 0 countries (public domain, naturalearthdata.com)",
}


def third_party() -> str:
    """THIRD_PARTY.md: what is vendored, at which version, under which licence (in full)."""
    parts = [
        "# Third-party files of the web console\n\n"
        "Written by `python tools/vendor_console.py` from the npm packages pinned in package.json and\n"
        "package-lock.json; do not edit by hand.\n"
    ]
    for package, use in PACKAGES.items():
        folder = NODE_MODULES / package
        manifest = json.loads((folder / "package.json").read_text(encoding="utf-8"))
        (licence,) = [path for path in folder.iterdir() if path.name.upper().startswith("LICENSE")]
        version = "" if use.startswith("Bundled") else f" {manifest['version']}"
        parts.append(
            f"\n## {package}{version} ({manifest['license']})\n\n{use}.\n\n"
            f"```text\n{licence.read_text(encoding='utf-8').strip()}\n```\n"
        )
    return "".join(parts)


def vendored() -> dict[str, str]:
    """Each vendored file's name → its text, made from node_modules."""
    return {
        **{
            name: change((NODE_MODULES / source).read_text(encoding="utf-8"))
            for name, (source, change) in FILES.items()
        },
        "THIRD_PARTY.md": third_party(),
    }


def stale() -> list[str]:
    """The vendored files that differ from what node_modules gives (empty: all current)."""
    return [
        name
        for name, text in vendored().items()
        if not (VENDOR / name).exists() or (VENDOR / name).read_text(encoding="utf-8") != text
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    if parser.parse_args().check:
        if names := stale():
            print(f"{', '.join(names)} in {VENDOR.relative_to(ROOT)} differ from package.json's pins "
                  "(run python tools/vendor_console.py and commit them)")  # fmt: skip
            return 1
        print(f"{VENDOR.relative_to(ROOT)} matches package.json's pins")
        return 0
    VENDOR.mkdir(parents=True, exist_ok=True)
    for name, text in vendored().items():
        (VENDOR / name).write_text(text, encoding="utf-8")
        print(f"wrote {(VENDOR / name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
