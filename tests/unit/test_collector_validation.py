"""The collector's resource ids and list pages: anything that is not an id is a 400."""

from __future__ import annotations

import pytest

from tagpulse.db.models import MAX_INTEGER
from tagpulse.errors import InvalidArgument
from tagpulse_collector import validation


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "0",
        "-1",
        "+1",
        " 1",
        "1.0",
        "²",  # str.isdigit() says yes; int() says no
        "٣",  # an Arabic-Indic digit: int() would read it as 3
        str(MAX_INTEGER + 1),  # runs and streams have Integer ids
        "9223372036854775807",
        "9" * 5000,
    ],
)
def test_anything_but_a_positive_ascii_number_in_range_is_refused(raw: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        validation.collection_id(raw)
    assert list(error.value.violations) == ["id"]
    assert len(error.value.violations["id"]) < 150  # a long input is not echoed back whole
    with pytest.raises(InvalidArgument):
        validation.stream_id(raw)


def test_ids_in_range_are_read() -> None:
    assert validation.collection_id("1") == 1
    assert validation.stream_id(str(MAX_INTEGER)) == MAX_INTEGER
