"""Local hours of a time zone for many instants at once, by integer arithmetic.

A summary over a year of 15-minute buckets converts tens of thousands of instants. The zone's
UTC offset changes only a few times a year, so it is looked up once per stretch of constant
offset, and each instant is then plain arithmetic on epoch seconds. The few instants whose
local hour began before an offset change (Lord Howe's 30-minute shifts) take the slow path
through zoneinfo, so the answers are the same as converting every instant with zoneinfo.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

HOUR = 3600
# Offsets are sampled this often and bisected where two samples differ; no zone changes its
# offset twice within six hours.
_SAMPLE = 6 * HOUR


def _offset(zone: ZoneInfo, epoch: int) -> int:
    offset = datetime.fromtimestamp(epoch, zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


class LocalHours:
    """Hours of `zone` for instants (epoch seconds) between `first` and `last`."""

    def __init__(self, zone: ZoneInfo, first: int, last: int) -> None:
        self.zone = zone
        # starts[i] is where offsets[i] begins; the first entry covers everything before.
        self.starts = [first - _SAMPLE]
        self.offsets = [_offset(zone, first - _SAMPLE)]
        sample = first - _SAMPLE
        while sample <= last + _SAMPLE:
            following = sample + _SAMPLE
            offset = _offset(zone, following)
            if offset != self.offsets[-1]:
                self._add_change(sample, following, offset)
            sample = following

    def _add_change(self, low: int, high: int, offset: int) -> None:
        # The offset at `low` is offsets[-1], at `high` it is `offset`: find the first second
        # of the new one.
        while high - low > 1:
            middle = (low + high) // 2
            if _offset(self.zone, middle) == self.offsets[-1]:
                low = middle
            else:
                high = middle
        self.starts.append(high)
        self.offsets.append(offset)

    def _stretch(self, epoch: int) -> int:
        return max(0, bisect.bisect_right(self.starts, epoch) - 1)

    def _stretches(self, instants: Iterable[int]) -> Iterator[tuple[int, int]]:
        """(instant, its stretch) for instants in increasing order, with a bisect only at the
        first instant and where an offset change is passed, instead of one per instant."""
        stretch = -1
        following: int | None = None
        for epoch in instants:
            if stretch < 0 or (following is not None and epoch >= following):
                # A bisect rather than a step to the next stretch: instants may skip stretches.
                stretch = self._stretch(epoch)
                following = self.starts[stretch + 1] if stretch + 1 < len(self.starts) else None
            yield epoch, stretch

    def hours_of_day(self, instants: Iterable[int]) -> Iterator[tuple[int, int]]:
        """(instant, local hour 0-23) for instants in increasing order."""
        offsets = self.offsets
        for epoch, stretch in self._stretches(instants):
            yield epoch, (epoch + offsets[stretch]) // HOUR % 24

    def hour_starts(self, instants: Iterable[int]) -> Iterator[tuple[int, int]]:
        """(instant, start of its local hour) for instants in increasing order."""
        for epoch, stretch in self._stretches(instants):
            yield epoch, self._hour_start(epoch, stretch)

    def _hour_start(self, epoch: int, stretch: int) -> int:
        """The epoch at which the local hour containing `epoch` began."""
        start = epoch - (epoch + self.offsets[stretch]) % HOUR
        if stretch == 0 or start >= self.starts[stretch]:
            return start
        # The local hour began before the offset changed: let zoneinfo decide.
        local = datetime.fromtimestamp(epoch, self.zone).replace(minute=0, second=0, microsecond=0)
        return int(local.astimezone(UTC).timestamp())

    def local(self, epoch: int) -> datetime:
        """`epoch` as an aware datetime in the zone."""
        return datetime.fromtimestamp(epoch, self.zone)
