import pytest

from tagpulse.errors import InvalidArgument
from tagpulse.pagination import decode_page_token, encode_page_token, page_size_of


def test_tokens_round_trip_and_are_bound_to_their_list() -> None:
    token = encode_page_token("collections", {"before_id": 41})
    assert decode_page_token(token, "collections") == {"before_id": 41}
    assert decode_page_token("", "collections") is None
    with pytest.raises(InvalidArgument) as error:
        decode_page_token(token, "posts")
    assert error.value.violations.keys() == {"page_token"}


@pytest.mark.parametrize("token", ["garbage", "!!!", "e30", "bnVsbA", "W10"])
def test_malformed_tokens_are_invalid_arguments(token: str) -> None:
    with pytest.raises(InvalidArgument):
        decode_page_token(token, "collections")


def test_page_sizes() -> None:
    assert page_size_of(0, default=50, maximum=1000) == 50
    assert page_size_of(1000, default=50, maximum=1000) == 1000
    for bad in (-1, 1001):
        with pytest.raises(InvalidArgument):
            page_size_of(bad, default=50, maximum=1000)
