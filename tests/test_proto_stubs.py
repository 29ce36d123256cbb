"""The committed gRPC stubs must be exactly what the .proto files generate (`make proto`)."""

from __future__ import annotations

from pathlib import Path

from robustedge.service import protogen


def test_committed_stubs_match_the_proto_files(tmp_path: Path) -> None:
    generated = protogen.generate(tmp_path)
    assert generated, "protoc produced nothing"
    for path in generated:
        relative = path.relative_to(tmp_path)
        committed = protogen.STUB_ROOT / relative
        assert committed.exists(), f"{relative} is not committed; run `make proto`"
        assert committed.read_bytes() == path.read_bytes(), f"{relative} is stale; run `make proto`"


def test_every_enum_starts_at_unspecified() -> None:
    from robustedge.v1 import evaluation_pb2 as pb

    for enum in pb.DESCRIPTOR.enum_types_by_name.values():
        assert enum.values[0].number == 0
        assert enum.values[0].name.endswith("_UNSPECIFIED"), enum.name
