"""Generate an X API v2 archive for the ingestion benchmark: twarc2 JSONL, one search page per line.

    python bench/generate.py --posts 1000000 --out var/bench/posts.jsonl

The pages look like what the collector requests from GET /2/tweets/search/recent (its
tweet.fields, expansions, user.fields and place.fields), one hashtag search after the other,
newest first, 100 tweets a page. Posts that carry two tracked hashtags are found by both
searches, so a share of the archive is duplicates, as in a real collection; 15 % of the
tweets are retweets whose own text was cut before the hashtag, with the retweeted post in
includes.tweets. Deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

HASHTAGS = (
    "openbanking",
    "remediation",
    "devops",
    "sre",
    "microservices",
    "observability",
    "oauth",
    "metrics",
    "logmonitoring",
    "opentracing",
)
OTHER_TAGS = ("python", "kubernetes", "cloud", "security", "ai", "golang", "linux", "aws", "data", "ops")
LANGUAGES = ("en",) * 12 + ("es", "es", "pt", "de", "fr", "ja", "it", "hi", "und", "ko")
LOCATIONS = (
    *("",) * 8,
    *(None,) * 10,  # left out of the user object, as X does when it is unset
    "London, UK",
    "San Francisco, CA",
    "New York, NY",
    "Austin, TX",
    "Toronto, Ontario",
    "Ciudad de México",
    "Puebla, México",
    "MEXICO",
    "Madrid, España",
    "São Paulo, Brasil",
    "Berlin",
    "München, Deutschland",
    "Paris, France",
    "Bengaluru, India",
    "Mumbai",
    "Tokyo 🇯🇵",
    "Lagos, Nigeria",
    "Sydney, Australia",
    "Earth",
    "Worldwide",
    "127.0.0.1",
    "the cloud ☁️",
    "he/him",
    "Seoul, Korea",
    "Nairobi, Kenya",
    "Amsterdam",
    "Portland, OR",
    "Dublin, Ireland",
    "Buenos Aires",
    "Jakarta",
)
PLACES = (
    ("0023c19311cdf0fc", "Soledad, Colombia", "CO"),
    ("3078869807f9dd36", "Berlin, Germany", "DE"),
    ("7de31e05e99a00f8", "London, England", "GB"),
    ("76c1bb41d3de7ff1", "Huntsville, AL", "US"),
    ("b49b3053b5c25bf5", "Austin, TX", "US"),
    ("a0583a9994e6bf1b", "Lilongwe, Malawi", "MW"),
    ("1d9a5370a355ab0c", "Mumbai, India", "IN"),
    ("460c5314e8a33c64", "Ciudad de México, México", "MX"),
)
WORDS = (
    *("shipping", "faster", "pipelines", "on-call", "quieter", "lessons", "incident", "tracing"),
    *("meetup", "rollout", "canary", "latency", "budget", "alerts", "dashboards", "postmortem"),
    *("toil", "automation", "platform", "migration"),
)
FIRST_ID = 1_440_000_000_000_000_000
FIRST_USER = 1_000_000_000
START = datetime(2026, 11, 16, tzinfo=UTC)
SPAN = timedelta(days=7)


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Archive:
    def __init__(self, posts: int, users: int, duplicates: float, seed: int) -> None:
        self.seed = seed
        # `posts` fetched in all: the unique posts plus the second sightings of those found
        # under two tracked hashtags.
        self.duplicates = int(posts * duplicates)
        self.unique = posts - self.duplicates
        rng = random.Random(seed)
        self.secondary = bytearray(b"\xff") * self.unique
        for index in rng.sample(range(self.unique), self.duplicates):
            primary = index % len(HASHTAGS)
            self.secondary[index] = (primary + 1 + rng.randrange(len(HASHTAGS) - 1)) % len(HASHTAGS)
        self.users = [self._user(rng, number) for number in range(users)]
        # A few people post a lot: authors are drawn from a Zipf-like law.
        self.author_weights = [1 / (rank + 1) ** 0.8 for rank in range(users)]
        self.cumulative = list(_accumulate(self.author_weights))

    @staticmethod
    def _user(rng: random.Random, number: int) -> dict[str, object]:
        followers = min(int(rng.lognormvariate(5, 2.3) * (1000 if rng.random() < 0.01 else 1)), 90_000_000)
        user: dict[str, object] = {
            "id": str(FIRST_USER + number),
            "username": f"user_{number}_{rng.choice(WORDS)}",
            "name": f"{rng.choice(WORDS).title()} {rng.choice('ABCDEFGHIJKLMNOPRSTVZ')}.",
            "verified": rng.random() < 0.01,
            "public_metrics": {
                "followers_count": followers,
                "following_count": rng.randrange(5000),
                "tweet_count": rng.randrange(100_000),
                "listed_count": rng.randrange(100),
            },
        }
        location = rng.choice(LOCATIONS)
        if location is not None:
            user["location"] = location
        return user

    def _author(self, rng: random.Random) -> int:
        point = rng.random() * self.cumulative[-1]
        low, high = 0, len(self.cumulative) - 1
        while low < high:
            middle = (low + high) // 2
            if self.cumulative[middle] < point:
                low = middle + 1
            else:
                high = middle
        return low

    def tweet(self, index: int) -> tuple[dict[str, object], dict[str, object] | None, int, str | None]:
        """Post `index`: (tweet, retweeted original or None, author number, place id or None);
        the same index always gives the same post, whichever search finds it."""
        rng = random.Random(self.seed * 1_000_003 + index)
        tags = [HASHTAGS[index % len(HASHTAGS)]]
        if self.secondary[index] != 0xFF:
            tags.append(HASHTAGS[self.secondary[index]])
        if rng.random() < 0.3:
            tags.append(rng.choice(OTHER_TAGS))
        author = self._author(rng)
        created = START + SPAN * (index / self.unique) + timedelta(seconds=rng.randrange(60))
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(6, 16)))
        language = rng.choice(LANGUAGES)
        post_id = str(FIRST_ID + index * 16)
        text, entities = _text_with_tags(words, [t if rng.random() < 0.8 else t.upper() for t in tags])
        tweet: dict[str, object] = {
            "id": post_id,
            "author_id": str(FIRST_USER + author),
            "created_at": _iso(created),
            "lang": language,
            "public_metrics": {
                "retweet_count": rng.randrange(50),
                "reply_count": rng.randrange(10),
                "like_count": rng.randrange(200),
                "quote_count": rng.randrange(5),
            },
        }
        original: dict[str, object] | None = None
        place = None
        if rng.random() < 0.15:
            original_author = self._author(rng)
            original = {
                "id": str(int(post_id) + 1),
                "author_id": str(FIRST_USER + original_author),
                "created_at": _iso(created - timedelta(minutes=rng.randrange(1, 600))),
                "lang": language,
                "text": text,
                "entities": entities,
            }
            username = str(self.users[original_author]["username"])
            cut = f"RT @{username}: {text}"[:70] + "…"
            tweet["text"] = cut
            tweet["referenced_tweets"] = [{"type": "retweeted", "id": original["id"]}]
            # Cut off text keeps only the hashtags that still fit, often none.
            kept = [h for h in entities["hashtags"] if int(str(h["end"])) + len(username) + 6 <= 70]
            if kept:
                tweet["entities"] = {"hashtags": kept}
        else:
            tweet["text"] = text
            tweet["entities"] = entities
            if rng.random() < 0.03:
                place = rng.choice(PLACES)[0]
                tweet["geo"] = {"place_id": place}
        return tweet, original, author, place

    def pages(self) -> object:
        """(hashtag, page) for every page of every hashtag's search, newest first."""
        for number, hashtag in enumerate(HASHTAGS):
            found = (
                i
                for i in range(self.unique - 1, -1, -1)
                if i % len(HASHTAGS) == number or self.secondary[i] == number
            )
            page: list[int] = []
            for index in found:
                page.append(index)
                if len(page) == 100:
                    yield hashtag, page
                    page = []
            if page:
                yield hashtag, page


