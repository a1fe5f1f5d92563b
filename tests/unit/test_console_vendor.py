"""The web console's vendored files (gateway/console/vendor/) are what package.json's pins give,
and the world map is keyed by the country codes the API answers with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pycountry

from tests.conftest import missing

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "gateway" / "console" / "vendor"


def test_the_vendored_files_match_the_pins() -> None:
    if not (ROOT / "node_modules" / "chart.js").is_dir():
        missing("node_modules/ has no chart.js: run `make install`")
    result = subprocess.run(
        [sys.executable, "tools/vendor_console.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_world_map_is_keyed_by_iso_alpha_2() -> None:
    topology = json.loads((VENDOR / "countries-110m.json").read_text())
    shapes = topology["objects"]["countries"]["geometries"]
    codes = [shape["id"] for shape in shapes if "id" in shape]
    assert len(codes) == len(set(codes))
    assert {"GB", "US", "MX", "IN", "BR", "JP", "NG"} <= set(codes)
    assert all(pycountry.countries.get(alpha_2=code) for code in codes if code != "XK")
    # Only the shapes with no ISO code of their own are left without one.
    assert sorted(shape["properties"]["name"] for shape in shapes if "id" not in shape) == [
        "N. Cyprus",
        "Somaliland",
    ]
