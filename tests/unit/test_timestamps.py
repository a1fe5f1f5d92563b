"""Datetimes to protobuf Timestamps: the same as protobuf's own FromDatetime, only cheaper."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from tagpulse.timestamps import to_timestamp

ZONES = st.sampled_from(
    ["UTC", "Asia/Kathmandu", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham"]
)


def protobufs_own(instant: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(instant)
    return stamp


@given(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    ZONES,
)
def test_aware_instants_in_any_zone(instant: datetime, zone: str) -> None:
    local = instant.astimezone(ZoneInfo(zone))
    assert to_timestamp(local) == protobufs_own(instant)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
def test_naive_instants_are_utc(instant: datetime) -> None:
    assert to_timestamp(instant) == protobufs_own(instant.replace(tzinfo=UTC))


def test_none_stays_unset() -> None:
    assert to_timestamp(None) is None