def _seen_now(user: dict[str, object], page: int) -> dict[str, object]:
    """Popular accounts gain followers while the archive is collected: a later page shows more."""
    metrics = user["public_metrics"]
    assert isinstance(metrics, dict)
    if metrics["followers_count"] < 10_000:
        return user
    return {**user, "public_metrics": {**metrics, "followers_count": metrics["followers_count"] + page // 50}}


def _accumulate(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _text_with_tags(words: str, tags: list[str]) -> tuple[str, dict[str, list[dict[str, object]]]]:
    text = words
    hashtags: list[dict[str, object]] = []
    for tag in tags:
        start = len(text) + 1
        text += f" #{tag}"
        hashtags.append({"start": start, "end": start + len(tag) + 1, "tag": tag})
    return text, {"hashtags": hashtags}


def write(archive: Archive, out: Path, fetched_limit: int) -> tuple[int, int]:
    out.parent.mkdir(parents=True, exist_ok=True)
    places = {p[0]: {"id": p[0], "full_name": p[1], "country_code": p[2]} for p in PLACES}
    written = pages = 0
    with out.open("wb") as file:
        for hashtag, indexes in archive.pages():  # type: ignore[attr-defined]
            data, originals, authors, used_places = [], [], {}, set()
            for index in indexes:
                tweet, original, author, place = archive.tweet(index)
                data.append(tweet)
                authors[author] = _seen_now(archive.users[author], pages)
                if original is not None:
                    originals.append(original)
                if place:
                    used_places.add(place)
            includes: dict[str, object] = {"users": list(authors.values())}
            if originals:
                includes["tweets"] = originals
            if used_places:
                includes["places"] = [places[p] for p in sorted(used_places)]
            ids = [str(t["id"]) for t in data]
            page = {
                "data": data,
                "includes": includes,
                "meta": {
                    "newest_id": max(ids),
                    "oldest_id": min(ids),
                    "result_count": len(data),
                    "next_token": f"b26v89c19zqg8o3f{pages:020x}",
                },
                "__twarc": {
                    "url": f"https://api.x.com/2/tweets/search/recent?query=%23{hashtag}&max_results=100",
                    "version": "tagpulse-bench",
                    "retrieved_at": "2026-11-23T00:00:00+00:00",
                },
            }
            file.write(orjson.dumps(page) + b"\n")
            written += len(data)
            pages += 1
            if written >= fetched_limit:
                break
    return written, pages


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--posts", type=int, default=1_000_000, help="tweets in the archive, duplicates included"
    )
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--duplicates", type=float, default=0.12, help="share of second sightings")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("var/bench/posts.jsonl"))
    args = parser.parse_args()
    archive = Archive(args.posts, args.users, args.duplicates, args.seed)
    written, pages = write(archive, args.out, args.posts)
    print(
        f"{args.out}: {written} tweets in {pages} pages, {archive.unique} distinct posts, "
        f"{args.out.stat().st_size / 2**20:.0f} MiB",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
