"""Random and hostile query strings for the read routes (bench/load_bench.py's memory phase).

Half the requests are plausible: valid, but each with a value never asked before (a new hashtag,
limit, time zone), so each is a new cache key. The other half are hostile: each takes one to six
parameters, known by either spelling (`timeZone`, `time_zone`) or
made up, with values drawn from kinds that have hurt services before: fresh valid values (every
one a new cache key), long strings, percent-encoded bytes (NUL, invalid UTF-8, CRLF), numbers at
and past int32, negative sizes, forged page tokens, real and unknown time zones, timestamps
valid and not, and repeated parameters. Seeded: the same list every run.
"""

from __future__ import annotations

import base64
import random
import string
import zoneinfo
from collections.abc import Callable, Sequence
from urllib.parse import quote

KNOWN = (
    "hashtag", "limit", "mode", "timeZone", "time_zone", "startTime", "start_time", "endTime",
    "end_time", "language", "authorId", "author_id", "countryCode", "country_code", "pageSize",
    "page_size", "pageToken", "page_token", "orderBy", "order_by",
)  # fmt: skip


def _word(rng: random.Random, low: int = 1, high: int = 24) -> str:
    return "".join(rng.choices(string.ascii_lowercase + string.digits + "_", k=rng.randint(low, high)))


def _values(rng: random.Random, zones: Sequence[str]) -> list[Callable[[], str]]:
    return [
        lambda: _word(rng),  # a new hashtag, language or author: a new cache key each time
        lambda: "%23" + _word(rng),
        lambda: quote(rng.choice(["Ciudad de México", "日本語", "Ελλάδα", "🙂" * 8, "ß" * 3])),
        lambda: rng.choice(["A", "B", "Z"]) * rng.randint(200, 4000),
        lambda: "".join(f"%{rng.randrange(256):02X}" for _ in range(rng.randint(1, 64))),
        lambda: rng.choice(["%00", "%0D%0A", "%E2%80%AE", "%C0%AF", "%FF%FE", "..%2F..%2F"]) + _word(rng),
        lambda: str(rng.choice([0, -1, 1, 5, 1000, 1001, 2**31 - 1, 2**31, 2**63, -(2**31) - 1])),
        lambda: str(rng.randint(-(10**30), 10**30)),
        lambda: rng.choice(["1e9", "NaN", "Infinity", "0x10", "1.5", "", "true", "null"]),
        lambda: rng.choice(zones),
        lambda: rng.choice(
            ["Mars/Olympus", "UTC+25", "../../etc/passwd", "America/New_York%00", "Etc/GMT+14"]
        ),
        lambda: rng.choice(["TIMELINE", "HOUR_OF_DAY", "MODE_UNSPECIFIED", "3", "-1", "timeline", "ALL"]),
        lambda: base64.urlsafe_b64encode(rng.randbytes(rng.randint(0, 200))).decode().rstrip("="),
        lambda: quote(base64.b64encode(b'{"cursor": [' + _word(rng).encode() + b"]}").decode()),
        lambda: rng.choice(["2026-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]),
        lambda: rng.choice(["2026-13-45T99:00:00Z", "yesterday", "0001-01-01T00:00:00Z", "-1"]),
        lambda: rng.choice(["followers_count desc", "id", "'; DROP TABLE posts; --", "posts"]),
    ]


def _plausible(rng: random.Random, route: str, zones: Sequence[str]) -> str:
    """A request that passes validation, with a value never seen before: a new cache key."""
    hashtag = f"hashtag={_word(rng, 3, 20)}"
    if route == "/v1/posts:countByHour":
        mode = rng.choice(["TIMELINE", "HOUR_OF_DAY"])
        return f"{route}?mode={mode}&timeZone={quote(rng.choice(zones))}&{hashtag}"
    if route == "/v1/users:top":
        return f"{route}?limit={rng.randint(1, 100)}&{hashtag}"
    if route == "/v1/posts":
        return f"{route}?{hashtag}&language={_word(rng, 2, 2)}&pageSize={rng.randint(1, 100)}"
    if route in ("/v1/users", "/v1/hashtags"):
        return f"{route}?pageSize={rng.randint(1, 1000)}"
    return f"{route}?{hashtag}"


def fuzzed_targets(count: int, routes: Sequence[str], seed: int = 2026) -> list[str]:
    """`count` request targets (path and query string) over `routes`: half of them plausible
    (valid, each with a new value), half hostile."""
    rng = random.Random(seed)
    zones = sorted(zoneinfo.available_timezones())
    values = _values(rng, zones)
    targets = []
    for _ in range(count):
        route = rng.choice(routes).split("?", 1)[0]
        if rng.random() < 0.5:
            targets.append(_plausible(rng, route, zones))
            continue
        params = []
        for _ in range(rng.randint(1, 6)):
            name = rng.choice(KNOWN) if rng.random() < 0.85 else _word(rng, 1, 12)
            params.append(f"{name}={rng.choice(values)()}")
        if rng.random() < 0.05:
            params *= rng.randint(2, 20)  # the same parameters again and again
        targets.append(f"{route}?{'&'.join(params)}")
    return targets
