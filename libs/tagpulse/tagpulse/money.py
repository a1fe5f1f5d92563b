"""Money in millionths of a US dollar: integers, so sums of many small prices stay exact."""

from __future__ import annotations

MICROS_PER_USD = 1_000_000


def to_micros(usd: float) -> int:
    return round(usd * MICROS_PER_USD)


def to_usd(micros: int) -> float:
    return micros / MICROS_PER_USD
