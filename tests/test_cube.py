"""MemCube: fields, defaults, JSON round trip, permissions and validity."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_memos.cube import (
    HistoryEntry,
    MemCube,
    MemoryType,
    Permissions,
    Provenance,
    Status,
    Tier,
    new_id,
    to_utc,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def full_cube() -> MemCube:
    return MemCube(
        content="Caroline went to an LGBTQ support group",
        namespace=("locomo", "conv-26"),
        key="D1:3",
        memory_type=MemoryType.EPISODE,
        tier=Tier.LONG_TERM,
        status=Status.ACTIVATED,
        metadata={"speaker": "Caroline", "nested": {"a": [1, 2.5, None, True]}},
        created_at=T0,
        updated_at=T0 + timedelta(days=1),
        last_accessed_at=T0 + timedelta(days=2),
        access_count=3,
        heat=1.5,
        importance=0.9,
        source="conversation",
        provenance=[Provenance("message", "D1:3", "session_1", {"speaker": "Caroline"})],
        version=2,
        history=[HistoryEntry(1, "old text", {"speaker": "Caroline"}, T0, "update", "alice", {"tier": "mid_term"})],
        valid_from=T0,
        valid_to=T0 + timedelta(days=30),
        expires_at=T0 + timedelta(days=365),
        tags=("lgbtq", "support"),
        modality="text",
        owner="caroline",
        permissions=Permissions(readers=("melanie",), writers=()),
        language="en",
    )


def test_every_field_round_trips_through_json() -> None:
    cube = full_cube()
    again = MemCube.from_json(cube.to_json())
    assert again == cube
    assert again.history[0].snapshot == {"tier": "mid_term"}
    assert json.loads(cube.to_json())["provenance"][0]["ref"] == "D1:3"


def test_defaults_are_sensible() -> None:
    cube = MemCube("hello", ("u",))
    assert cube.key == cube.id and len(cube.id) == 32
    assert cube.tier is Tier.MID_TERM and cube.status is Status.GENERATED
    assert cube.memory_type is MemoryType.PLAINTEXT
    assert cube.created_at.tzinfo is not None and cube.updated_at == cube.created_at
    assert cube.version == 1 and cube.history == [] and cube.access_count == 0


def test_new_ids_are_uuid7_hex_ordered_by_the_millisecond_they_were_made(monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    import uuid

    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(hex=i) for i in ids]
    assert all(len(i) == 32 and u.hex == i and u.version == 7 and u.variant == uuid.RFC_4122
               for i, u in zip(ids, parsed))
    assert MemCube("x", ("u",)).id != MemCube("x", ("u",)).id
    clock = iter([1_700_000_000_000_000_000, 1_700_000_000_001_000_000, 1_700_000_000_002_000_000])
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))
    later = [new_id() for _ in range(3)]
    assert later == sorted(later) and [int(i[:12], 16) for i in later] == [1_700_000_000_000, 1_700_000_000_001,
                                                                          1_700_000_000_002]


def test_enums_and_times_are_coerced_from_strings() -> None:
    cube = MemCube("x", ["a", "b"], memory_type="fact", tier="archive", status="fused",
                   created_at="2024-01-02T03:04:05Z", tags=["t"])
    assert cube.namespace == ("a", "b") and cube.tags == ("t",)
    assert cube.memory_type is MemoryType.FACT and cube.tier is Tier.ARCHIVE and cube.status is Status.FUSED
    assert cube.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert to_utc(datetime(2024, 1, 1)) == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert to_utc(0) == datetime(1970, 1, 1, tzinfo=timezone.utc)


def test_from_dict_rejects_unknown_fields() -> None:
    data = full_cube().to_dict()
    data["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        MemCube.from_dict(data)


def test_validity_window() -> None:
    cube = full_cube()
    assert cube.is_valid_at(T0 + timedelta(days=1))
    assert not cube.is_valid_at(T0 - timedelta(seconds=1))
    assert not cube.is_valid_at(T0 + timedelta(days=30))


def test_expiry() -> None:
    cube = MemCube("x", ("u",), expires_at=T0)
    assert cube.is_expired(T0) and not cube.is_expired(T0 - timedelta(seconds=1))
    assert MemCube("x", ("u",), status=Status.EXPIRED).is_expired()


def test_permissions() -> None:
    cube = full_cube()
    assert cube.can_read("caroline") and cube.can_read("melanie") and not cube.can_read("eve")
    assert cube.can_write("caroline") and not cube.can_write("melanie")
    assert cube.can_read(None)  # trusted system caller
    shared = cube.copy(permissions=Permissions(readers=("*",)))
    assert shared.can_read("eve")
    assert MemCube("x", ("u",)).can_write("anyone")  # unowned memory is shared


def test_copy_does_not_share_mutable_state() -> None:
    cube = full_cube()
    other = cube.copy()
    other.metadata["nested"]["a"].append(5)
    other.provenance.append(Provenance("user"))
    assert cube.metadata["nested"]["a"] == [1, 2.5, None, True]
    assert len(cube.provenance) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(content=st.text(max_size=200), labels=st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=4),
       metadata=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
       tags=st.lists(st.text(max_size=5), max_size=3))
def test_round_trip_property(content: str, labels: list[str], metadata: dict, tags: list[str]) -> None:
    cube = MemCube(content, tuple(labels), metadata=metadata, tags=tuple(tags))
    assert MemCube.from_json(cube.to_json()) == cube
