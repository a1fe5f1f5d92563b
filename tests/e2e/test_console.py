"""The web console (gateway/console/) in a real browser: headless Chromium (Debian's, driven by
Playwright) opens the page that Envoy serves, against the real stack after a sample collection.

Every figure is read from the page's tables, found by their accessible names as a screen reader
finds them, and compared with what the REST API answers for the same question. The browser may
reach nothing but the stack: any other request is refused and fails the test. The screenshots
(desktop and phone width) are left in artifacts/console/.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from tests.conftest import missing
from tests.support.collections import start_and_wait
from tests.support.polling import wait_until
from tests.support.processes import ROOT, Stack

ARTIFACTS = ROOT / "artifacts" / "console"
TIME_ZONE = "Asia/Kolkata"  # a half-hour offset: local hours that are not UTC hours
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# As the probe of this kind of machine starts it: without the background-networking flags Chromium
# tries to reach Google's hosts at start, which the route below would count against the page.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        missing("chromium is not installed: Debian's chromium package (make install installs it as root)")
    return path


@pytest.fixture(scope="module")
def stack(module_stack: Callable[..., Stack]) -> Stack:
    stack = module_stack()
    start_and_wait(stack.rest_url, stack.api_token, {"source": "sample"})
    return stack


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Console:
    page: Page
    stack: Stack
    # Every request the page made, and the ones refused for leaving the stack.
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.stack.rest_url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def loaded(self) -> None:
        """Until every section has drawn what it asked for (the status line says so last)."""
        expect(self.page.locator("#status")).to_contain_text("Showing", timeout=20_000)
        expect(self.page.locator('section[aria-busy="true"]')).to_have_count(0)

    def table(self, name: str) -> list[list[str]]:
        rows = self.page.get_by_role("table", name=name).locator("tbody tr").all_inner_texts()
        return [[text.strip() for text in row.split("\t")] for row in rows]

    def message(self, section: str) -> str:
        return self.page.locator(f"#{section} .message").inner_text()


@pytest.fixture
def open_console(browser: Browser, stack: Stack) -> Iterator[Callable[..., Console]]:
    contexts = []

    def open_console(query: str = "", viewport: dict[str, int] = DESKTOP) -> Console:
        context = browser.new_context(viewport=viewport, timezone_id=TIME_ZONE, locale="en-US")
        contexts.append(context)
        console = Console(context.new_page(), stack)

        def only_the_stack(route: Route) -> None:
            url = route.request.url
            console.requests.append(f"{route.request.method} {url}")
            if url.startswith(f"{stack.rest_url}/"):
                route.continue_()
            else:
                console.refused.append(url)
                route.abort()

        context.route("**/*", only_the_stack)
        console.page.on("pageerror", lambda error: console.errors.append(str(error)))
        console.page.goto(f"{stack.rest_url}/{query}")
        console.loaded()
        return console

    yield open_console
    for context in contexts:
        context.close()


def count(text: str) -> int:
    """A figure as the page prints it (1,000) → 1000."""
    return int(text.replace(",", ""))


def test_each_chart_shows_the_numbers_the_api_answers(open_console: Callable[..., Console]) -> None:
    console = open_console(f"?timeZone={TIME_ZONE}")

    hours = console.api("/v1/posts:countByHour", mode="HOUR_OF_DAY", timeZone=TIME_ZONE)["hours"]
    assert console.table("Posts by hour of the day") == [
        [f"{row['hourOfDay']:02d}:00", f"{int(row['postCount']):,}"] for row in hours
    ]

    timeline = console.api("/v1/posts:countByHour", mode="TIMELINE", timeZone=TIME_ZONE)
    # localHourStart is "2026-11-27T06:00:00+05:30"; the page shows "2026-11-27 06:00 (+05:30)".
    assert console.table("Hours with posts (hours without any are left out)") == [
        [f"{local[:10]} {local[11:16]} ({local[19:]})", f"{int(row['postCount']):,}"]
        for row in timeline["hours"]
        if row["postCount"] != "0"
        for local in [row["localHourStart"]]
    ]
    assert f"{int(timeline['totalPosts']):,} posts in {len(timeline['hours'])} hours" in (
        console.page.locator("#timeline .total").inner_text()
    )

    users = console.api("/v1/users:top", limit=10)["users"]
    assert len(users) == 10
    assert [(row[1], count(row[3]), count(row[4])) for row in console.table("Top users")] == [
        (f"@{user['username']}", int(user["followersCount"]), int(user["postCount"])) for user in users
    ]

    rows = console.api("/v1/posts:countByHashtag", pageSize=1000)["counts"]
    assert page_totals(console.table("Posts per language")) == api_totals(rows, "language")
    assert page_totals(console.table("Posts per country")) == api_totals(rows, "countryCode")
    assert "unknown" in api_totals(rows, "countryCode"), "the sample has authors without a country"

    runs = console.api("/v1/collections", pageSize=10)["collections"]
    assert [row[:3] + [count(cell) for cell in row[5:8]] for row in console.table("Collection runs")] == [
        [run["id"], run["state"], run["source"]]
        + [int(run["figures"][key]) for key in ("postsFetched", "postsNew", "postsDuplicate")]
        for run in runs
    ]

    # Every chart drawn, none replaced by a message; the streams' (none yet) says so instead.
    expect(console.page.locator(".message:visible")).to_have_count(0)
    expect(console.page.locator(".figure canvas:visible")).to_have_count(7)
    expect(console.page.locator("#streams .empty")).to_have_text("No keyword streams yet: start one below.")
    assert console.refused == []
    assert console.errors == []

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    console.page.screenshot(path=ARTIFACTS / "desktop.png", full_page=True)
    # The top of the page, as the README shows it (docs/images/console.png is one of these).
    top = {"x": 0, "y": 0, "width": DESKTOP["width"], "height": 1650}
    console.page.screenshot(path=ARTIFACTS / "desktop-top.png", clip=top, full_page=True)


def page_totals(table: list[list[str]]) -> dict[str, int]:
    """A per-language or per-country table → {code: posts}: "English (en)" and "unknown" rows."""
    totals = {}
    for label, posts in table:
        code = re.search(r"\((\w+)\)$", label)
        totals[code.group(1) if code else label] = count(posts)
    return totals


def api_totals(rows: list[dict[str, str]], key: str) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for row in rows:
        totals[row[key]] += int(row["postCount"])
    return dict(totals)


def test_the_page_works_with_the_keyboard_and_fits_a_phone(open_console: Callable[..., Console]) -> None:
    console = open_console(viewport=PHONE)
    page = console.page
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Choose #devops and the time zone with the keyboard alone; Enter shows them.
    page.locator("#hashtag").focus()
    page.keyboard.type("#devops")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Time zone")).to_be_focused()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type("America/Mexico_City")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Showing #devops in America/Mexico_City")
    console.loaded()

    assert "hashtag=devops" in page.url
    hours = console.api("/v1/posts:countByHour", hashtag="devops", timeZone="America/Mexico_City")["hours"]
    assert [count(posts) for _, posts in console.table("Posts by hour of the day")] == [
        int(row["postCount"]) for row in hours
    ]
    users = console.api("/v1/users:top", limit=10, hashtag="devops")["users"]
    assert [row[1] for row in console.table("Top users")] == [f"@{user['username']}" for user in users]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "phone.png", full_page=True)
    assert console.refused == []
    assert console.errors == []


def test_a_stream_started_from_the_page_updates_while_it_runs(open_console: Callable[..., Console]) -> None:
    console = open_console()
    page = console.page
    page.get_by_label("API token").fill(console.stack.api_token)
    form = page.locator("#start-stream")
    form.get_by_label("Rules, one per line").fill("devops\n#music")
    form.get_by_label("Source").select_option("sample")
    form.get_by_role("button", name="Start the stream").click()
    expect(page.locator("#collect .done")).to_contain_text("started (sample)")

    # The row updates on its own, with nothing clicked: its Received figure grows while RUNNING.
    seen: set[int] = set()

    def grown() -> bool:
        (row,) = console.table("Keyword streams")
        # Until the list is reloaded, its one row may still say there is no stream.
        if len(row) > 4 and row[1] == "RUNNING":
            seen.add(count(row[4]))
        return len(seen) >= 3

    wait_until(grown, message=lambda: f"the stream's Received figure to change twice: {seen}", timeout=30)

    page.get_by_role("button", name=re.compile(r"^Stop stream \d+$")).click()
    expect(page.get_by_role("table", name="Keyword streams").locator("tbody tr")).to_contain_text(
        "STOPPED", timeout=20_000
    )
    (stream,) = console.api("/v1/streams")["streams"]
    (row,) = console.table("Keyword streams")
    assert row[:4] == [stream["id"], "STOPPED", "sample", "devops\n#music"]
    assert [count(cell) for cell in row[4:8]] == [
        int(stream[key]) for key in ("postsReceived", "postsMatched", "postsUnique", "postsNew")
    ]
    # The token stayed in the page's memory: nothing stored, nothing in the address.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    assert console.stack.api_token not in page.url
    assert console.refused == []
    assert console.errors == []


def test_a_collection_started_from_the_page_shows_its_figures(open_console: Callable[..., Console]) -> None:
    console = open_console()
    page = console.page
    page.get_by_label("API token").fill(console.stack.api_token)
    form = page.locator("#start-collection")
    form.get_by_label("Hashtags, comma-separated").fill("sre, devops")
    form.get_by_label("Posts per hashtag, at most").fill("20")
    form.get_by_label("Source").select_option("sample")
    form.get_by_role("button", name="Start the collection").click()
    done = page.locator("#collect .done")
    expect(done).to_contain_text("started (sample)")
    started = re.search(r"Collection run (\d+) started", done.inner_text())
    assert started
    run_id = started.group(1)

    # The page follows the run until it ends, then shows its final figures.
    first_row = page.get_by_role("table", name="Collection runs").locator("tbody tr").first
    # This run's row (until the list is reloaded the first row is an earlier run), then its state.
    expect(first_row.locator("th, td").nth(0)).to_have_text(run_id, timeout=30_000)
    expect(first_row.locator("th, td").nth(1)).to_have_text("SUCCEEDED", timeout=30_000)
    run = console.api(f"/v1/collections/{run_id}")
    assert run["hashtags"] == ["sre", "devops"]
    assert run["maxPostsPerHashtag"] == 20
    row = console.table("Collection runs")[0]
    assert row[:3] == [run_id, "SUCCEEDED", "sample"]
    assert [count(cell) for cell in row[5:8]] == [
        int(run["figures"][key]) for key in ("postsFetched", "postsNew", "postsDuplicate")
    ]
    assert console.refused == []
    assert console.errors == []


def test_a_wrong_token_shows_the_401_message(open_console: Callable[..., Console]) -> None:
    console = open_console()
    page = console.page
    runs_before = console.api("/v1/collections")["collections"]
    page.get_by_label("API token").fill("not-the-token")
    page.locator("#start-collection").get_by_role("button", name="Start the collection").click()
    message = page.locator("#collect .message")
    expect(message).to_be_visible()
    assert "The API token was refused (401 Unauthorized)" in message.inner_text()
    assert console.api("/v1/collections")["collections"] == runs_before


def test_a_bad_request_shows_the_apis_message_instead_of_the_charts(
    open_console: Callable[..., Console],
) -> None:
    console = open_console("?timeZone=Nowhere/Atlantis")
    for section in ("hour-of-day", "timeline"):
        assert console.message(section).startswith("The API refused the request (400 Bad Request)")
        assert "'Nowhere/Atlantis' is not an IANA time zone name" in console.message(section)
        expect(console.page.locator(f"#{section} .figure")).to_be_hidden()
    # The sections that take no time zone are drawn as usual.
    expect(console.page.locator("#top-users .figure")).to_be_visible()


# The bodies Envoy itself answers with (gateway/envoy.yaml.template's local replies; docs/api.md):
# the stack cannot be made to shed load or lose a service for one request, so the browser gets them
# from a route here, and the page must still explain them.
RATE_LIMITED = (
    '{"code":8,"details":[],"message":"rate limit exceeded: at most 100 requests per second per client '
    '(bursts of 200); retry after the seconds in Retry-After"}'
)
UNAVAILABLE = (
    '{"code":14,"details":[],"message":"upstream connect error or disconnect/reset before headers. '
    'reset reason: remote connection failure"}'
)


def test_rate_limits_and_unavailable_services_show_as_messages(
    open_console: Callable[..., Console],
) -> None:
    console = open_console()
    page = console.page
    page.route(
        re.compile(r".*/v1/users:top\?.*"),
        lambda route: route.fulfill(
            status=429, headers={"retry-after": "1", "content-type": "application/json"}, body=RATE_LIMITED
        ),
    )
    page.route(
        re.compile(r".*/v1/posts:countByHashtag.*"),
        lambda route: route.fulfill(status=503, content_type="application/json", body=UNAVAILABLE),
    )
    page.get_by_role("button", name="Show").click()
    console.loaded()
    assert console.message("top-users").startswith("Too many requests (429 Too Many Requests)")
    assert "Try again in 1 s" in console.message("top-users")
    for section in ("languages", "countries"):
        assert console.message(section).startswith("A tagpulse service is unavailable (503 ")
        assert "remote connection failure" in console.message(section)
        expect(page.locator(f"#{section} .figure")).to_be_hidden()
    expect(page.locator("#status")).to_contain_text("some parts could not be loaded")
    expect(page.locator("#hour-of-day .figure")).to_be_visible()


def test_envoy_serves_the_console_beside_the_api(stack: Stack) -> None:
    """The page's own files, with types and a policy that keeps it to this origin; the REST routes
    unchanged; an unknown path still the JSON 404."""
    page = httpx.get(f"{stack.rest_url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    for path, media_type in [
        ("/console/console.js", "text/javascript; charset=utf-8"),
        ("/console/vendor/chart.umd.min.js", "text/javascript; charset=utf-8"),
        ("/console/vendor/countries-110m.json", "application/json"),
    ]:
        response = httpx.get(f"{stack.rest_url}{path}", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"] == media_type
        assert response.content == (ROOT / "gateway" / path.replace("/console/", "console/", 1)).read_bytes()
    assert httpx.get(f"{stack.rest_url}/v1/users:top", timeout=10).json()["users"]
    missing_page = httpx.get(f"{stack.rest_url}/console/nothing.js", timeout=10)
    assert missing_page.status_code == 404
    assert missing_page.json()["code"] == 5
