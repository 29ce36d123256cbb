"""Generates the Python gRPC stubs from ``proto/`` (``make proto``).

The stubs are committed so that the client distribution installs without
``grpcio-tools``; ``tests/test_proto_stubs.py`` fails when they drift from the
``.proto`` files.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "proto"
STUB_ROOT = REPO / "clients" / "python"


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Runs protoc over every .proto file into ``out_dir``; returns the files written."""
    import grpc_tools
    from grpc_tools import protoc  # dev-only dependency

    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *[str(p) for p in proto_files()],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    return sorted(p for p in out_dir.rglob("*") if p.suffix in {".py", ".pyi"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=STUB_ROOT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for generated in generate(Path(tmp)):
            target = args.out / generated.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(generated.read_bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
