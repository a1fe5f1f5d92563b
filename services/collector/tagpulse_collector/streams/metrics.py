"""Metrics of keyword streams. `source` is x, mastodon, bluesky or sample, so label values
stay bounded."""

from prometheus_client import Counter, Gauge

MESSAGES_RECEIVED = Counter(
    "tagpulse_stream_messages_received_total",
    "Messages stream readers read from a source (keep-alives excluded).",
    ("source",),
)
MESSAGES_MATCHED = Counter(
    "tagpulse_stream_messages_matched_total",
    "Messages that matched a rule of at least one stream, and were buffered.",
    ("source",),
)
MESSAGES_WRITTEN = Counter(
    "tagpulse_stream_messages_written_total",
    "Buffered messages the writers stored and acknowledged (each counted once, redeliveries excluded).",
    ("source",),
)
POSTS_UNIQUE = Counter(
    "tagpulse_stream_posts_unique_total", "Posts a stream delivered for the first time.", ("source",)
)
POSTS_DUPLICATE = Counter(
    "tagpulse_stream_posts_duplicate_total",
    "Matched messages whose post the stream had delivered before.",
    ("source",),
)
DEAD_LETTERED = Counter(
    "tagpulse_stream_messages_dead_lettered_total",
    "Messages moved to a dead-letter buffer after failing to be written too many times.",
    ("source",),
)
RECONNECTS = Counter(
    "tagpulse_stream_reconnects_total",
    "Reconnections of a stream reader, by cause (network, stall, http_error, rate_limited, "
    "operational_disconnect, ended).",
    ("source", "cause"),
)
BUFFERED = Gauge(
    "tagpulse_stream_buffer_messages",
    "Messages in the stream buffers: waiting (not delivered to a writer) or pending (delivered, "
    "not acknowledged). Each collector reports the same figure: aggregate with max, not sum.",
    ("source", "state"),
)
READERS = Gauge(
    "tagpulse_stream_readers",
    "Source connections (stream readers) this collector holds.",
    ("source",),
)
