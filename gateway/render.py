"""Render gateway/envoy.yaml.template with the addresses of one deployment.

python gateway/render.py --out var/envoy.yaml               # the local defaults
python gateway/render.py --listen-port 18080 --query 127.0.0.1:15051 ... --out FILE
"""

from __future__ import annotations

import argparse
import string
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "envoy.yaml.template"

DEFAULTS = {
    "LISTEN_ADDRESS": "127.0.0.1",
    "LISTEN_PORT": "8080",
    "ADMIN_ADDRESS": "127.0.0.1",
    "ADMIN_PORT": "9901",
    "QUERY_HOST": "127.0.0.1",
    "QUERY_PORT": "50051",
    "COLLECTOR_HOST": "127.0.0.1",
    "COLLECTOR_PORT": "50052",
    "DESCRIPTOR_SET": str(HERE / "tagpulse.pb"),
    "OPENAPI_DOCUMENT": str(HERE / "openapi.json"),
    "RATE_LIMIT_PER_SECOND": "1000",
    "RATE_LIMIT_BURST": "2000",
}


def render(**values: str) -> str:
    """The configuration with `values` over the defaults; a missing value is an error."""
    return string.Template(TEMPLATE.read_text()).substitute({**DEFAULTS, **values})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listen-address", default=DEFAULTS["LISTEN_ADDRESS"], help="0.0.0.0 in a container")
    parser.add_argument("--listen-port", default=DEFAULTS["LISTEN_PORT"])
    parser.add_argument("--admin-address", default=DEFAULTS["ADMIN_ADDRESS"])
    parser.add_argument("--admin-port", default=DEFAULTS["ADMIN_PORT"])
    parser.add_argument("--descriptor-set", default=DEFAULTS["DESCRIPTOR_SET"], help="path of tagpulse.pb")
    parser.add_argument(
        "--openapi-document", default=DEFAULTS["OPENAPI_DOCUMENT"], help="path of openapi.json"
    )
    parser.add_argument(
        "--query", default=f"{DEFAULTS['QUERY_HOST']}:{DEFAULTS['QUERY_PORT']}", help="HOST:PORT"
    )
    parser.add_argument(
        "--collector", default=f"{DEFAULTS['COLLECTOR_HOST']}:{DEFAULTS['COLLECTOR_PORT']}", help="HOST:PORT"
    )
    parser.add_argument("--rate-limit-per-second", default=DEFAULTS["RATE_LIMIT_PER_SECOND"])
    parser.add_argument("--rate-limit-burst", default=DEFAULTS["RATE_LIMIT_BURST"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    query_host, query_port = args.query.rsplit(":", 1)
    collector_host, collector_port = args.collector.rsplit(":", 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        render(
            LISTEN_ADDRESS=args.listen_address,
            LISTEN_PORT=args.listen_port,
            ADMIN_ADDRESS=args.admin_address,
            ADMIN_PORT=args.admin_port,
            DESCRIPTOR_SET=args.descriptor_set,
            OPENAPI_DOCUMENT=args.openapi_document,
            QUERY_HOST=query_host,
            QUERY_PORT=query_port,
            COLLECTOR_HOST=collector_host,
            COLLECTOR_PORT=collector_port,
            RATE_LIMIT_PER_SECOND=args.rate_limit_per_second,
            RATE_LIMIT_BURST=args.rate_limit_burst,
        )
    )


if __name__ == "__main__":
    main()
