from collections import Counter
from datetime import UTC, datetime, timedelta
from statistics import median

from tagpulse.settings import DEFAULT_HASHTAGS
from tagpulse_collector.sources.sample import DAYS, SampleSource

ANCHOR = datetime(2026, 11, 23, tzinfo=UTC)


def collect(source: SampleSource, hashtag: str, max_posts: int = 100):  # type: ignore[no-untyped-def]
    pages = list(source.search(hashtag, max_posts))
    return [p for page in pages for p in page.posts], [a for page in pages for a in page.authors], pages


def test_same_seed_same_posts_and_another_seed_others() -> None:
    first, _, _ = collect(SampleSource(seed=7, anchor=ANCHOR), "devops")
    again, _, _ = collect(SampleSource(seed=7, anchor=ANCHOR), "devops")
    other, _, _ = collect(SampleSource(seed=8, anchor=ANCHOR), "devops")
    assert first == again
    assert {p.id for p in first}.isdisjoint({p.id for p in other})


def test_newest_first_within_the_last_seven_days_and_at_most_max_posts() -> None:
    posts, _, pages = collect(SampleSource(anchor=ANCHOR), "sre", max_posts=250)
    assert 100 < len(posts) < 250  # all there is: about a hundred a week
    assert [len(page.posts) for page in pages[:-1]] == [100]
    limited, _, _ = collect(SampleSource(anchor=ANCHOR), "sre", max_posts=40)
    assert limited == posts[:40]
    assert [p.created_at for p in posts] == sorted((p.created_at for p in posts), reverse=True)
    assert all(ANCHOR - timedelta(days=DAYS) <= p.created_at < ANCHOR for p in posts)
    assert all("sre" in p.hashtags for p in posts)


def test_resuming_from_a_cursor_yields_the_rest() -> None:
    source = SampleSource(anchor=ANCHOR)
    pages = list(source.search("oauth", 300))
    assert len(pages) == 2
    resumed = list(source.search("oauth", 300, cursor=pages[0].next_cursor))
    assert [p.posts for p in resumed] == [p.posts for p in pages[1:]]
    assert pages[-1].next_cursor is None


def test_looks_like_real_data() -> None:
    source = SampleSource(anchor=ANCHOR)
    posts, authors = [], []
    for tag in DEFAULT_HASHTAGS:
        found, by, _ = collect(source, tag)
        posts += found
        authors += by
    languages = Counter(p.language for p in posts)
    assert len(languages) >= 6
    assert languages.most_common(1)[0][0] == "en"
    # One post is found under several hashtags: the same id comes back.
    assert len({p.id for p in posts}) < len(posts)
    assert any(len(p.hashtags) >= 3 for p in posts)
    # Repeat authors and heavy-tailed followers.
    posts_per_author = Counter(p.author_id for p in posts)
    assert posts_per_author.most_common(1)[0][1] >= 10
    followers = [a.followers_count for a in {a.id: a for a in authors}.values()]
    assert max(followers) > 100 * median(followers)
    locations = {a.location for a in authors}
    assert {"", "Earth", "127.0.0.1", "Ciudad de México", "MEXICO", "London, UK"} <= locations
    assert all(0 <= p.created_at.hour < 24 for p in posts)
    # A daily rhythm over the whole week.
    assert len({p.created_at.hour for p in posts}) >= 20
    assert len({p.created_at.date() for p in posts}) == DAYS


def test_any_hashtag_gets_posts() -> None:
    posts, _, _ = collect(SampleSource(anchor=ANCHOR), "rustlang", max_posts=30)
    assert len(posts) == 30
    assert all("rustlang" in p.hashtags for p in posts)
