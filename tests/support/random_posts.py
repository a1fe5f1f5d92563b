"""Random pages of posts for the read tests: two sources that share post ids, authors whose
follower counts change from page to page, posts sent more than once, several languages and
countries, and instants around a DST change."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from tagpulse_collector.ingestion.batches import ingest_page
from tagpulse_collector.sources.base import Author, CollectedPost, Page

TAGS = ("devops", "sre", "metrics", "oauth", "भारत")
LANGUAGES = ("en", "es", "hi", "und")
# Around the US "fall back" of 2026-11-01.
WINDOW_START = datetime(2026, 10, 30, tzinfo=UTC)
WINDOW = timedelta(days=4)


@dataclass
class RandomData:
    """What the pages said, to check the stored answers against."""

    pages: list[Page] = field(default_factory=list)
    # Follower count of the last page that carried the author: the one that must be stored.
    latest_followers: dict[tuple[str, str], int] = field(default_factory=dict)

    def ingest(self, engine: Engine) -> None:
        for page in self.pages:
            with engine.begin() as connection:
                ingest_page(connection, page)
            for author in page.authors:
                self.latest_followers[(author.source, author.id)] = author.followers_count


def random_data(
    seed: int,
    posts: int,
    first_id: int = 0,
    start: datetime = WINDOW_START,
    span: timedelta = WINDOW,
    page_size: int = 100,
) -> RandomData:
    assert first_id % 2 == 0, "pairs of ids (n, n ^ 1) must not straddle two calls"
    rng = random.Random(seed)
    authors = [
        (source, f"{source[0]}{i}", rng.choice(["", "Mumbai", "Kathmandu", "Earth", "New York"]))
        for source in ("sample", "x")
        for i in range(40)
    ]
    made = []
    for n in range(first_id, first_id + posts):
        source, author_id, _ = rng.choice(authors)
        # Ids repeat across sources but never within one: (source, id) is the identity.
        post_id = str(n ^ 1) if source == "x" else str(n)
        made.append(
            CollectedPost(
                source,
                post_id,
                author_id,
                f"post {n} of {author_id}",
                rng.choice(LANGUAGES),
                start + timedelta(microseconds=rng.randrange(int(span.total_seconds() * 1e6))),
                tuple(rng.sample(TAGS, k=rng.choice([0, 1, 1, 2, 3]))),
                place_country_code=rng.choice([None, None, None, "NP", "us"]),
            )
        )
    # Some posts twice: a duplicate is stored and counted once.
    sent = made + rng.sample(made, len(made) // 5)
    rng.shuffle(sent)
    data = RandomData()
    for begin in range(0, len(sent), page_size):
        chunk = sent[begin : begin + page_size]
        page_authors = {(p.source, p.author_id) for p in chunk}
        data.pages.append(
            Page(
                posts=chunk,
                authors=[
                    Author(
                        source, author_id, f"user_{author_id}", f"User {author_id}", rng.randrange(50), place
                    )
                    for source, author_id, place in authors
                    if (source, author_id) in page_authors
                ],
            )
        )
    return data
