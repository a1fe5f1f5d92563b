"""What a gRPC server of tagpulse answers to requests it cannot read, and how big an error gets.

A real grpc.aio server with the interceptors every service runs, on loopback, and a client
that sends raw bytes: what Envoy forwards when a REST query string holds a percent-encoded
byte that is not UTF-8 (`?hashtag=%ED%A0%80`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tagpulse.errors import MAX_DESCRIPTION, InvalidArgument
from tagpulse.grpc_server import GrpcServer, Service
from tagpulse.settings import Settings
from tagpulse.text import quoted
from tagpulse.v1 import query_service_pb2 as pb
from tagpulse.v1 import query_service_pb2_grpc
from tests.support.processes import free_port

TOKEN = "unit-test-token"
HASHTAG_FIELD = pb.ListTopUsersRequest.DESCRIPTOR.fields_by_name["hashtag"].number


class Recording(query_service_pb2_grpc.QueryServiceServicer):
    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def ListTopUsers(self, request: pb.ListTopUsersRequest, context: Any) -> pb.ListTopUsersResponse:
        self.requests.append(request)
        if request.hashtag == "long":
            raise InvalidArgument({"hashtag": "x" * 20_000})
        return pb.ListTopUsersResponse()

    async def InvalidateAggregates(
        self, request: pb.InvalidateAggregatesRequest, context: Any
    ) -> pb.InvalidateAggregatesResponse:
        self.requests.append(request)
        return pb.InvalidateAggregatesResponse(generation=1)


@pytest.fixture
async def served() -> AsyncIterator[tuple[grpc.aio.Channel, Recording]]:
    servicer = Recording()
    settings = Settings(api_token=TOKEN, grpc_port=0, metrics_port=free_port())
    server = GrpcServer(
        settings,
        [
            Service(
                pb.DESCRIPTOR.services_by_name["QueryService"],
                servicer,
                query_service_pb2_grpc.add_QueryServiceServicer_to_server,
            )
        ],
    )
    port = await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel, servicer
    await server.server.stop(0)


def _string_field(number: int, data: bytes) -> bytes:
    assert number < 16, "one-byte tag"
    assert len(data) < 128, "one-byte length"
    return bytes([number << 3 | 2, len(data)]) + data


async def _call(
    channel: grpc.aio.Channel, method: str, body: bytes, token: str | None = None
) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    send = channel.unary_unary(f"/tagpulse.v1.QueryService/{method}")
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    try:
        await send(body, metadata=metadata)
    except grpc.aio.AioRpcError as error:
        status = rpc_status.from_call(error)
        violations: dict[str, str] = {}
        for detail in status.details if status else ():
            bad_request = error_details_pb2.BadRequest()
            assert detail.Unpack(bad_request)
            violations.update({v.field: v.description for v in bad_request.field_violations})
        return error.code(), error.details() or "", violations
    return grpc.StatusCode.OK, "", {}


async def test_a_text_field_that_is_not_utf8_is_invalid_argument_naming_the_field(
    served: tuple[grpc.aio.Channel, Recording],
) -> None:
    channel, servicer = served
    code, message, violations = await _call(
        channel, "ListTopUsers", _string_field(HASHTAG_FIELD, b"\xed\xa0\x80")
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert violations == {"hashtag": "is not valid UTF-8 text"}
    assert "DecodeError" not in message
    assert servicer.requests == []  # the servicer never saw it

    # The same call with valid text reaches the servicer: the check is not a blanket refusal.
    code, _, _ = await _call(channel, "ListTopUsers", _string_field(HASHTAG_FIELD, "résumé".encode()))
    assert code == grpc.StatusCode.OK
    assert [r.hashtag for r in servicer.requests] == ["résumé"]


async def test_bytes_that_are_no_protobuf_at_all_are_invalid_argument(
    served: tuple[grpc.aio.Channel, Recording],
) -> None:
    channel, _ = served
    code, _, violations = await _call(channel, "ListTopUsers", b"\xff\xff\xff")
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations) == ["request"]


async def test_the_token_is_checked_before_the_request_is_read(
    served: tuple[grpc.aio.Channel, Recording],
) -> None:
    channel, servicer = served
    unreadable = _string_field(1, b"\xff")  # InvalidateAggregates.reason
    code, _, _ = await _call(channel, "InvalidateAggregates", unreadable)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, _, violations = await _call(channel, "InvalidateAggregates", unreadable, token=TOKEN)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert violations == {"reason": "is not valid UTF-8 text"}
    assert servicer.requests == []


async def test_an_error_description_is_bounded_whatever_the_domain_wrote(
    served: tuple[grpc.aio.Channel, Recording],
) -> None:
    channel, _ = served
    code, message, violations = await _call(channel, "ListTopUsers", _string_field(HASHTAG_FIELD, b"long"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(violations["hashtag"]) == MAX_DESCRIPTION
    assert len(message) < MAX_DESCRIPTION + 50


def test_a_long_value_is_quoted_by_its_start_and_length() -> None:
    assert quoted("devops") == "'devops'"
    long = quoted("#" + "a" * 20_000)
    assert long.startswith("'#aaa")
    assert long.endswith("… (20,001 characters)")
    assert len(long) < 100


def test_an_empty_description_still_says_something() -> None:
    assert InvalidArgument({"hashtag": ""}).violations == {"hashtag": "is not valid"}
