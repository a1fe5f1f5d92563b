"""Series created at zero when a process starts.

`increase()` and `rate()` need two samples of a series: a counter whose series is born at its
first increment (at 1) shows no increase at all, so the first failed run or dead letter after a
restart would never fire an alert. Every series whose label values are known in advance is
therefore created at zero before the metrics port opens.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from prometheus_client.metrics import MetricWrapperBase


def create_at_zero(metric: MetricWrapperBase, **label_values: Iterable[str]) -> None:
    """Create `metric`'s series for every combination of the given label values, at zero."""
    names = list(label_values)
    for combination in itertools.product(*label_values.values()):
        metric.labels(**dict(zip(names, combination, strict=True)))
