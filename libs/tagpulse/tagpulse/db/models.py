"""The schema. Changes go through a migration in `tagpulse/migrations/versions/`.

Posts and users are keyed by (source, id) so ids from different platforms never collide.
The `*_counts` tables are rollups: ingestion updates them in the same transaction as the
posts they count, and only for posts that were new, so reads never scan all posts.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tagpulse.db.types import UTCDateTime

SOURCE = String(16)
# A platform's id of a post or user: X and Mastodon ids are numbers, a Bluesky post's is its
# at:// URI (its author's DID, which for did:web holds a host name, then the record key).
PLATFORM_ID = String(300)
HASHTAG = String(100)
LANGUAGE = String(16)
COUNTRY = String(8)
USERNAME = String(100)
DISPLAY_NAME = String(200)
STREAM_COUNT_KEY = String(512)
# The largest values the integer column types hold (PostgreSQL's integer and bigint): the ids
# of runs and streams are Integer, counts are BigInteger. A request naming a larger id is
# refused before it reaches the database, which would fail it as out of range.
MAX_INTEGER = 2**31 - 1
MAX_BIGINT = 2**63 - 1
UNKNOWN_COUNTRY = "unknown"
UNKNOWN_LANGUAGE = "und"

# Rollup buckets are 15 minutes wide: every UTC offset in use is a multiple of 15 minutes,
# so hours in any time zone (India +5:30, Nepal +5:45) are exact sums of buckets.
BUCKET_SECONDS = 15 * 60


def width(column_type: String) -> int:
    """The most characters a column of this type holds: code that checks or trims values
    before they are stored asks here instead of repeating the number."""
    if column_type.length is None:
        raise ValueError(f"{column_type!r} has no length")
    return column_type.length


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    @classmethod
    def table(cls) -> Table:
        """The Core table, for the bulk INSERT … ON CONFLICT statements ingestion needs."""
        return cast(Table, cls.__table__)


class User(Base):
    __tablename__ = "users"

    source: Mapped[str] = mapped_column(SOURCE, primary_key=True)
    id: Mapped[str] = mapped_column(PLATFORM_ID, primary_key=True)
    username: Mapped[str] = mapped_column(USERNAME, default="")
    display_name: Mapped[str] = mapped_column(DISPLAY_NAME, default="")
    followers_count: Mapped[int] = mapped_column(BigInteger, default=0)
    location: Mapped[str] = mapped_column(Text, default="")
    country_code: Mapped[str] = mapped_column(COUNTRY, default=UNKNOWN_COUNTRY)
    post_count: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # Top users: the first rows of this index, no sort.
        Index("ix_users_followers", followers_count.desc(), "source", "id"),
        # Room on each page for the new version of a row: an author's post count changes with
        # every batch they post in, and such an update then leaves the indexes alone (HOT).
        {"postgresql_with": {"fillfactor": 80}},
    )


class Post(Base):
    __tablename__ = "posts"

    source: Mapped[str] = mapped_column(SOURCE, primary_key=True)
    id: Mapped[str] = mapped_column(PLATFORM_ID, primary_key=True)
    author_id: Mapped[str] = mapped_column(PLATFORM_ID)
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(LANGUAGE, default=UNKNOWN_LANGUAGE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # From the post's place when the platform gives one, else from the author's profile.
    country_code: Mapped[str] = mapped_column(COUNTRY, default=UNKNOWN_COUNTRY)
    place_country_code: Mapped[str | None] = mapped_column(COUNTRY, nullable=True)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # No foreign key to users: ingestion writes a post's author in the same transaction, and the
    # check cost a row lock on the author per post (migration 0008).
    __table_args__ = (
        Index("ix_posts_created", created_at.desc(), "source", "id"),
        # ListPosts filtered by one of these: the page is the first rows of the index after
        # the page token, in the list's order (newest first, then source and id).
        Index("ix_posts_language_created", "language", created_at.desc(), "source", "id"),
        Index("ix_posts_country_created", "country_code", created_at.desc(), "source", "id"),
        Index("ix_posts_author_id_created", "author_id", created_at.desc(), "source", "id"),
    )


class PostHashtag(Base):
    __tablename__ = "post_hashtags"

    source: Mapped[str] = mapped_column(SOURCE, primary_key=True)
    post_id: Mapped[str] = mapped_column(PLATFORM_ID, primary_key=True)
    hashtag: Mapped[str] = mapped_column(HASHTAG, primary_key=True)
    # Copied from the post so a hashtag's posts are listed newest first from the index.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # No foreign key to posts: a link is written only by the transaction that created its post.
    __table_args__ = (
        Index("ix_post_hashtags_hashtag_created", "hashtag", created_at.desc(), "source", "post_id"),
    )


class Hashtag(Base):
    __tablename__ = "hashtags"

    name: Mapped[str] = mapped_column(HASHTAG, primary_key=True)
    tracked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Distinct stored posts carrying the hashtag (a rollup).
    post_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CollectionRun(Base):
    __tablename__ = "collection_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(SOURCE)
    hashtags: Mapped[list[str]] = mapped_column(JSON)
    max_posts_per_hashtag: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    posts_fetched: Mapped[int] = mapped_column(BigInteger, default=0)
    posts_new: Mapped[int] = mapped_column(BigInteger, default=0)
    error_message: Mapped[str] = mapped_column(Text, default="")
    # Times the run was picked up again after its collector stopped in the middle of it.
    resume_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The most the run may spend, in millionths of a US dollar; None: only the daily budget.
    max_cost_micros: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_collection_runs_started", started_at.desc()),)


class CollectionRunHashtag(Base):
    """Progress and figures of one hashtag within a run; the resume point of a killed run."""

    __tablename__ = "collection_run_hashtags"

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hashtag: Mapped[str] = mapped_column(HASHTAG, primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    posts_fetched: Mapped[int] = mapped_column(BigInteger, default=0)
    posts_new: Mapped[int] = mapped_column(BigInteger, default=0)
    # The source's cursor for the next page (X `next_token`), saved with every stored page.
    next_page_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_message: Mapped[str] = mapped_column(Text, default="")
    api_requests: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Failed attempts that retries recovered, partial errors in responses, the final error.
    error_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    pages: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Only posts newer than this were asked for (incremental runs); kept so a resumed run
    # repeats the exact query its next_page_token belongs to.
    since_id: Mapped[str | None] = mapped_column(PLATFORM_ID, nullable=True)
    # The newest post id the source reported: the next run's since_id once this one succeeded.
    newest_id: Mapped[str | None] = mapped_column(PLATFORM_ID, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # After the stretch at next_page_token/since_id (a position a budget stop left), search again
    # for posts newer than this: the ones that arrived after the stopped run began.
    catch_up_since_id: Mapped[str | None] = mapped_column(PLATFORM_ID, nullable=True)
    # What the platform bills for this hashtag (see `daily_spend`), written with each page.
    posts_billed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    users_billed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    counts_requests: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The most the page being read can cost: held against the budgets until the page is stored,
    # so two runs cannot both take the last of a budget.
    reserved_micros: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        ForeignKeyConstraint(["run_id"], ["collection_runs.id"], ondelete="CASCADE"),
        # The since_id lookup: this hashtag's latest rows.
        Index("ix_collection_run_hashtags_hashtag", "hashtag", run_id.desc()),
    )


class DailySpend(Base):
    """What tagpulse read from a paying platform in one UTC day (the window in which X bills a
    resource once), written in the same transaction as what was read. Money in millionths of a
    US dollar, so sums are exact."""

    __tablename__ = "daily_spend"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(SOURCE, primary_key=True)
    posts_billed: Mapped[int] = mapped_column(BigInteger, default=0)
    users_billed: Mapped[int] = mapped_column(BigInteger, default=0)
    counts_requests: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)


class Stream(Base):
    """A keyword stream and its figures; the writer updates them in the same transaction as the
    posts they count (see `stream_posts`), so they stay exact when a message is redelivered."""

    __tablename__ = "streams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(SOURCE)
    rules: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    # RUNNING, STOPPING (stopped; its buffer is still being written), STOPPED or FAILED.
    state: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    posts_received: Mapped[int] = mapped_column(BigInteger, default=0)
    posts_matched: Mapped[int] = mapped_column(BigInteger, default=0)
    posts_duplicate: Mapped[int] = mapped_column(BigInteger, default=0)
    posts_unique: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # Posts new to the database (not only to this stream).
    posts_new: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    messages_dead_lettered: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Posts tagpulse had stored that the platform said were deleted while the stream ran
    # (Bluesky's `delete` commits). Only counted: deleting them is the retention path's work.
    posts_deleted: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The reader's position in the source (the sample's message number, Mastodon's status id,
    # Jetstream's time_us)
    # of the furthest message written: where a new reader resumes when the buffer is gone.
    position: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Set once no reader will add to the buffer again (after the stop or the failure).
    reader_stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set once the buffer is written out after that: the figures are final.
    drained_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Every buffer entry below this Redis Stream id (milliseconds, sequence) is settled (written
    # or dead-lettered) and forgotten from `stream_entries`: a writer still holding a copy of
    # one (it was claimed from it) must not count it again.
    settled_below_ms: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    settled_below_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class StreamPost(Base):
    """The posts a stream delivered, once each: the per-stream dedupe behind posts_unique."""

    __tablename__ = "stream_posts"

    stream_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(SOURCE, primary_key=True)
    post_id: Mapped[str] = mapped_column(PLATFORM_ID, primary_key=True)
    # Copied from the stored post when the stream first delivered it.
    language: Mapped[str] = mapped_column(LANGUAGE)
    country_code: Mapped[str] = mapped_column(COUNTRY)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        ForeignKeyConstraint(["stream_id"], ["streams.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["source", "post_id"], ["posts.source", "posts.id"]),
    )


class StreamCount(Base):
    """Distinct posts of a stream per rule, language or country (a rollup of `stream_posts`)."""

    __tablename__ = "stream_counts"

    stream_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "rule", "language" or "country".
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(STREAM_COUNT_KEY, primary_key=True)
    post_count: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (ForeignKeyConstraint(["stream_id"], ["streams.id"], ondelete="CASCADE"),)


class StreamEntry(Base):
    """Buffer messages already settled (written or dead-lettered), by their Redis Stream id
    (milliseconds, sequence): a message delivered again is acknowledged without being counted
    twice. Pruned once acknowledged, below the stream's `settled_below_*`."""

    __tablename__ = "stream_entries"

    stream_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)

    __table_args__ = (ForeignKeyConstraint(["stream_id"], ["streams.id"], ondelete="CASCADE"),)


