"""`python -m tests.support.dying_collector N`: a collector that kills itself (SIGKILL) after its
stream writer's N-th commit, before it acknowledges the batch, to prove that a redelivered batch
is not counted twice. Settings come from the environment, as for `tagpulse_collector serve`."""

from __future__ import annotations

import logging
import os
import signal
import sys

from tagpulse_collector.server import serve


def main(limit: int) -> None:
    commits = 0

    def after_commit() -> None:
        nonlocal commits
        commits += 1
        if commits >= limit:
            logging.getLogger("tagpulse.streams").warning(
                "killing the collector between a commit and its acknowledgement (a test asked)"
            )
            os.kill(os.getpid(), signal.SIGKILL)

    serve(after_commit)


if __name__ == "__main__":
    main(int(sys.argv[1]))
