"""Cold top users right after an import: each hashtag's first answer, computed from the rollups.

    python bench/cold_reads.py   (TAGPULSE_DATABASE_URL: the database an import just filled)

The query service's own domain function, once per hashtag and once for
all of them, with nothing cached: what the first reader after the import waits for, less
gRPC and Envoy. Before an import analyzed what it wrote, the planner guessed here (PostgreSQL
with autovacuum off, or before it ran). Prints one JSON object: milliseconds per hashtag.
"""

from __future__ import annotations

import json
import os
import sys
import time

from tagpulse.db.engine import create_database_engine
from tagpulse.settings import DEFAULT_HASHTAGS
from tagpulse_query.summaries import top_users
from tagpulse_query.validation import TopUsersQuery


def main() -> int:
    engine = create_database_engine(os.environ["TAGPULSE_DATABASE_URL"])
    milliseconds: dict[str, float] = {}
    # The archive's searches are for the default hashtags.
    for hashtag in [None, *DEFAULT_HASHTAGS]:
        with engine.connect() as connection:
            started = time.perf_counter()
            top_users(connection, TopUsersQuery(limit=5, hashtag=hashtag))
            milliseconds[hashtag or "(all)"] = round((time.perf_counter() - started) * 1000, 2)
    engine.dispose()
    print(json.dumps({"top_users_ms": milliseconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
