"""The domain's states and modes map onto the API's enums one to one, in both directions.

The domain keeps states as plain strings (they are stored in the database); the servicers map
them onto the proto enums by hand. These tests fail when either side gains, loses or renames a
value without the other.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from tagpulse.v1 import query_service_pb2, resources_pb2
from tagpulse_collector import servicer as collector_servicer
from tagpulse_collector.runs import store as runs
from tagpulse_collector.streams import store as streams
from tagpulse_query import servicer as query_servicer
from tagpulse_query import validation

UNSPECIFIED = 0

CASES = [
    ("run", runs.RUN_STATES, collector_servicer.RUN_STATES, resources_pb2.CollectionRun.State),
    (
        "hashtag",
        runs.HASHTAG_STATES,
        collector_servicer.HASHTAG_STATES,
        resources_pb2.HashtagCollectionFigures.State,
    ),
    ("stream", streams.STREAM_STATES, collector_servicer.STREAM_STATES, resources_pb2.Stream.State),
    (
        "hour mode",
        validation.HOUR_MODES,
        query_servicer.MODES_TO_PROTO,
        query_service_pb2.CountPostsByHourRequest.Mode,
    ),
]


@pytest.mark.parametrize(
    ("domain", "mapping", "enum"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_every_domain_value_maps_to_one_enum_value_and_back(
    domain: tuple[str, ...], mapping: Mapping[str, int], enum: EnumTypeWrapper
) -> None:
    assert sorted(mapping) == sorted(domain), "a domain value without an enum value, or the reverse"
    specified = sorted(value for value in enum.values() if value != UNSPECIFIED)
    assert sorted(mapping.values()) == specified, "an enum value no domain value maps to"
    assert len(set(mapping.values())) == len(mapping), "two domain values map to one enum value"


@pytest.mark.parametrize(
    ("domain", "mapping", "enum"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_the_mapping_keeps_the_meaning_of_each_name(
    domain: tuple[str, ...], mapping: Mapping[str, int], enum: EnumTypeWrapper
) -> None:
    """Today each domain value is spelled like its enum value; a mapping that crossed two
    (RUNNING to FAILED) would pass the one-to-one test above but not this one."""
    assert {value: enum.Name(number) for value, number in mapping.items()} == {
        value: value for value in domain
    }


def test_an_unspecified_mode_asks_for_the_default_and_an_unknown_one_is_refused() -> None:
    mode_enum = query_service_pb2.CountPostsByHourRequest.Mode
    assert query_servicer.MODES_FROM_PROTO[mode_enum.MODE_UNSPECIFIED] == ""
    assert validation.hour_count_query("", "", "", None, None).mode == validation.HOUR_OF_DAY
    assert {
        number: query_servicer.MODES_FROM_PROTO[number]
        for number in mode_enum.values()
        if number != UNSPECIFIED
    } == {number: mode for mode, number in query_servicer.MODES_TO_PROTO.items()}
