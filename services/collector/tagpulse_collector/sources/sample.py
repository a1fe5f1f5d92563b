"""The built-in sample source: realistic posts without credentials or network.

Seeded and deterministic: the same seed and anchor give the same posts, ids and authors, so
running a sample collection twice stores nothing twice. The corpus looks like the real
thing where it matters to the summaries: several languages, heavy-tailed follower counts,
repeat authors, posts carrying several hashtags (so one post is found under two hashtags),
a daily rhythm over the last 7 days, and messy free-text profile locations.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from tagpulse.settings import DEFAULT_HASHTAGS
from tagpulse_collector.sources.base import Author, BeforePage, CollectedPost, Page, no_budget

SOURCE_NAME = "sample"
USERS = 400
# About a hundred posts a week per hashtag (a niche hashtag), so the default run of 100 posts
# per hashtag spans the whole week, as the summaries expect of real data.
POSTS_PER_HASHTAG = 80
PAGE_SIZE = 100
DAYS = 7
# Hashtags a sample post may carry besides the one it was written for.
EXTRA_HASHTAGS = (*DEFAULT_HASHTAGS, "python", "kubernetes", "cloud", "security", "ai")

LANGUAGES = {"en": 52, "es": 16, "pt": 7, "de": 6, "fr": 6, "ja": 5, "hi": 3, "it": 3, "und": 2}
LOCATIONS = {
    "": 18,
    "Earth": 3,
    "127.0.0.1": 1,
    "localhost": 1,
    "Worldwide": 2,
    "the cloud ☁️": 1,
    "Ciudad de México": 4,
    "MEXICO": 2,
    "Puebla, México": 2,
    "CDMX": 1,
    "London, UK": 5,
    "Manchester, England": 2,
    "San Francisco, CA": 5,
    "New York, NY": 4,
    "Austin, TX": 2,
    "Seattle": 2,
    "Toronto, Ontario": 2,
    "Madrid, España": 3,
    "Barcelona": 2,
    "Buenos Aires, Argentina": 2,
    "São Paulo, Brasil": 3,
    "Berlin": 3,
    "München, Deutschland": 1,
    "Paris, France": 3,
    "Bengaluru, India": 4,
    "Mumbai": 2,
    "Tokyo 🇯🇵": 3,
    "Lagos, Nigeria": 2,
    "Sydney, Australia": 2,
    "Amsterdam": 2,
    "Remote": 2,
    "he/him": 1,
}
FIRST_NAMES = (
    "maria",
    "john",
    "lucia",
    "ahmed",
    "yuki",
    "priya",
    "diego",
    "anna",
    "li",
    "omar",
    "sofia",
    "kenji",
    "fatima",
    "lukas",
    "chloe",
    "raj",
    "elena",
    "tom",
    "ines",
    "kofi",
)
HANDLE_WORDS = ("ops", "dev", "sre", "cloud", "code", "data", "infra", "k8s", "build", "ship")
PHRASES = {
    "en": (
        "Shipping faster with better pipelines",
        "Our on-call got quieter after this",
        "Lessons learned from last night's incident",
        "Great talk on tracing at the meetup",
    ),
    "es": (
        "Nuevo artículo sobre despliegues continuos",
        "Aprendiendo de los incidentes de ayer",
        "Charla increíble sobre observabilidad",
    ),
    "pt": ("Melhorando nossos pipelines hoje", "Lições do incidente de ontem"),
    "de": ("Neue Erkenntnisse aus dem letzten Incident", "Bessere Pipelines, weniger Stress"),
    "fr": ("Retour d'expérience sur notre migration", "Moins d'alertes, plus de sommeil"),
    "ja": ("障害対応の振り返りを書きました", "監視の仕組みを改善しました"),
    "hi": ("आज नई पाइपलाइन तैयार हुई", "घटना से सीखे गए सबक"),
    "it": ("Lezioni imparate dall'incidente di ieri", "Pipeline più veloci con meno sforzo"),
    "und": ("🚀🚀🚀", "👀"),
}
# Share of posts per UTC hour: a daily rhythm peaking in the European afternoon and the
# American morning, never zero.
HOUR_WEIGHTS = (3, 2, 2, 2, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 14, 15, 15, 14, 12, 10, 8, 6, 5, 4)


def _stable_int(*parts: object) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class _SamplePost:
    post: CollectedPost
    author: Author


class SampleSource:
    """Generates posts for any hashtag; the default hashtags also share posts between them."""

    name = SOURCE_NAME

    def __init__(self, seed: int = 42, anchor: datetime | None = None) -> None:
        self.seed = seed
        # Posts lie in the DAYS before the anchor; the start of the current UTC day by
        # default, so every run on the same day sees the same corpus.
        now = datetime.now(UTC)
        self.anchor = anchor or now.replace(hour=0, minute=0, second=0, microsecond=0)

    def search(
        self,
        hashtag: str,
        max_posts: int,
        cursor: str | None = None,
        since_id: str | None = None,
        before_page: BeforePage = no_budget,
    ) -> Iterator[Page]:
        # The sample has no notion of newer posts: since_id is ignored, and the ids it
        # reports are never used as one. It sends no requests, so nothing is billed.
        matches = sorted(self._posts_with(hashtag), key=lambda p: p.post.created_at, reverse=True)
        matches = matches[:max_posts]
        start = int(cursor) if cursor else 0
        for offset in range(start, len(matches), PAGE_SIZE):
            chunk = matches[offset : offset + PAGE_SIZE]
            end = offset + len(chunk)
            yield Page(
                posts=[p.post for p in chunk],
                authors=[p.author for p in chunk],
                next_cursor=str(end) if end < len(matches) else None,
            )

    def _posts_with(self, hashtag: str) -> list[_SamplePost]:
        primaries = [hashtag] if hashtag not in EXTRA_HASHTAGS else list(DEFAULT_HASHTAGS)
        if hashtag not in primaries:
            primaries.append(hashtag)
        found: list[_SamplePost] = []
        for primary in primaries:
            found.extend(p for p in _stream(self.seed, self.anchor, primary) if hashtag in p.post.hashtags)
        return found


@lru_cache(maxsize=4)
def _users(seed: int) -> tuple[Author, ...]:
    rng = random.Random(_stable_int(seed, "users"))
    locations, location_weights = zip(*LOCATIONS.items(), strict=True)
    users = []
    for index in range(USERS):
        first = rng.choice(FIRST_NAMES)
        handle = f"{first}_{rng.choice(HANDLE_WORDS)}{rng.randrange(100) if rng.random() < 0.5 else ''}"
        # Log-normal with a few celebrities: most accounts have tens or hundreds of
        # followers, one in fifty has a thousand times more.
        followers = rng.lognormvariate(5, 2.5) * (1000 if rng.random() < 0.02 else 1)
        followers = min(int(followers), 60_000_000)
        users.append(
            Author(
                source=SOURCE_NAME,
                id=str(1_000_000 + _stable_int(seed, "user", index) % 10**12),
                username=f"{handle}_{index}",
                display_name=f"{first.title()} {rng.choice('ABCDEFGHIJKLMNOPRSTVZ')}.",
                followers_count=followers,
                location=rng.choices(locations, weights=location_weights)[0],
            )
        )
    return tuple(users)


@lru_cache(maxsize=64)
def _stream(seed: int, anchor: datetime, primary: str) -> tuple[_SamplePost, ...]:
    """The posts written for `primary`, each with 0–2 further hashtags."""
    rng = random.Random(_stable_int(seed, "stream", primary))
    users = _users(seed)
    languages, language_weights = zip(*LANGUAGES.items(), strict=True)
    # Zipf-like author choice: a few people post a lot.
    author_weights = [1 / (rank + 1) ** 0.9 for rank in range(len(users))]
    posts = []
    for index in range(POSTS_PER_HASHTAG):
        author = rng.choices(users, weights=author_weights)[0]
        language = rng.choices(languages, weights=language_weights)[0]
        extras = rng.sample(EXTRA_HASHTAGS, k=rng.choices((0, 1, 2), weights=(50, 35, 15))[0])
        hashtags = tuple(dict.fromkeys([primary, *extras]))
        day = rng.randrange(DAYS)
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        created_at = (
            anchor
            - timedelta(days=DAYS - day)
            + timedelta(hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))
        )
        text = " ".join([rng.choice(PHRASES[language]), *(f"#{tag}" for tag in hashtags)])
        posts.append(
            _SamplePost(
                post=CollectedPost(
                    source=SOURCE_NAME,
                    id=str(_stable_int(seed, "post", primary, index) % 10**18),
                    author_id=author.id,
                    text=text,
                    language=language,
                    created_at=created_at,
                    hashtags=hashtags,
                    place_country_code=_place(rng),
                ),
                author=author,
            )
        )
    return tuple(posts)


def _place(rng: random.Random) -> str | None:
    # About one post in twelve is geotagged, as on X.
    if rng.random() < 1 / 12:
        return rng.choice(("US", "GB", "MX", "ES", "IN", "BR", "DE", "JP"))
    return None
