"""Importing twarc2 archives: exact figures from the files themselves, idempotent, streaming."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tagpulse.db.engine import create_database_engine
from tagpulse.db.models import Post, PostHashtag, User
from tagpulse_collector.archive.importer import import_archives
from tests.integration.test_ingest import assert_rollups_match_a_recount
from tests.support.fake_x import FIXTURES

ARCHIVES = [
    "brexit.jsonl",
    "kpop.jsonl",
    "blacklivesmatter.jsonl",
    "hashtags_tweets1.jsonl",
    "noflat.jsonl",
    "flat.jsonl",  # the same 100 tweets as noflat.jsonl, flattened: all duplicates
    "streaming_output_with_error.jsonl",  # 7 stream messages and a truncated line
    "geo_tweets.jsonl",
    "two_tweets.jsonl",
]


def tags_of(tweet: dict[str, Any]) -> set[str]:
    return {h["tag"].casefold() for h in tweet.get("entities", {}).get("hashtags", [])}


def expected() -> dict[str, Any]:
    """Figures read straight from the files: every tweet line or data item, once per sight."""
    fetched, bad_lines, api_errors = 0, 0, 0
    tags: dict[str, set[str]] = {}
    authors: set[str] = set()
    for name in ARCHIVES:
        for line in (FIXTURES / name).read_text().splitlines():
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                bad_lines += 1
                continue
            if "data" in obj:
                data = obj["data"] if isinstance(obj["data"], list) else [obj["data"]]
                included = {t["id"]: t for t in obj.get("includes", {}).get("tweets", [])}
                api_errors += len(obj.get("errors", []))
            else:  # a flattened tweet: the retweeted one is inline
                data = [obj]
                included = {r["id"]: r for r in obj.get("referenced_tweets", []) if "entities" in r}
            for tweet in data:
                fetched += 1
                found = tags_of(tweet)
                for reference in tweet.get("referenced_tweets", []):
                    if reference["type"] == "retweeted" and reference["id"] in included:
                        found |= tags_of(included[reference["id"]])
                tags[tweet["id"]] = found
                authors.add(tweet["author_id"])
    return {
        "fetched": fetched,
        "posts": set(tags),
        "links": {(post, tag) for post, found in tags.items() for tag in found},
        "authors": authors,
        "bad_lines": bad_lines,
        "api_errors": api_errors,
    }


def stored(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        return {
            "posts": set(connection.execute(select(Post.id)).scalars()),
            "links": {(r.post_id, r.hashtag) for r in connection.execute(select(PostHashtag.table()))},
            "users": set(connection.execute(select(User.id)).scalars()),
            "sources": set(connection.execute(select(Post.source).distinct()).scalars()),
        }


def test_an_archive_is_imported_exactly_once(engine: Engine) -> None:
    want = expected()
    paths = [FIXTURES / name for name in ARCHIVES]
    report = import_archives(engine, paths, batch_posts=250)
    assert (report.files, report.fetched, report.new) == (len(ARCHIVES), want["fetched"], len(want["posts"]))
    assert report.duplicate == want["fetched"] - len(want["posts"]) >= 100  # flat.jsonl at least
    assert (report.problems.count, report.api_errors) == (want["bad_lines"], want["api_errors"]) == (1, 6)
    [problem] = report.problems.examples
    assert problem.startswith("streaming_output_with_error.jsonl:8: not JSON (unexpected end of data")
    got = stored(engine)
    assert got["posts"] == want["posts"]
    assert got["links"] == want["links"]
    assert want["authors"] <= got["users"]
    assert got["sources"] == {"x"}  # an archive's tweets are X posts: live collection dedupes against them
    assert_rollups_match_a_recount(engine)

    again = import_archives(engine, paths)
    assert (again.fetched, again.new, again.duplicate) == (want["fetched"], 0, want["fetched"])
    assert stored(engine) == got


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_parallel_writers_store_the_same(engine: Engine) -> None:
    want = expected()
    report = import_archives(engine, [FIXTURES / name for name in ARCHIVES], batch_posts=100, writers=3)
    assert (report.fetched, report.new) == (want["fetched"], len(want["posts"]))
    assert stored(engine)["links"] == want["links"]
    assert_rollups_match_a_recount(engine)


def test_gzipped_archives_read_the_same(engine: Engine, tmp_path: Path) -> None:
    packed = tmp_path / "blacklivesmatter.jsonl.gz"
    with (FIXTURES / "blacklivesmatter.jsonl").open("rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)
    seen: list[int] = []
    plain = import_archives(engine, [FIXTURES / "blacklivesmatter.jsonl"])
    zipped = import_archives(engine, [packed], on_bytes=seen.append)
    assert (zipped.fetched, zipped.new, zipped.pages) == (plain.fetched, 0, plain.pages) == (500, 0, 5)
    assert sum(seen) == packed.stat().st_size  # progress counts the bytes of the file on disk


def test_the_import_command_prints_its_figures(sqlite_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "TAGPULSE_DATABASE_URL": sqlite_url}
    command = [
        sys.executable,
        "-m",
        "tagpulse_collector",
        "import",
        "--no-progress",
        "--no-invalidate",
        "--json",
    ]
    files = [str(FIXTURES / "brexit.jsonl"), str(FIXTURES / "kpop.jsonl")]
    first = subprocess.run([*command, *files], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    figures = json.loads(first.stdout.splitlines()[-1])
    assert (figures["posts_fetched"], figures["posts_new"], figures["posts_duplicate"]) == (200, 200, 0)
    second = subprocess.run([*command, files[0]], env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(second.stdout.splitlines()[-1])["posts_new"] == 0

    pretty = subprocess.run(
        [sys.executable, "-m", "tagpulse_collector", "import", "--no-invalidate", files[1]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pretty.returncode == 0
    assert "posts duplicate" in pretty.stderr
    missing = subprocess.run(
        [*command, str(tmp_path / "nope.jsonl")], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    engine = create_database_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Post.table())).scalar() == 200
    engine.dispose()
