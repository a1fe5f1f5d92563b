import pytest
from hypothesis import given
from hypothesis import strategies as st

from tagpulse.hashtags import InvalidHashtag, normalize_hashtag


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("devops", "devops"),
        ("#DevOps", "devops"),
        ("  #SRE ", "sre"),
        ("open_banking2", "open_banking2"),
        ("#México", "méxico"),
        ("भारत", "भारत"),  # combining vowel signs are part of the word
        ("日本語", "日本語"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # case folding, not lower()
    ],
)
def test_normalizes(raw: str, expected: str) -> None:
    assert normalize_hashtag(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "#", "##devops", "two words", "sre-team", "'; DROP TABLE posts; --", "a" * 101, "tag!", "@user"],
)
def test_rejects(raw: str) -> None:
    with pytest.raises(InvalidHashtag, match="is not a hashtag"):
        normalize_hashtag(raw)


@given(st.text(max_size=120))
def test_any_text_is_normalized_idempotently_or_rejected(raw: str) -> None:
    try:
        tag = normalize_hashtag(raw)
    except InvalidHashtag:
        return
    assert normalize_hashtag(tag) == tag
    assert normalize_hashtag("#" + tag) == tag
    assert 1 <= len(tag) <= 100
