import pytest
from pydantic import ValidationError

from tagpulse_collector.catalog import KNOWN_SOURCES
from tagpulse_collector.settings import RETAINED_SOURCES, CollectorSettings


def test_a_retention_can_name_every_source_the_catalog_knows() -> None:
    assert RETAINED_SOURCES == KNOWN_SOURCES


def test_retention_days_are_read_per_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGPULSE_RETENTION_DAYS", " x=30, Mastodon=7 ,")
    assert CollectorSettings().retention_days == {"x": 30, "mastodon": 7}
    monkeypatch.setenv("TAGPULSE_RETENTION_DAYS", "")
    assert CollectorSettings().retention_days == {}


@pytest.mark.parametrize("value", ["x", "x=0", "x=-3", "x=ten", "twitter=30"])
def test_a_bad_retention_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("TAGPULSE_RETENTION_DAYS", value)
    with pytest.raises(ValidationError, match="retention_days"):
        CollectorSettings()
