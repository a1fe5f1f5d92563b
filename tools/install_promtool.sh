#!/bin/sh
# promtool, which the alert tests run (tests/chart/test_alerts.py), is on neither PyPI nor npm:
# Debian's `prometheus` package ships it. It is installed only where it is missing, apt-get exists
# and we are root (CI); anywhere else this says what to install, and never fails the build: the
# tests skip with the same message (and fail under CI=true).
command -v promtool >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing promtool (Debian's prometheus package)"
    # Without recommends: they add the node exporter, which the tests do not need.
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; then
        exit 0
    fi
fi
echo "promtool is missing: the alert tests need it (on Debian: apt-get install prometheus)" >&2
exit 0
