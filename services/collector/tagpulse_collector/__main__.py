"""python -m tagpulse_collector [serve | trigger … | retention | mastodon-recheck | compliance |
import FILE…]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tagpulse.settings import load_settings
from tagpulse_collector.settings import CollectorSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tagpulse_collector")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the gRPC collector service (default)")
    trigger = commands.add_parser(
        "trigger", help="start a collection on a running collector and wait for its figures"
    )
    trigger.add_argument(
        "--hashtag", action="append", default=[], help="repeatable; default: the tracked ones"
    )
    trigger.add_argument("--max-posts-per-hashtag", type=int, default=0)
    trigger.add_argument(
        "--source", default="", help="x, mastodon, bluesky or sample; default: the collector's"
    )
    trigger.add_argument(
        "--max-cost-usd",
        type=float,
        default=0.0,
        help="the most the run may spend on X, in US dollars; default: only the daily budget",
    )
    trigger.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the run")
    trigger.add_argument("--wait-ready", type=float, default=0, help="seconds to wait for the collector")
    trigger.add_argument("--poll-interval", type=float, default=2.0, help="seconds between progress checks")
    commands.add_parser(
        "retention", help="delete the posts past their retention (TAGPULSE_RETENTION_DAYS) once, and exit"
    )
    recheck = commands.add_parser(
        "mastodon-recheck",
        help="look stored Mastodon statuses up again once, delete those found deleted, and exit",
    )
    recheck.add_argument(
        "--limit",
        type=int,
        default=None,
        help="most requests to spend; default: one pass's share of TAGPULSE_MASTODON_RECHECKS_PER_HOUR",
    )
    compliance = commands.add_parser(
        "compliance",
        help="run a pass of X batch compliance jobs now, delete what X reports must go, and exit",
    )
    compliance.add_argument(
        "--timeout", type=float, default=6 * 3600, help="seconds to wait for X to process the jobs"
    )
    archive = commands.add_parser(
        "import", help="import X archives (twarc2 JSONL pages, flattened tweets, .gz) into the database"
    )
    archive.add_argument("files", nargs="+", type=Path, metavar="FILE")
    archive.add_argument("--batch-posts", type=int, default=10_000, help="posts per transaction")
    archive.add_argument("--writers", type=int, default=1, help="database connections writing in parallel")
    archive.add_argument("--no-progress", action="store_true", help="no progress bar")
    archive.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    archive.add_argument(
        "--no-invalidate", action="store_true", help="do not ask the query service to retire its cache"
    )
    args = parser.parse_args(argv)

    if args.command == "trigger":
        from tagpulse_collector.trigger import trigger as run_trigger

        settings = load_settings(CollectorSettings)
        return run_trigger(
            settings,
            args.hashtag,
            args.max_posts_per_hashtag,
            args.source,
            args.timeout,
            args.wait_ready,
            args.poll_interval,
            args.max_cost_usd,
        )
    if args.command == "retention":
        from tagpulse.logs import configure_logging
        from tagpulse_collector.deletion.command import run_retention

        settings = load_settings(CollectorSettings)
        configure_logging(settings)
        return run_retention(settings)
    if args.command == "mastodon-recheck":
        from tagpulse.logs import configure_logging
        from tagpulse_collector.deletion.command import run_mastodon_recheck

        settings = load_settings(CollectorSettings)
        configure_logging(settings)
        return run_mastodon_recheck(settings, None if args.limit is None else max(args.limit, 0))
    if args.command == "compliance":
        from tagpulse.logs import configure_logging
        from tagpulse_collector.deletion.command import run_x_compliance

        settings = load_settings(CollectorSettings)
        configure_logging(settings)
        return run_x_compliance(settings, max(args.timeout, 0))
    if args.command == "import":
        from tagpulse.logs import configure_logging
        from tagpulse_collector.archive.command import run_import

        settings = load_settings(CollectorSettings)
        configure_logging(settings)
        return run_import(
            settings,
            args.files,
            max(args.batch_posts, 1),
            max(args.writers, 1),
            show_progress=not args.no_progress,
            invalidate=not args.no_invalidate,
            as_json=args.json,
        )
    from tagpulse_collector.server import serve

    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
