"""Collection runs from a fake Mastodon instance serving Mastodon.py's recorded timelines."""

from __future__ import annotations

from sqlalchemy import Engine, select

from tagpulse.db.models import Post, PostHashtag, User
from tagpulse_collector.catalog import SourceCatalog
from tagpulse_collector.runs.execute import execute_run
from tagpulse_collector.runs.plan import plan_collection
from tagpulse_collector.runs.store import RunRecord, start_run
from tagpulse_collector.sources.mastodon import MastodonAccess, MastodonSource
from tests.integration.test_ingest import assert_rollups_match_a_recount
from tests.support.fake_mastodon import FakeMastodon, recorded_statuses
from tests.support.policies import FAST

TAG = "fgiztsshwiaqqiztpmmjbtvmescsculuvmgjgopwoeidbcrixp"


def run(engine: Engine, fake: FakeMastodon, hashtags: list[str]) -> RunRecord:
    plan = plan_collection(
        hashtags, 1000, "mastodon", [], SourceCatalog(mastodon=MastodonAccess(fake.base_url))
    )
    run_id = start_run(engine, plan, [])
    source = MastodonSource(MastodonAccess(fake.base_url, policy=FAST))
    record = execute_run(engine, run_id, lambda _name: source)
    assert record is not None
    return record


def test_a_mastodon_run_pages_through_the_timeline_and_the_next_asks_only_for_newer(
    engine: Engine, fake_mastodon: FakeMastodon
) -> None:
    statuses = recorded_statuses(TAG) + recorded_statuses("hoot")
    record = run(engine, fake_mastodon, [TAG, "hoot"])
    assert record.state == "SUCCEEDED"
    tag, hoot = record.hashtag_figures
    # Three recorded pages of ten, then the empty page that ends the timeline.
    assert (tag.posts_fetched, tag.pages, tag.api_requests) == (30, 4, 4)
    assert (hoot.posts_fetched, hoot.posts_new) == (1, 1)
    with engine.connect() as connection:
        posts = {(r.source, r.id): r for r in connection.execute(select(Post.table()))}
        links = {(r.post_id, r.hashtag) for r in connection.execute(select(PostHashtag.table()))}
        users = {r.id: r for r in connection.execute(select(User.table()))}
    assert set(posts) == {("mastodon", s["id"]) for s in statuses}
    assert links == {(s["id"], t["name"].casefold()) for s in statuses for t in s["tags"]}
    assert {p.language for p in posts.values()} == {s["language"] for s in statuses}
    assert set(users) == {s["account"]["id"] for s in statuses}
    assert all(u.followers_count == 0 and u.country_code == "unknown" for u in users.values())
    assert_rollups_match_a_recount(engine)

    fake_mastodon.requests.clear()
    again = run(engine, fake_mastodon, [TAG])
    assert (again.posts_fetched, again.posts_new) == (0, 0)
    assert fake_mastodon.tag_requests()[0].query["since_id"] == statuses[0]["id"]
