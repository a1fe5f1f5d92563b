#!/bin/sh
# Chromium, which the web console's browser test drives through Playwright (tests/e2e/test_console.py),
# comes from Debian's package: Playwright's own browser download cannot work where only the package
# registries are reachable, and Debian's build is the one a developer can install too. It is
# installed only where it is missing, apt-get exists and we are root (CI); anywhere else this says
# what to install, and never fails the build: the test skips with the same message (and fails
# under CI=true). A font, for screenshots with readable text on a bare machine.
command -v chromium >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing Chromium (Debian's chromium package)"
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; then
        exit 0
    fi
fi
echo "chromium is missing: the web console's browser test needs it (on Debian: apt-get install chromium)" >&2
exit 0
