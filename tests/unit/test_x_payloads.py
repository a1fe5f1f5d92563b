"""X API v2 JSON → posts and authors, checked against the recorded pages themselves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tagpulse_collector.sources.errors import MalformedResponse
from tagpulse_collector.sources.x_payloads import parse_flat_tweet, parse_page

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x"


def lines(name: str) -> list[str]:
    return [line for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def page(name: str, number: int = 1) -> dict[str, Any]:
    return dict(json.loads(lines(name)[number - 1]))


def own_tags(tweet: dict[str, Any]) -> set[str]:
    return {h["tag"].casefold() for h in tweet.get("entities", {}).get("hashtags", [])}


def test_a_retweet_takes_the_hashtags_of_the_retweeted_post() -> None:
    raw = page("brexit.jsonl")
    parsed = parse_page(raw)
    assert len(parsed.posts) == len(raw["data"]) == 100
    # Only 59 results carry #brexit themselves: the others are retweets cut off by "…".
    assert sum("brexit" in own_tags(t) for t in raw["data"]) == 59
    assert all("brexit" in p.hashtags for p in parsed.posts)
    included = {t["id"]: t for t in raw["includes"]["tweets"]}
    for tweet, post in zip(raw["data"], parsed.posts, strict=True):
        references = tweet.get("referenced_tweets", [])
        originals = [included[r["id"]] for r in references if r["type"] == "retweeted"]
        assert set(post.hashtags) == own_tags(tweet).union(*(own_tags(o) for o in originals))
        assert post.hashtags == tuple(dict.fromkeys(post.hashtags))  # each once


def test_fields_ids_languages_and_times_come_through() -> None:
    raw = page("brexit.jsonl")
    post = parse_page(raw).posts[0]
    tweet = raw["data"][0]
    assert (post.source, post.id, post.author_id, post.text, post.language) == (
        "x",
        tweet["id"],
        tweet["author_id"],
        tweet["text"],
        tweet["lang"],
    )
    assert post.created_at.isoformat() == tweet["created_at"].replace(".000Z", "+00:00")
    assert parse_page(raw).newest_id == raw["meta"]["newest_id"]
    assert parse_page(raw).next_token == raw["meta"]["next_token"]


def test_authors_are_the_posts_authors_with_followers_and_raw_location() -> None:
    raw = page("brexit.jsonl")
    parsed = parse_page(raw)
    users = {u["id"]: u for u in raw["includes"]["users"]}
    assert {a.id for a in parsed.authors} == {t["author_id"] for t in raw["data"]}
    assert len(users) > len(parsed.authors)  # includes also holds mentioned and retweeted users
    for author in parsed.authors:
        user = users[author.id]
        assert author.followers_count == user["public_metrics"]["followers_count"]
        # The key is left out when unset: that is "", not a missing author.
        assert author.location == user.get("location", "")
        assert (author.username, author.display_name) == (user["username"], user["name"])
    assert any(a.location == "" for a in parsed.authors)


def test_a_place_gives_the_post_its_country_and_partial_errors_are_kept() -> None:
    raw = page("kpop.jsonl")
    parsed = parse_page(raw)
    placed = {p.id: p.place_country_code for p in parsed.posts if p.place_country_code}
    assert placed == {"1440716277845139456": "CO"}  # Soledad, Colombia
    assert len(parsed.errors) == len(raw["errors"]) == 1
    assert "User has been suspended" in parsed.errors[0]


def test_stream_messages_with_numeric_rule_ids_parse_and_a_truncated_line_does_not() -> None:
    messages = lines("streaming_output_with_error.jsonl")
    countries = []
    for line in messages[:7]:
        message = json.loads(line)
        assert isinstance(message["matching_rules"][0]["id"], int)  # the 2021 form
        parsed = parse_page(message)
        assert len(parsed.posts) == 1
        countries.append(parsed.posts[0].place_country_code)
    assert countries == ["MW", "GB", "US", "GB", "US", "US", "US"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(messages[7])


def test_flattened_tweets_carry_their_author_and_retweeted_post_inline() -> None:
    flat = [json.loads(line) for line in lines("flat.jsonl")]
    retweet = next(t for t in flat if any(r["type"] == "retweeted" for r in t.get("referenced_tweets", [])))
    post, author = parse_flat_tweet(retweet)
    original = next(r for r in retweet["referenced_tweets"] if r["type"] == "retweeted")
    assert set(post.hashtags) == own_tags(retweet) | own_tags(original)
    assert author is not None
    assert (author.id, author.followers_count) == (
        retweet["author"]["id"],
        retweet["author"]["public_metrics"]["followers_count"],
    )
    # The same search, unflattened: the same posts.
    unflattened = parse_page(page("noflat.jsonl"))
    assert [parse_flat_tweet(t)[0] for t in flat] == unflattened.posts


def test_an_empty_result_has_no_data_key() -> None:
    parsed = parse_page({"meta": {"result_count": 0}})
    assert (parsed.posts, parsed.authors, parsed.next_token, parsed.newest_id) == ([], [], None, None)


def test_ids_may_be_numbers_and_broken_tweets_are_skipped_not_fatal() -> None:
    parsed = parse_page(
        {
            "data": [
                {
                    "id": 1440716895355764743,
                    "author_id": 42,
                    "text": "#Brexit",
                    "created_at": "2021-09-22T16:38:09.000Z",
                },
                {"id": "2", "text": "no author"},
                {"id": "3", "author_id": "42", "text": "no time"},
            ],
            "includes": {"users": [{"id": 42, "username": "n", "name": "N"}]},
        }
    )
    assert [(p.id, p.author_id, p.language, p.hashtags) for p in parsed.posts] == [
        ("1440716895355764743", "42", "und", ())
    ]
    assert [(a.id, a.followers_count, a.location) for a in parsed.authors] == [("42", 0, "")]
    assert len(parsed.errors) == 2
    assert parsed.newest_id == "1440716895355764743"


@pytest.mark.parametrize("payload", [[], "text", {"data": "oops"}, {"data": 5}])
def test_a_body_of_the_wrong_shape_is_malformed(payload: object) -> None:
    with pytest.raises(MalformedResponse):
        parse_page(payload)
