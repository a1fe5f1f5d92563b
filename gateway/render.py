"""Render gateway/envoy.yaml.template with the addresses and limits of one deployment.

python gateway/render.py --out var/envoy.yaml               # the local defaults
python gateway/render.py --listen-port 18080 --query 127.0.0.1:15051 ... --out FILE
python gateway/render.py --query 127.0.0.1:15051 --query 127.0.0.1:15061 --out FILE   # two replicas
python gateway/render.py --rate-limit-per-second 20 --max-connections 500 --out FILE
"""

from __future__ import annotations

import argparse
import string
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "envoy.yaml.template"

# The gateway's limits: placeholder → (default, what it limits). Each is a --option of this script
# (--max-connections) and a value of the Helm chart (envoy.limits.maxConnections; the rate limit is
# envoy.rateLimit.*); tests/chart checks that the chart's defaults are these.
LIMITS: dict[str, tuple[str, str]] = {
    "RATE_LIMIT_PER_SECOND": ("100", "requests per second per client (its address)"),
    "RATE_LIMIT_BURST": ("200", "requests a client may send at once, after a quiet spell"),
    "RATE_LIMIT_CLIENTS": (
        "10000",
        "clients tracked by the rate limit; the least recently seen is forgotten",
    ),
    "TRUSTED_PROXY_HOPS": ("0", "proxies in front of Envoy whose x-forwarded-for names the client"),
    "MAX_CONNECTIONS": (
        "10000",
        "downstream connections at once, over all clients (more are closed at once)",
    ),
    "MAX_HEAP_BYTES": (
        "201326592",
        "Envoy's heap; near it Envoy sheds load (keep it below the memory limit)",
    ),
    "REQUEST_HEADERS_TIMEOUT": ("10s", "time for a request's headers to arrive, from its first byte"),
    "IDLE_TIMEOUT": ("60s", "a connection with no request in flight is closed after this"),
    "STREAM_IDLE_TIMEOUT": ("300s", "a request that sends or receives nothing for this long is reset"),
    "MAX_REQUEST_HEADERS_KB": ("32", "size of a request's headers, in KiB (more: 431)"),
    "MAX_REQUEST_BODY_BYTES": ("65536", "size of a request's body, JSON or gRPC (more: 413)"),
    "MAX_RESPONSE_BODY_BYTES": (
        "4194304",
        "size of an answer the transcoder turns into JSON (the services bound theirs to ~1 MiB)",
    ),
    "MAX_CONCURRENT_STREAMS": ("100", "HTTP/2 requests in flight on one connection"),
    "ADMIN_MAX_CONNECTIONS": ("64", "connections at once to the /ready and /stats/prometheus port"),
}

DEFAULTS = {
    "LISTEN_ADDRESS": "127.0.0.1",
    "LISTEN_PORT": "8080",
    # /ready and /stats/prometheus; the whole admin API is on 127.0.0.1:ADMIN_API_PORT only.
    "ADMIN_ADDRESS": "127.0.0.1",
    "ADMIN_PORT": "9901",
    "ADMIN_API_PORT": "9902",
    "QUERY_ENDPOINTS": "",  # set below, from the address
    "COLLECTOR_ENDPOINTS": "",
    "DESCRIPTOR_SET": str(HERE / "tagpulse.pb"),
    "OPENAPI_DOCUMENT": str(HERE / "openapi.json"),
    # The web console's files (index.html, console.js, vendor/…), which Envoy serves at /.
    "CONSOLE_DIR": str(HERE / "console"),
    **{name: default for name, (default, _) in LIMITS.items()},
}


DEFAULT_QUERY = "127.0.0.1:50051"
DEFAULT_COLLECTOR = "127.0.0.1:50052"


def endpoints(*addresses: str) -> str:
    """A cluster's `endpoints`, as flow YAML, for HOST:PORT addresses (a host name stands for
    every address it resolves to: the chart gives the headless Service, one per pod)."""
    listed = ", ".join(
        f"{{endpoint: {{address: {{socket_address: {{address: {host}, port_value: {port}}}}}}}}}"
        for host, port in (address.rsplit(":", 1) for address in addresses)
    )
    return f"[{{lb_endpoints: [{listed}]}}]"


DEFAULTS["QUERY_ENDPOINTS"] = endpoints(DEFAULT_QUERY)
DEFAULTS["COLLECTOR_ENDPOINTS"] = endpoints(DEFAULT_COLLECTOR)


def render(**values: str) -> str:
    """The configuration with `values` over the defaults; a missing value is an error."""
    return string.Template(TEMPLATE.read_text()).substitute({**DEFAULTS, **values})


def option(name: str) -> str:
    """RATE_LIMIT_PER_SECOND → --rate-limit-per-second."""
    return "--" + name.lower().replace("_", "-")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listen-address", default=DEFAULTS["LISTEN_ADDRESS"], help="0.0.0.0 in a container")
    parser.add_argument("--listen-port", default=DEFAULTS["LISTEN_PORT"])
    parser.add_argument(
        "--admin-address", default=DEFAULTS["ADMIN_ADDRESS"], help="of /ready and /stats/prometheus"
    )
    parser.add_argument(
        "--admin-port", default=DEFAULTS["ADMIN_PORT"], help="of /ready and /stats/prometheus"
    )
    parser.add_argument(
        "--admin-api-port", default=DEFAULTS["ADMIN_API_PORT"], help="the whole admin API, on 127.0.0.1"
    )
    parser.add_argument("--descriptor-set", default=DEFAULTS["DESCRIPTOR_SET"], help="path of tagpulse.pb")
    parser.add_argument(
        "--openapi-document", default=DEFAULTS["OPENAPI_DOCUMENT"], help="path of openapi.json"
    )
    parser.add_argument(
        "--console-dir", default=DEFAULTS["CONSOLE_DIR"], help="folder of the web console's files"
    )
    parser.add_argument(
        "--query", action="append", help=f"HOST:PORT, once per replica (default {DEFAULT_QUERY})"
    )
    parser.add_argument(
        "--collector", action="append", help=f"HOST:PORT, once per replica (default {DEFAULT_COLLECTOR})"
    )
    limits = parser.add_argument_group("limits")
    for name, (default, description) in LIMITS.items():
        limits.add_argument(
            option(name), dest=name, default=default, help=f"{description} (default {default})"
        )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        render(
            LISTEN_ADDRESS=args.listen_address,
            LISTEN_PORT=args.listen_port,
            ADMIN_ADDRESS=args.admin_address,
            ADMIN_PORT=args.admin_port,
            ADMIN_API_PORT=args.admin_api_port,
            DESCRIPTOR_SET=args.descriptor_set,
            OPENAPI_DOCUMENT=args.openapi_document,
            CONSOLE_DIR=args.console_dir,
            QUERY_ENDPOINTS=endpoints(*(args.query or [DEFAULT_QUERY])),
            COLLECTOR_ENDPOINTS=endpoints(*(args.collector or [DEFAULT_COLLECTOR])),
            **{name: getattr(args, name) for name in LIMITS},
        )
    )


if __name__ == "__main__":
    main()
