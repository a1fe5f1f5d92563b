"""What a sample stream must report, counted here from the generator's messages with labels
written by hand: which template texts the seed rule matches, and where each profile is."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tagpulse_collector.streams.sample_feed import sample_message

ANY_START = datetime(2026, 1, 1, tzinfo=UTC)
SEED_RULE = '"justin bieber" (music OR #music)'
# Every text the generator writes, and whether the seed rule matches it (and why not).
SEED_RULE_MATCHES = {
    "Justin Bieber just dropped new music and it slaps": True,
    "Listening to Justin Bieber all day #music": True,
    "JUSTIN BIEBER live tonight, the best MUSIC of the year": True,
    "Justin Bieber's music video is out now 🎶": True,
    "Concierto de Justin Bieber: su música y su #Music en vivo": True,  # by #Music
    "RT @bieberfan: Justin Bieber music marathon this weekend": True,
    "ＪＵＳＴＩＮ ＢＩＥＢＥＲ music all night": True,  # fullwidth letters
    "Justin Bieber spotted in Toronto today": False,
    "Justin Bieber y su nueva canción: música para el verano": False,  # música is not music
    "Justin Bieber interview: musical influences and more": False,  # musical is not music
    "justin bieber #musicvideo premiere": False,  # #musicvideo is not #music
    "New music Friday: what are you listening to? #music": False,
    "Justin Timberlake and Bieber fans agree: great music": False,  # not "justin bieber"
    "#JustinBieber #Music trending": False,  # one word, not the phrase
    "Shipping faster with better pipelines #devops": False,
    "Our on-call got quieter after this #sre": False,
    "Lessons learned from last night's incident": False,
    "障害対応の振り返りを書きました": False,
    "Retour d'expérience sur notre migration #devops": False,
    "Nuevo artículo sobre despliegues continuos": False,
}
LOCATION_COUNTRIES = {
    "Toronto, Ontario": "CA",
    "Stratford, Canada": "CA",
    "London, UK": "GB",
    "Madrid, España": "ES",
    "Ciudad de México": "MX",
    "São Paulo, Brasil": "BR",
    "Los Angeles, CA": "US",
    "Paris, France": "FR",
    "Tokyo 🇯🇵": "JP",
}


@dataclass(frozen=True)
class Expected:
    received: int
    matched: int
    unique: int
    duplicate: int
    languages: Counter[str]
    countries: Counter[str]


def country_of(message: dict[str, Any]) -> str:
    places = message["includes"].get("places")
    if places:
        return str(places[0]["country_code"])
    return LOCATION_COUNTRIES.get(message["includes"]["users"][0].get("location", ""), "unknown")


def expected(seed: int, stream_id: int, received: int) -> Expected:
    """The figures of the seed rule over the first `received` messages of a sample stream (the
    stream's start time only moves the posts' times, so any will do here)."""
    sent = [sample_message(seed, stream_id, k, ANY_START) for k in range(received)]
    matched = [m for m in sent if SEED_RULE_MATCHES[m["data"]["text"]]]
    first: dict[str, dict[str, Any]] = {}
    for message in matched:
        first.setdefault(message["data"]["id"], message)
    return Expected(
        received=received,
        matched=len(matched),
        unique=len(first),
        duplicate=len(matched) - len(first),
        languages=Counter(m["data"]["lang"] for m in first.values()),
        countries=Counter(country_of(m) for m in first.values()),
    )
