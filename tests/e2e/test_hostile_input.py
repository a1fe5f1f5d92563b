"""Hostile input that schema-driven fuzzing does not reach: bytes that are not UTF-8, NUL
characters, ids that look numeric to the wrong parser, forged page tokens, instants at the edge
of what Python holds, a huge hashtag, oversized pages and spans. Through the real Envoy and
services, every answer must be a 4xx JSON error with a message (or, where the input is valid,
an answer): never a 5xx, never an empty message.

Each case here failed once (issue 11: 500s, a 504 after 30 s of work, a connection reset);
they pass since the services decode, bound and check what they are sent.
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, insert

from tagpulse.db.models import User
from tests.support.collections import wait_for_run
from tests.support.page_tokens import forge, tampered
from tests.support.processes import ROOT, Stack

DOCUMENT = json.loads((ROOT / "gateway" / "openapi.json").read_text())


def text_query_parameters() -> list[tuple[str, str]]:
    """(path, name) of every string query parameter of a GET, from the OpenAPI document."""
    found = []
    for path, item in DOCUMENT["paths"].items():
        for parameter in item.get("get", {}).get("parameters", []):
            schema = parameter["schema"]
            if (
                parameter["in"] == "query"
                and schema.get("type") == "string"
                and not {"format", "enum"} & set(schema)
            ):
                found.append((path, parameter["name"]))
    return found


@pytest.fixture(scope="module")
def stack(module_stack: Callable[..., Stack]) -> Stack:
    stack = module_stack(TAGPULSE_HASHTAGS="sre,devops")
    # Two small runs, so that the lists have a second page and real page tokens to tamper with.
    for _ in range(2):
        started = httpx.post(
            f"{stack.rest_url}/v1/collections",
            json={"source": "sample", "maxPostsPerHashtag": 3},
            headers={"Authorization": f"Bearer {stack.api_token}"},
            timeout=30,
        )
        assert started.status_code == 200, started.text
        wait_for_run(stack.rest_url, started.json()["id"])
    return stack


def get(stack: Stack, path_and_query: str) -> httpx.Response:
    """GET with the path and query exactly as written (percent-escapes are not re-encoded)."""
    return httpx.get(httpx.URL(stack.rest_url + path_and_query), timeout=60)


def assert_client_error(response: httpx.Response, *, may_succeed: bool = False) -> dict[str, Any]:
    """A 4xx JSON error with a message (or a 200 where the input is valid), never a 5xx."""
    request = f"{response.request.method} {response.request.url.raw_path.decode()[:200]}"
    assert response.status_code < 500, f"{request} → {response.status_code} {response.text[:500]}"
    assert response.headers.get("content-type", "").startswith("application/json"), (
        f"{request} → {response.status_code} {response.headers.get('content-type')} {response.text[:500]}"
    )
    body: dict[str, Any] = response.json()
    if may_succeed and response.status_code == 200:
        return body
    assert 400 <= response.status_code < 500, f"{request} → {response.status_code} {response.text[:500]}"
    assert isinstance(body.get("message"), str), f"{request} → {response.text[:500]}"
    assert body["message"].strip(), f"{request} → an empty message: {response.text[:500]}"
    return body


# --- text that is not text -----------------------------------------------------------------


@pytest.mark.parametrize("escape", ["%ED%A0%80", "%FF"], ids=["surrogate", "ff"])
@pytest.mark.parametrize(("path", "name"), text_query_parameters(), ids=lambda v: str(v))
def test_invalid_utf8_in_a_text_parameter(stack: Stack, path: str, name: str, escape: str) -> None:
    body = assert_client_error(get(stack, f"{path}?{name}=a{escape}b"))
    # Envoy refuses it before the transcoder; a gRPC client that sends such bytes directly
    # gets the services' own INVALID_ARGUMENT naming the field (tests/unit/test_grpc_errors.py).
    assert body["code"] == 3, body
    assert "UTF-8" in body["message"], body


@pytest.mark.parametrize(("path", "name"), text_query_parameters(), ids=lambda v: str(v))
def test_nul_in_a_text_parameter(stack: Stack, path: str, name: str) -> None:
    assert_client_error(get(stack, f"{path}?{name}=a%00b"), may_succeed=name == "pageToken")


def test_a_post_id_with_invalid_utf8(stack: Stack) -> None:
    assert_client_error(get(stack, "/v1/posts/%FF"))


# --- ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["collections", "streams"])
@pytest.mark.parametrize(
    "raw_id",
    [
        "%C2%B2",  # ², a digit to str.isdigit but not to int()
        "%D9%A3",  # Arabic-Indic three: int() takes it
        "9223372036854775808",  # beyond int64
        "9223372036854775807",  # int64's maximum: beyond PostgreSQL's INTEGER
        "2147483648",  # just beyond int32
        "-1",
        "0",
        "%2B1",
        "1e3",
    ],
)
def test_ids_that_are_not_ids(stack: Stack, resource: str, raw_id: str) -> None:
    body = assert_client_error(get(stack, f"/v1/{resource}/{raw_id}"))
    assert len(body["message"]) < 300


@pytest.mark.parametrize("raw_id", ["9223372036854775807", "%C2%B2"])
def test_deleting_a_stream_that_is_not_an_id(stack: Stack, raw_id: str) -> None:
    response = httpx.delete(
        httpx.URL(f"{stack.rest_url}/v1/streams/{raw_id}"),
        headers={"Authorization": f"Bearer {stack.api_token}"},
        timeout=30,
    )
    assert_client_error(response)


# --- page tokens ------------------------------------------------------------------------------


def first_token(stack: Stack, path: str) -> str:
    page = httpx.get(f"{stack.rest_url}{path}", params={"pageSize": 1}, timeout=30)
    assert page.status_code == 200, page.text
    token: str = page.json()["nextPageToken"]
    assert token, f"{path} has one page only"
    return token


FORGERIES: dict[str, Callable[[Stack], tuple[str, str]]] = {
    "collections-boolean-id": lambda s: (
        "/v1/collections",
        tampered(first_token(s, "/v1/collections"), before_id=True),
    ),
    "collections-huge-id": lambda s: (
        "/v1/collections",
        tampered(first_token(s, "/v1/collections"), before_id=10**30),
    ),
    "posts-nul-in-id": lambda s: ("/v1/posts", tampered(first_token(s, "/v1/posts"), id="1\u0000")),
    "posts-surrogate-in-id": lambda s: ("/v1/posts", tampered(first_token(s, "/v1/posts"), id="\ud800")),
    "posts-surrogate-in-source": lambda s: (
        "/v1/posts",
        tampered(first_token(s, "/v1/posts"), source="\ud800"),
    ),
    "posts-year-0": lambda s: (
        "/v1/posts",
        tampered(first_token(s, "/v1/posts"), created_at="0000-01-01T00:00:00+00:00"),
    ),
    "posts-naive-time": lambda s: (
        "/v1/posts",
        tampered(first_token(s, "/v1/posts"), created_at="2024-01-01T00:00:00"),
    ),
    "users-boolean-followers": lambda s: (
        "/v1/users",
        tampered(first_token(s, "/v1/users"), followers_count=False),
    ),
    "users-nul-in-source": lambda s: ("/v1/users", tampered(first_token(s, "/v1/users"), source="\u0000")),
    "hashtags-surrogate": lambda s: ("/v1/hashtags", tampered(first_token(s, "/v1/hashtags"), name="\ud800")),
    "not-json": lambda s: ("/v1/posts", forge("x")[:-2] + "!!"),
    "array": lambda s: ("/v1/streams", forge([1, 2, 3])),
    "huge": lambda s: ("/v1/posts", forge({"list": "posts", "after": {"id": "x" * 20_000}})),
}


# Text in a cursor that PostgreSQL cannot take (NUL, a lone surrogate) reaches the query: 500.
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_page_tokens(stack: Stack, forgery: str) -> None:
    path, token = FORGERIES[forgery](stack)
    response = httpx.get(f"{stack.rest_url}{path}", params={"pageToken": token}, timeout=30)
    body = assert_client_error(response)
    assert len(body["message"]) < 1000


# --- instants, sizes and spans ----------------------------------------------------------------

EDGES = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00%2B01:00",
    "9999-12-31T23:59:59-01:00",
]


@pytest.mark.parametrize("instant", EDGES)
@pytest.mark.parametrize("name", ["startTime", "endTime"])
def test_instants_at_the_edge_of_python_in_a_list(stack: Stack, name: str, instant: str) -> None:
    assert_client_error(get(stack, f"/v1/posts?{name}={instant}"), may_succeed=True)


# An instant at Python's limits shifted into a time zone ahead of UTC overflows (500); the end of
# year 9999 makes the hour-of-day count run until Envoy's 30 s timeout (504).
@pytest.mark.parametrize(
    ("name", "instant"),
    [(name, instant) for name in ("startTime", "endTime") for instant in EDGES],
)
def test_instants_at_the_edge_of_python_in_a_count(stack: Stack, name: str, instant: str) -> None:
    query = f"mode=HOUR_OF_DAY&timeZone=Pacific/Kiritimati&{name}={instant}"
    assert_client_error(get(stack, f"/v1/posts:countByHour?{query}"), may_succeed=True)


@pytest.mark.parametrize(
    "query",
    [
        "mode=TIMELINE&startTime=0001-01-01T00:00:00Z&endTime=9999-12-31T23:59:59Z",
        "mode=TIMELINE&startTime=1970-01-01T00:00:00Z&endTime=2100-01-01T00:00:00Z",
        "mode=TIMELINE&startTime=0001-01-01T00:00:00Z&endTime=9999-12-31T23:59:59Z&timeZone=America/Adak",
    ],
)
def test_timeline_spans_too_long_to_answer(stack: Stack, query: str) -> None:
    assert_client_error(get(stack, f"/v1/posts:countByHour?{query}"))


@pytest.mark.parametrize(
    "query",
    [
        "mode=HOUR_OF_DAY&startTime=0001-01-01T00:00:00Z&endTime=9999-12-31T23:59:59Z",
        "mode=HOUR_OF_DAY&startTime=0001-01-01T00:00:00Z&endTime=9999-12-31T23:59:59Z&timeZone=Etc/GMT%2B12",
    ],
)
def test_hour_of_day_over_all_time(stack: Stack, query: str) -> None:
    body = assert_client_error(get(stack, f"/v1/posts:countByHour?{query}"), may_succeed=True)
    if "hours" in body:
        assert len(body["hours"]) == 24


@pytest.mark.parametrize("path", ["/v1/posts", "/v1/users", "/v1/hashtags", "/v1/collections", "/v1/streams"])
def test_page_size_700(stack: Stack, path: str) -> None:
    body = assert_client_error(get(stack, f"{path}?pageSize=700"), may_succeed=True)
    if "message" not in body:  # accepted: then it is a page of at most 700
        assert all(len(value) <= 700 for value in body.values() if isinstance(value, list))


HUGE_HASHTAG = "a" * 20_000


@pytest.mark.parametrize(
    "path",
    [
        "/v1/posts?hashtag=",
        "/v1/users:top?hashtag=",
        "/v1/posts:countByHashtag?hashtag=",
        "/v1/posts:countByHour?hashtag=",
    ],
)
def test_a_20000_character_hashtag_is_refused_without_echoing_it(stack: Stack, path: str) -> None:
    body = assert_client_error(get(stack, path + HUGE_HASHTAG))
    assert HUGE_HASHTAG[:1000] not in json.dumps(body)
    assert len(json.dumps(body)) < 2000


def test_huge_hashtags_do_not_affect_other_clients(stack: Stack) -> None:
    def hostile() -> int:
        return get(stack, "/v1/posts:countByHour?hashtag=" + HUGE_HASHTAG).status_code

    def ordinary() -> int:
        return httpx.get(f"{stack.rest_url}/v1/stats", timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        hostiles = [pool.submit(hostile) for _ in range(20)]
        ordinaries = [pool.submit(ordinary) for _ in range(20)]
        assert [f.result() for f in ordinaries] == [200] * 20
        assert all(f.result() < 500 for f in hostiles)


# Once a 503: the error echoed the hashtag whole, too big for a gRPC trailer, and Envoy reset.
def test_a_huge_body_field_is_refused_without_echoing_it(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.rest_url}/v1/collections",
        json={"hashtags": [HUGE_HASHTAG], "source": "sample", "maxPostsPerHashtag": 1},
        headers={"Authorization": f"Bearer {stack.api_token}"},
        timeout=30,
    )
    body = assert_client_error(response)
    assert len(json.dumps(body)) < 2000


# --- headers ------------------------------------------------------------------------------


def _raw_get(stack: Stack, path: str, header: bytes) -> bytes:
    """A request with a header value httpx would refuse to send: bytes that are not UTF-8."""
    request = (
        b"GET "
        + path.encode()
        + b" HTTP/1.1\r\nHost: tagpulse\r\nConnection: close\r\n"
        + header
        + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", stack.rest_port), timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_a_header_that_is_not_utf8_is_served_without_an_error_in_the_log(stack: Stack) -> None:
    """gRPC logged three ERROR lines with a traceback for each such request."""
    before = stack.query.log().count('"level": "ERROR"')
    answers = [_raw_get(stack, "/v1/users:top", b"X-Odd: caf\xe9\xff") for _ in range(3)]
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers), answers[0][:300]
    assert stack.query.log().count('"level": "ERROR"') == before


# --- big answers ----------------------------------------------------------------------------


def test_the_biggest_page_of_users_goes_through_the_gateway(stack: Stack) -> None:
    """Envoy's transcoder once refused answers past the connection's 32 KiB buffer: a page of
    951 users was a 500. A full page of users with the longest names the columns hold."""
    engine = create_engine(stack.database_url)
    now = datetime.now(UTC)
    rows = [
        {
            "source": "bench",
            "id": f"u{number}",
            "username": "ü" * 100,
            "display_name": "名" * 200,
            "followers_count": number,
            "location": "Kathmandu",
            "country_code": "NP",
            "post_count": 1,
            "updated_at": now,
        }
        for number in range(1000)
    ]
    with engine.begin() as connection:
        connection.execute(insert(User.table()), rows)
    engine.dispose()
    response = get(stack, "/v1/users?pageSize=1000&orderBy=id")
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["users"]) == 1000
    assert len(response.content) > 700_000
