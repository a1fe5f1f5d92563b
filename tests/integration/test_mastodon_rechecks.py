"""Mastodon re-checks against the fake instance: statuses it answers 404 leave tagpulse with every
count they were in, a pass spends no more requests than its budget, the least recently checked go
first, and nothing but a 404 or 410 ever deletes."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import Engine, select

from tagpulse.db.models import MastodonStatusCheck, Post
from tagpulse_collector.deletion.command import run_mastodon_recheck
from tagpulse_collector.deletion.mastodon_rechecks import (
    RecheckPass,
    recheck_client,
    recheck_loop,
    recheck_mastodon,
    recheck_statuses,
)
from tagpulse_collector.deletion.posts import Removed, delete_posts
from tagpulse_collector.ingestion.batches import in_transaction
from tagpulse_collector.metrics import MASTODON_RECHECKS, POSTS_DELETED
from tagpulse_collector.settings import CollectorSettings
from tagpulse_collector.sources.api_client import HttpPolicy
from tagpulse_collector.sources.mastodon import MastodonAccess
from tagpulse_collector.sources.rate_limits import WaitPolicy
from tests.integration.test_deletion import assert_exact, ingest, pages_of
from tests.integration.test_mastodon_collection import TAG, run
from tests.support.fake_http import Fault, Request
from tests.support.fake_mastodon import STATUS_PATH, FakeMastodon, rate_limited, recorded_statuses
from tests.support.policies import FAST
from tests.support.polling import wait_until_async

DAY = timedelta(hours=24)
T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def stored(engine: Engine, fake_mastodon: FakeMastodon) -> list[str]:
    """The recorded statuses collected from the fake, beside sample posts; their ids, sorted."""
    assert run(engine, fake_mastodon, [TAG, "hoot"]).state == "SUCCEEDED"
    ingest(engine, pages_of(1, "devops", 120))
    fake_mastodon.requests.clear()
    return sorted(s["id"] for s in recorded_statuses(TAG) + recorded_statuses("hoot"))


def recheck(
    engine: Engine, fake: FakeMastodon, budget: int, now: datetime = T0, policy: HttpPolicy = FAST
) -> RecheckPass:
    with recheck_client(MastodonAccess(fake.base_url, policy=policy)) as client:
        return recheck_statuses(engine, client, budget, DAY, now=now)


def mastodon_posts(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(Post.id).where(Post.source == "mastodon")).scalars())


def checked(engine: Engine) -> dict[str, datetime]:
    with engine.connect() as connection:
        rows = connection.execute(select(MastodonStatusCheck.post_id, MastodonStatusCheck.checked_at))
        return {row.post_id: row.checked_at for row in rows}


def looked_up(requests: list[Request]) -> list[str]:
    return [r.path.removeprefix(STATUS_PATH) for r in requests]


def test_statuses_the_instance_answers_404_leave_with_every_count_they_were_in(
    engine: Engine, fake_mastodon: FakeMastodon, stored: list[str]
) -> None:
    gone = set(stored[3:9:2]) | {stored[-1]}
    fake_mastodon.deleted |= gone
    upstream = POSTS_DELETED.labels(source="mastodon", reason="upstream")
    deleted_before = upstream._value.get()
    figures = recheck(engine, fake_mastodon, budget=100)
    assert (figures.requests, figures.present, figures.gone, figures.failed) == (
        len(stored),
        len(stored) - len(gone),
        len(gone),
        0,
    )
    assert figures.removed.posts == len(gone)
    assert upstream._value.get() == deleted_before + len(gone)
    assert sorted(looked_up(fake_mastodon.status_requests())) == stored
    assert mastodon_posts(engine) == set(stored) - gone
    assert checked(engine) == dict.fromkeys(set(stored) - gone, T0)
    assert_exact(engine)

    # Within TAGPULSE_MASTODON_RECHECK_AFTER_HOURS nothing is due.
    fake_mastodon.requests.clear()
    assert recheck(engine, fake_mastodon, 100, now=T0 + DAY / 2).requests == 0
    assert fake_mastodon.status_requests() == []

    # A post deleted by another path (on request) leaves its check row for the next pass to drop,
    # without a request.
    orphan = sorted(set(stored) - gone)[0]
    in_transaction(engine, partial(delete_posts, keys=[("mastodon", orphan)]))
    later = T0 + 2 * DAY
    figures = recheck(engine, fake_mastodon, 100, now=later)
    assert figures.requests == len(stored) - len(gone) - 1
    assert orphan not in looked_up(fake_mastodon.status_requests())
    assert checked(engine) == dict.fromkeys(set(stored) - gone - {orphan}, later)
    assert_exact(engine)


def test_each_pass_spends_at_most_its_budget_and_the_least_recently_checked_go_first(
    engine: Engine, fake_mastodon: FakeMastodon, stored: list[str]
) -> None:
    fake_mastodon.deleted.add(stored[10])
    budget, passes = 7, []
    for index in range((len(stored) + budget - 1) // budget):
        fake_mastodon.requests.clear()
        recheck(engine, fake_mastodon, budget, now=T0 + timedelta(minutes=index))
        passes.append(looked_up(fake_mastodon.status_requests()))
        assert len(passes[-1]) <= budget
    # Never-checked first, in id order, each status once.
    assert [post_id for ids in passes for post_id in ids] == stored
    assert mastodon_posts(engine) == set(stored) - {stored[10]}
    # A day on, the statuses checked first are due first.
    fake_mastodon.requests.clear()
    recheck(engine, fake_mastodon, budget, now=T0 + DAY + timedelta(hours=1))
    assert looked_up(fake_mastodon.status_requests()) == passes[0]
    assert_exact(engine)


def test_server_errors_timeouts_and_refused_credentials_never_delete(
    engine: Engine, fake_mastodon: FakeMastodon, stored: list[str]
) -> None:
    gone = set(stored[:4])
    fake_mastodon.deleted |= gone

    def lookup_of(post_id: str) -> Fault:
        return Fault(match=lambda r, p=post_id: r.path == STATUS_PATH + p, times=None)

    failing = [
        fake_mastodon.add_fault(lookup_of(stored[0])),
        fake_mastodon.add_fault(lookup_of(stored[1])),
        fake_mastodon.add_fault(lookup_of(stored[2])),
    ]
    failing[0].status, failing[0].body = 500, b'{"error":"Internal server error"}'
    failing[1].status, failing[1].body = 503, b""
    failing[2].delay = 0.5
    quick = HttpPolicy(timeout_seconds=0.2, attempts=3, backoff_initial_seconds=0.01, rate_limit=WaitPolicy())
    figures = recheck(engine, fake_mastodon, 100, policy=quick)
    # One request each: a failed status waits for the next pass instead of spending the budget.
    assert figures.requests == len(stored)
    assert (figures.failed, figures.gone) == (3, 1)
    assert mastodon_posts(engine) == set(stored) - {stored[3]}
    assert not set(stored[:3]) & set(checked(engine))
    assert_exact(engine)

    # Refused credentials end the pass at once; the failed statuses are still due, and still there.
    for fault in failing:
        fault.times = 0
    refused = fake_mastodon.add_fault(Fault(status=401, body=b'{"error":"The access token is invalid"}'))
    fake_mastodon.requests.clear()
    figures = recheck(engine, fake_mastodon, 100, now=T0 + timedelta(minutes=1))
    assert (figures.requests, figures.failed, refused.hits) == (1, 1, 1)
    assert "refused the credentials" in figures.stopped
    assert set(stored[:3]) <= mastodon_posts(engine)

    # Once the instance answers, the deleted ones go.
    fake_mastodon.requests.clear()
    figures = recheck(engine, fake_mastodon, 100, now=T0 + timedelta(minutes=2))
    assert looked_up(fake_mastodon.status_requests()) == stored[:3]
    assert figures.gone == 3
    assert mastodon_posts(engine) == set(stored) - gone
    assert_exact(engine)


def test_a_429_or_a_nearly_spent_window_ends_the_pass(
    engine: Engine, fake_mastodon: FakeMastodon, stored: list[str]
) -> None:
    fake_mastodon.add_fault(rate_limited(reset_in=60, match=lambda r: r.path.startswith(STATUS_PATH)))
    figures = recheck(engine, fake_mastodon, 100)
    assert (figures.requests, figures.failed, figures.present) == (1, 1, 0)
    assert "rate limited" in figures.stopped
    # The collections' share of the window: the pass ends with a quarter of it left.
    fake_mastodon.requests.clear()
    fake_mastodon.status_window = 12
    figures = recheck(engine, fake_mastodon, 100)
    assert figures.requests == len(fake_mastodon.status_requests()) == 10
    assert figures.stopped == "2 of 12 requests left in the instance's window"
    assert len(checked(engine)) == 10


def test_a_pass_where_most_statuses_answer_gone_deletes_nothing(
    engine: Engine, fake_mastodon: FakeMastodon, stored: list[str]
) -> None:
    """What asking another instance than the one the posts came from looks like."""
    fake_mastodon.deleted |= set(stored)
    held_before = MASTODON_RECHECKS.labels(outcome="held")._value.get()
    figures = recheck(engine, fake_mastodon, 100)
    assert (figures.requests, figures.gone, figures.held) == (20, 0, 20)
    assert figures.stopped == "most statuses answered gone"
    assert MASTODON_RECHECKS.labels(outcome="held")._value.get() == held_before + 20
    assert mastodon_posts(engine) == set(stored)
    assert checked(engine) == {}
    assert_exact(engine)


def test_one_collector_at_a_time_and_the_command(
    engine: Engine,
    database_url: str,
    fake_mastodon: FakeMastodon,
    stored: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tagpulse_collector import locks

    access = MastodonAccess(fake_mastodon.base_url, policy=FAST)
    with locks.lease(engine) as other:
        assert other.try_lock(locks.job_key("mastodon-recheck"))
        assert recheck_mastodon(engine, access, 100, DAY) is None
    assert fake_mastodon.status_requests() == []

    settings = CollectorSettings(database_url=database_url, mastodon_base_url=fake_mastodon.base_url)
    assert run_mastodon_recheck(settings, budget=5) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (printed["requests"], printed["statuses_present"], printed["posts_deleted"]) == (5, 5, 0)
    assert sorted(checked(engine)) == stored[:5]


def test_the_collectors_loop_deletes_and_asks_for_the_invalidation(
    engine: Engine, fake_mastodon: FakeMastodon, stored: list[str]
) -> None:
    fake_mastodon.deleted.add(stored[0])
    stop = threading.Event()
    removed: list[Removed] = []

    async def loop() -> None:
        task = asyncio.create_task(
            recheck_loop(
                engine,
                MastodonAccess(fake_mastodon.base_url, policy=FAST),
                100,
                DAY,
                3600,
                stop,
                removed.append,
            )
        )
        await wait_until_async(lambda: removed, message="a pass that deleted")
        stop.set()
        task.cancel()

    asyncio.run(loop())
    assert [r.posts for r in removed] == [1]
    assert stored[0] not in mastodon_posts(engine)
    assert len(fake_mastodon.status_requests()) == len(stored)
