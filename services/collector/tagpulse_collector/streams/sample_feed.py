"""The sample source as a stream: a deterministic generator of X-shaped stream messages.

The message at a given number of a stream is always the same post (for the same seed and
stream), so a reader that resumes at a number regenerates exactly what a killed one would have
read. About one message in
ten repeats an earlier one (same post id: a duplicate for the stream), and the texts are chosen
to exercise the rules: posts about Justin Bieber with and without music, music without him,
"música" and "musical" (not "music"), #JustinBieber (not the phrase), fullwidth letters, a
retweet, Japanese text; some posts have a place, authors have free-text locations.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from tagpulse_collector.streams.local_feed import Feed, FeedItem, Stop


@dataclass(frozen=True)
class Template:
    text: str
    language: str
    retweet: bool = False


TEMPLATES = (
    # About Justin Bieber and music.
    Template("Justin Bieber just dropped new music and it slaps", "en"),
    Template("Listening to Justin Bieber all day #music", "en"),
    Template("JUSTIN BIEBER live tonight, the best MUSIC of the year", "en"),
    Template("Justin Bieber's music video is out now 🎶", "en"),
    Template("Concierto de Justin Bieber: su música y su #Music en vivo", "es"),
    Template("RT @bieberfan: Justin Bieber music marathon this weekend", "en", retweet=True),
    Template("ＪＵＳＴＩＮ ＢＩＥＢＥＲ music all night", "en"),
    # About him, not about music.
    Template("Justin Bieber spotted in Toronto today", "en"),
    Template("Justin Bieber y su nueva canción: música para el verano", "es"),
    Template("Justin Bieber interview: musical influences and more", "en"),
    Template("justin bieber #musicvideo premiere", "en"),
    # Music, not him.
    Template("New music Friday: what are you listening to? #music", "en"),
    Template("Justin Timberlake and Bieber fans agree: great music", "en"),
    Template("#JustinBieber #Music trending", "en"),
    # Neither.
    Template("Shipping faster with better pipelines #devops", "en"),
    Template("Our on-call got quieter after this #sre", "en"),
    Template("Lessons learned from last night's incident", "en"),
    Template("障害対応の振り返りを書きました", "ja"),
    Template("Retour d'expérience sur notre migration #devops", "fr"),
    Template("Nuevo artículo sobre despliegues continuos", "es"),
)
# Share of each group of templates: Bieber and music, Bieber only, music only, neither.
_GROUPS = ((0, 7, 25), (7, 11, 15), (11, 14, 15), (14, 20, 45))
LOCATIONS = (
    "Toronto, Ontario",
    "Stratford, Canada",
    "London, UK",
    "Madrid, España",
    "Ciudad de México",
    "São Paulo, Brasil",
    "Los Angeles, CA",
    "Paris, France",
    "Tokyo 🇯🇵",
    "",
    "Earth",
    "Bieberland",
)
PLACES = (
    ("01a9a39529b27f36", "US", "Manhattan, NY"),
    ("3eb2c704fe8a50cb", "CA", "Toronto, Ontario"),
    ("2d3f7c8aeb1b9c6e", "GB", "London, England"),
    ("25530ba03b7d90c6", "MX", "Ciudad de México, México"),
    ("206422c6e3a1d4ee", "ES", "Madrid, España"),
    ("68e019afec7d0ba5", "BR", "São Paulo, Brasil"),
)
USERS = 40
REPEAT_SHARE, PLACE_SHARE = 10, 17  # percent of messages


def _number(*parts: object) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _template(seed: int, stream_id: int, number: int) -> Template:
    roll = _number(seed, stream_id, number, "group") % 100
    for first, end, share in _GROUPS:
        if roll < share:
            return TEMPLATES[first + _number(seed, stream_id, number, "template") % (end - first)]
        roll -= share
    raise AssertionError("the shares add up to 100")


def original_of(seed: int, stream_id: int, number: int) -> int:
    """The number of the message whose post this message carries (its own, or an earlier one it repeats)."""
    if number > 0 and _number(seed, stream_id, number, "repeat") % 100 < REPEAT_SHARE:
        return number - 1 - _number(seed, stream_id, number, "back") % min(number, 50)
    return number


def sample_message(seed: int, stream_id: int, number: int, started_at: datetime) -> dict[str, Any]:
    """The message at this number of a sample stream, as X's filtered stream would send it."""
    number = original_of(seed, stream_id, number)
    template = _template(seed, stream_id, number)
    user = _number(seed, "user", _number(seed, stream_id, number, "author") % USERS) % USERS
    author_id = str(2_000_000 + user)
    tweet: dict[str, Any] = {
        "id": str(10**17 + _number(seed, stream_id, number, "id") % 10**17),
        "text": template.text,
        "author_id": author_id,
        "created_at": (started_at + timedelta(milliseconds=50 * number)).isoformat().replace("+00:00", "Z"),
        "lang": template.language,
    }
    tags = [word for word in template.text.split() if word.startswith("#")]
    if tags:
        tweet["entities"] = {
            "hashtags": [
                {"start": template.text.index(t), "end": template.text.index(t) + len(t), "tag": t[1:]}
                for t in tags
            ]
        }
    if template.retweet:
        tweet["referenced_tweets"] = [
            {"type": "retweeted", "id": str(10**17 + _number(seed, number, "original") % 10**17)}
        ]
    includes: dict[str, Any] = {
        "users": [
            {
                "id": author_id,
                "username": f"sample_listener_{user}",
                "name": f"Listener {user}",
                "location": LOCATIONS[user % len(LOCATIONS)],
                "public_metrics": {"followers_count": _number(seed, "followers", user) % 50_000},
            }
        ]
    }
    if _number(seed, stream_id, number, "place") % 100 < PLACE_SHARE:
        place_id, country, name = PLACES[_number(seed, stream_id, number, "where") % len(PLACES)]
        tweet["geo"] = {"place_id": place_id}
        includes["places"] = [{"id": place_id, "country_code": country, "full_name": name}]
    if not includes["users"][0]["location"]:
        del includes["users"][0]["location"]  # as X does when it is unset
    return {"data": tweet, "includes": includes}


def sample_feed(seed: int, stream_id: int, started_at: datetime, rate: float) -> Feed:
    """`rate` messages per second, from message 0 or after a position."""

    def feed(after: int | None, stop: Stop) -> Iterator[FeedItem | None]:
        number = 0 if after is None else after + 1
        began, emitted = time.monotonic(), 0
        while not stop.is_set():
            due = int((time.monotonic() - began) * rate) - emitted
            if due <= 0:
                yield None
                stop.wait(min(0.05, 1 / rate))
                continue
            for _ in range(min(due, 500)):
                yield FeedItem(number, orjson.dumps(sample_message(seed, stream_id, number, started_at)))
                number += 1
                emitted += 1

    return feed
