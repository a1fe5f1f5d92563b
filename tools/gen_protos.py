"""Generate the Python stubs (with .pyi) and Envoy's descriptor set from protos/.

python tools/gen_protos.py           # write libs/tagpulse/tagpulse/v1/*_pb2*.py and gateway/tagpulse.pb
python tools/gen_protos.py --check   # fail if the committed output differs from the protos
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
THIRD_PARTY = PROTOS / "third_party"
PYTHON_OUT = ROOT / "libs" / "tagpulse"
STUBS = PYTHON_OUT / "tagpulse" / "v1"
DESCRIPTOR_SET = ROOT / "gateway" / "tagpulse.pb"
# Envoy's transcoder needs these in the set so error details survive transcoding.
ERROR_PROTOS = ["google/rpc/status.proto", "google/rpc/error_details.proto"]


def contract_files() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "tagpulse").rglob("*.proto"))


def run_protoc(args: list[str]) -> None:
    # grpc_tools bundles google/protobuf/*.proto; protoc's argv[0] is ignored.
    well_known = Path(protoc.__file__).parent / "_proto"
    command = ["protoc", f"-I{PROTOS}", f"-I{THIRD_PARTY}", f"-I{well_known}", *args]
    if protoc.main(command) != 0:
        sys.exit(f"protoc failed: {' '.join(command)}")


def generate(python_out: Path, descriptor_set: Path) -> None:
    files = contract_files()
    run_protoc(
        [f"--python_out={python_out}", f"--pyi_out={python_out}", f"--grpc_python_out={python_out}", *files]
    )
    run_protoc(["--include_imports", f"--descriptor_set_out={descriptor_set}", *files, *ERROR_PROTOS])


def generated_files(python_out: Path) -> dict[str, Path]:
    stubs = python_out / "tagpulse" / "v1"
    return {p.name: p for p in stubs.iterdir() if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"))}


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "tagpulse" / "v1").mkdir(parents=True)
        generate(out, out / "tagpulse.pb")
        fresh, committed = generated_files(out), generated_files(PYTHON_OUT)
        drift = sorted(set(fresh) ^ set(committed))
        drift += [
            n
            for n in sorted(set(fresh) & set(committed))
            if not filecmp.cmp(fresh[n], committed[n], shallow=False)
        ]
        if not DESCRIPTOR_SET.exists() or not filecmp.cmp(out / "tagpulse.pb", DESCRIPTOR_SET, shallow=False):
            drift.append(str(DESCRIPTOR_SET.relative_to(ROOT)))
    if drift:
        print("generated code is out of date with protos/ (run `make proto` and commit):", *drift, sep="\n  ")
        return 1
    print("generated code matches protos/")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    if parser.parse_args().check:
        return check()
    for stale in generated_files(PYTHON_OUT).values():
        stale.unlink()
    generate(PYTHON_OUT, DESCRIPTOR_SET)
    print(
        f"generated {len(generated_files(PYTHON_OUT))} files in {STUBS.relative_to(ROOT)} "
        f"and {DESCRIPTOR_SET.relative_to(ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