class StreamDeadLetter(Base):
    """Messages that failed to be written too many times, with the error; counted once each."""

    __tablename__ = "stream_dead_letters"

    stream_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    # The message as read (cut at 64 KiB), for whoever looks into it.
    body: Mapped[str] = mapped_column(Text)
    dead_lettered_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        ForeignKeyConstraint(["stream_id"], ["streams.id"], ondelete="CASCADE"),
        Index("ix_stream_dead_letters_stream_time", "stream_id", dead_lettered_at.desc()),
    )


# --- rollups -------------------------------------------------------------------------


class PostCountByBucket(Base):
    """Distinct posts per 15-minute UTC bucket, whatever their hashtags."""

    __tablename__ = "post_counts_by_bucket"

    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    post_count: Mapped[int] = mapped_column(BigInteger)


class HashtagPostCountByBucket(Base):
    """Posts per (hashtag, 15-minute UTC bucket)."""

    __tablename__ = "hashtag_post_counts_by_bucket"

    hashtag: Mapped[str] = mapped_column(HASHTAG, primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    post_count: Mapped[int] = mapped_column(BigInteger)


class HashtagLanguageCountryCount(Base):
    """Posts per (hashtag, language, country)."""

    __tablename__ = "hashtag_language_country_counts"

    hashtag: Mapped[str] = mapped_column(HASHTAG, primary_key=True)
    language: Mapped[str] = mapped_column(LANGUAGE, primary_key=True)
    country_code: Mapped[str] = mapped_column(COUNTRY, primary_key=True)
    post_count: Mapped[int] = mapped_column(BigInteger)


class UserHashtagCount(Base):
    """Posts per (hashtag, author): who posted with a hashtag, for top users by hashtag."""

    __tablename__ = "user_hashtag_counts"

    hashtag: Mapped[str] = mapped_column(HASHTAG, primary_key=True)
    source: Mapped[str] = mapped_column(SOURCE, primary_key=True)
    user_id: Mapped[str] = mapped_column(PLATFORM_ID, primary_key=True)
    post_count: Mapped[int] = mapped_column(BigInteger)


class SourceCount(Base):
    """Posts fetched (with duplicates) and stored (distinct) per source."""

    __tablename__ = "source_counts"

    source: Mapped[str] = mapped_column(SOURCE, primary_key=True)
    posts_fetched: Mapped[int] = mapped_column(BigInteger, default=0)
    posts_stored: Mapped[int] = mapped_column(BigInteger, default=0)


# --- X's counts ----------------------------------------------------------------------


class XPostCountFetch(Base):
    """When X's hourly counts of a hashtag were last fetched (`x_hourly_post_counts` holds them),
    and the search query they count. Written by the collector, read by the coverage route."""

    __tablename__ = "x_post_count_fetches"

    hashtag: Mapped[str] = mapped_column(HASHTAG, primary_key=True)
    # "#devops -is:retweet": the query of the collector's search, so the counts are of the posts
    # a collection can store.
    query: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class XHourlyPostCount(Base):
    """X's count of the posts matching a hashtag's search in one of its buckets: UTC hours over the
    7 days before the last fetch, the first and last cut at the instant of the fetch. A fetch
    replaces the hashtag's buckets."""

    __tablename__ = "x_hourly_post_counts"

    hashtag: Mapped[str] = mapped_column(HASHTAG, primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    bucket_end: Mapped[datetime] = mapped_column(UTCDateTime)
    post_count: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        ForeignKeyConstraint(["hashtag"], ["x_post_count_fetches.hashtag"], ondelete="CASCADE"),
    )


# --- Upstream checks ------------------------------------------------------------------


class MastodonStatusCheck(Base):
    """When a stored Mastodon status was last looked up on its instance and found still there
    (`tagpulse_collector.deletion.mastodon_rechecks`; a status found gone is deleted, and so is
    its row here). A table of its own rather than a column on `posts`: only Mastodon posts have
    it, it changes on every re-check pass while a post never changes once stored, and the posts
    table stays as narrow as ingestion's bulk writes want it. Rows of posts deleted by other
    paths are removed by the next pass that meets them."""

    __tablename__ = "mastodon_status_checks"

    post_id: Mapped[str] = mapped_column(PLATFORM_ID, primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # The next pass's statuses: the least recently checked first.
    __table_args__ = (Index("ix_mastodon_status_checks_checked_at", "checked_at", "post_id"),)


class XComplianceJob(Base):
    """One X batch compliance job (`tagpulse_collector.deletion.x_compliance`): the ids it covers
    (a range of the stored X post ids, or of their authors' ids, in the database's order) and how
    far it got, so a collector that restarts goes on with the job instead of starting another (X
    allows one job of a type at a time). The pre-signed upload and download URLs are credentials
    for X's storage: they are kept here, never logged or answered."""

    __tablename__ = "x_compliance_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # "tweets" or "users", as X names the job types.
    job_type: Mapped[str] = mapped_column(String(16))
    # creating, uploading, waiting, applying, done, failed, expired (docs/deletion.md).
    state: Mapped[str] = mapped_column(String(16))
    # X's id for the job; None until X created it.
    x_job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # When the pass of jobs this one belongs to began (a pass covers every stored id once).
    pass_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The ids covered: after `after_id` (exclusive; "" from the first), up to `last_id` (inclusive,
    # set when the ids were chosen).
    after_id: Mapped[str] = mapped_column(PLATFORM_ID, default="")
    last_id: Mapped[str | None] = mapped_column(PLATFORM_ID, nullable=True)
    ids_uploaded: Mapped[int] = mapped_column(Integer, default=0)
    # 1 for the first job of a range, 2 for the job that retries it after a failure or expiry, …
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    upload_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    download_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    results: Mapped[int] = mapped_column(Integer, default=0)
    posts_deleted: Mapped[int] = mapped_column(Integer, default=0)
    posts_geo_scrubbed: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_x_compliance_jobs_type_id", "job_type", "id"),)
