"""python -m tagpulse_collector [serve | trigger …]"""

from __future__ import annotations

import argparse
import sys

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
    trigger.add_argument("--source", default="")
    trigger.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the run")
    trigger.add_argument("--wait-ready", type=float, default=0, help="seconds to wait for the collector")
    args = parser.parse_args(argv)

    if args.command == "trigger":
        from tagpulse_collector.trigger import trigger as run_trigger

        settings = load_settings(CollectorSettings)
        return run_trigger(
            settings, args.hashtag, args.max_posts_per_hashtag, args.source, args.timeout, args.wait_ready
        )
    from tagpulse_collector.server import serve

    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
