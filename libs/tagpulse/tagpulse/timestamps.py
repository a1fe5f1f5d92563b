"""google.protobuf.Timestamp ↔ aware UTC datetimes, for every servicer."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_timestamp(instant: datetime | None) -> Timestamp | None:
    """A naive datetime is taken as UTC (SQLite gives them back naive)."""
    if instant is None:
        return None
    # By hand rather than Timestamp.FromDatetime, which costs twice as much: a summary can
    # hold thousands of timestamps.
    delta = (instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)) - EPOCH
    return Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000)


def optional_instant(message: Message, field: str) -> datetime | None:
    """The field as an aware UTC datetime, or None when the request left it unset."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)
