import pytest

from tagpulse_collector.country import resolve_country


@pytest.mark.parametrize(
    ("location", "code"),
    [
        ("Ciudad de México", "MX"),
        ("MEXICO", "MX"),
        ("Puebla, México", "MX"),
        ("CDMX", "MX"),
        ("London, UK", "GB"),
        ("Manchester, England", "GB"),
        ("San Francisco, CA", "US"),
        ("Austin, TX", "US"),
        ("Madrid, España", "ES"),
        ("São Paulo, Brasil", "BR"),
        ("Bengaluru, India", "IN"),
        ("Tokyo 🇯🇵", "JP"),
        ("Toronto, Ontario", "CA"),
        ("Berlin", "DE"),
    ],
)
def test_resolves_profile_locations(location: str, code: str) -> None:
    assert resolve_country(location) == code


@pytest.mark.parametrize(
    "location", ["", "   ", "Earth", "127.0.0.1", "Worldwide", "he/him", "the cloud ☁️", None]
)
def test_leaves_non_places_unknown(location: str | None) -> None:
    assert resolve_country(location) is None
