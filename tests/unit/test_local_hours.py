"""LocalHours against zoneinfo itself, instant by instant, in zones with odd offsets and shifts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tagpulse_query.local_hours import LocalHours

ZONES = ["America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe", "Pacific/Chatham"]
# Two years around now: several DST changes in each zone that has them.
LOW, HIGH = (
    int(datetime(2025, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()),
)


def zoneinfos_hour_start(zone: ZoneInfo, epoch: int) -> int:
    local = datetime.fromtimestamp(epoch, zone).replace(minute=0, second=0, microsecond=0)
    return int(local.astimezone(UTC).timestamp())


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.lists(st.integers(LOW, HIGH), min_size=1, max_size=200).map(sorted),
)
def test_hours_of_increasing_instants_match_zoneinfo(zone_name: str, instants: list[int]) -> None:
    # Gaps between instants are anything from a second to months: the walk must notice every
    # offset change it skips over.
    zone = ZoneInfo(zone_name)
    hours = LocalHours(zone, instants[0], instants[-1])
    assert list(hours.hours_of_day(instants)) == [(e, datetime.fromtimestamp(e, zone).hour) for e in instants]
    assert list(hours.hour_starts(instants)) == [(e, zoneinfos_hour_start(zone, e)) for e in instants]


def test_every_quarter_hour_around_lord_howes_half_hour_shifts() -> None:
    zone = ZoneInfo("Australia/Lord_Howe")
    first, last = LOW, LOW + 366 * 86_400
    steps = range(first, last, 900)
    hours = LocalHours(zone, first, last)
    assert list(hours.hour_starts(steps)) == [(e, zoneinfos_hour_start(zone, e)) for e in steps]
