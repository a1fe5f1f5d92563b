"""Unit prices of the platforms that bill per resource read (X pay-per-use), and the policy a
collector spends under. Money is counted in millionths of a US dollar, so sums stay exact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from tagpulse.money import to_micros
from tagpulse.settings import Settings
from tagpulse_collector.sources.base import BillableReads


@dataclass(frozen=True)
class UnitPrices:
    post_micros: int = 0
    user_micros: int = 0
    counts_request_micros: int = 0
    # Whether the user objects beside the posts are billed (X's price list reads both ways).
    users_billed: bool = True

    @property
    def free(self) -> bool:
        return not (self.post_micros or self.user_micros or self.counts_request_micros)

    def billed(self, reads: BillableReads) -> BillableReads:
        """What of `reads` is billed: nothing on a free platform; users only when they are."""
        if self.free:
            return BillableReads()
        return reads if self.users_billed else replace(reads, users=0)

    def cost(self, reads: BillableReads) -> int:
        billed = self.billed(reads)
        return (
            billed.posts * self.post_micros
            + billed.users * self.user_micros
            + billed.counts_requests * self.counts_request_micros
        )


FREE = UnitPrices()


@dataclass(frozen=True)
class SpendPolicy:
    """Prices per source (a source not named is free) and the daily budget of each paying one."""

    prices: Mapping[str, UnitPrices] = field(default_factory=dict)
    # The most that may be spent on a source in one UTC day; a source not named has no budget.
    daily_budget_micros: Mapping[str, int] = field(default_factory=dict)

    def prices_of(self, source: str) -> UnitPrices:
        return self.prices.get(source, FREE)

    def paying(self, source: str) -> bool:
        return not self.prices_of(source).free


# No source costs anything and there is no budget (tests, and sources that never bill).
FREE_OF_CHARGE = SpendPolicy()


def spend_policy(settings: Settings) -> SpendPolicy:
    """X's published prices (or the settings that follow its changes) and its daily budget."""
    x = UnitPrices(
        post_micros=to_micros(settings.x_price_per_post_usd),
        user_micros=to_micros(settings.x_price_per_user_usd),
        counts_request_micros=to_micros(settings.x_price_per_counts_request_usd),
        users_billed=settings.x_bills_included_users,
    )
    budgets = {} if settings.x_daily_budget_usd is None else {"x": to_micros(settings.x_daily_budget_usd)}
    return SpendPolicy(prices={"x": x}, daily_budget_micros=budgets)
