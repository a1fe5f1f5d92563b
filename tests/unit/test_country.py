"""Profile locations → ISO 3166-1 alpha-2, on locations as people really write them.

Most entries are profile locations found in the recorded X pages (tests/fixtures/x/); the
rest cover native spellings, accents, upper case and "City, Region" forms.
"""

from __future__ import annotations

import pytest

from tagpulse_collector.ingestion.country import resolve_country

RESOLVED = [
    # From the design: all three are Mexico.
    ("Ciudad de México", "MX"),
    ("MEXICO", "MX"),
    ("Puebla, México", "MX"),
    ("CDMX", "MX"),
    ("México D. F.", "MX"),
    # City, US state (abbreviated, dotted, lower case, without a comma).
    ("Portland, OR", "US"),
    ("Brooklyn, NY", "US"),
    ("Magnolia, TX", "US"),
    ("Fort Lauderdale, FL", "US"),
    ("Harrisburg, Pa.", "US"),
    ("Buffalo NY ", "US"),
    ("Orlando Fl", "US"),
    ("Salem, OR", "US"),
    ("St Petersburg, FL", "US"),
    ("Dublin, OH", "US"),
    # US states and cities alone, and in longer forms.
    ("Ohio", "US"),
    ("New Hampshire", "US"),
    ("Virginia", "US"),
    ("Colorado ", "US"),
    ("Kentucky, USA", "US"),
    ("Ohio USA", "US"),
    ("Willamette Valley, Oregon, USA", "US"),
    ("Atlanta, Georgia", "US"),
    ("Southern California", "US"),
    ("Harlem, New York City", "US"),
    ("St. Louis", "US"),
    ("Washington, D.C. ", "US"),
    ("DC", "US"),
    ("NYC", "US"),
    ("Bay Area", "US"),
    ("The United States of America", "US"),
    ("🇺🇸🌎🌺🌺", "US"),
    # Canada: provinces by name and abbreviation.
    ("Toronto, Ontario", "CA"),
    ("Toronto, ON", "CA"),
    ("Montréal, QC", "CA"),
    ("Vancouver BC", "CA"),
    ("London, Ontario", "CA"),
    ("Québec", "CA"),
    # United Kingdom: nations, counties, cities, dotted forms.
    ("London, UK", "GB"),
    ("Manchester, England", "GB"),
    ("West Midlands, England", "GB"),
    ("Derry, Northern Ireland", "GB"),
    ("Hertfordshire ", "GB"),
    ("North Wiltshire", "GB"),
    ("northumberland. uk.", "GB"),
    ("Scotland", "GB"),
    ("sheffield", "GB"),
    # Countries in their own languages and scripts, accents and case.
    ("Deutschland", "DE"),
    ("München", "DE"),
    ("Berlin, DE", "DE"),
    ("Baden-Baden, Germany", "DE"),
    ("Madrid, España", "ES"),
    ("Bilbao, Basque Country", "ES"),
    ("São Paulo, Brasil", "BR"),
    ("SÃO PAULO", "BR"),
    ("Roma RM, Italia", "IT"),
    ("Santa Marinella, Lazio", "IT"),
    ("Catania, Sicilia", "IT"),
    ("Emilia-Romagna", "IT"),
    ("İstanbul, Türkiye", "TR"),
    ("Київ", "UA"),
    ("Россия", "RU"),
    ("日本", "JP"),
    ("東京", "JP"),
    ("Tokyo 🇯🇵", "JP"),
    ("서울", "KR"),
    ("Seoul, Republic of Korea", "KR"),
    ("الطائف, المملكة العربية السعودية", "SA"),
    ("القاهرة", "EG"),
    ("मुंबई", "IN"),
    ("Bengaluru, India", "IN"),
    ("BLR, KA, India", "IN"),
    ("Bolangir,Odisha", "IN"),
    ("Lahore, Punjab", "PK"),
    ("Chandigarh, Punjab", "IN"),
    ("Tbilisi, Georgia", "GE"),
    ("Amman, Jordan", "JO"),
    ("Lagos, Nigeria.", "NG"),
    ("Lagos Nigeria", "NG"),
    ("Nakuru, Kenya", "KE"),
    ("Gaborone,Botswana", "BW"),
    ("Evaton, Johannesburg", "ZA"),
    ("Manicaland Province", "ZW"),
    ("Quito, Ecuador", "EC"),
    ("Bogotá D.C., Colombia", "CO"),
    ("Lima, Perú", "PE"),
    ("CABA", "AR"),
    ("Doha, Qatar", "QA"),
    ("Dubai, UAE", "AE"),
    ("Melbourne, VIC", "AU"),
    ("Wien", "AT"),
    ("Zürich", "CH"),
    ("Lisboa", "PT"),
]

UNKNOWN = [
    "",
    "   ",
    None,
    "Earth",
    "Planet Earth 🌍",
    "Earth, Solarsystem",
    "Internet",
    "The Internet",
    "Cloud",
    "the cloud ☁️",
    "127.0.0.1",
    "localhost:8080",
    "Worldwide",
    "Everywhere",
    "Around the world",
    "somewhere in nowhere",
    "Global",
    "he/him",
    "she/they",
    "Mars",
    "So-Called North America",
    "European Union",
    "Michael Jordan fan",
    "Made in georgia",
    # Two countries have a Georgia, two have a Punjab, and CA is California or Canada.
    "Georgia",
    "Punjab",
    "CA",
    "Telegram: Simonice95",
    "51.523107,-0.374947",
    "♈︎ ☀︎︎ ♈︎ ☽ ♏︎ ☝︎︎",
    "Where Are My Dreams",
    "LALISA",
    "dm",
]


def test_the_table_is_big_enough() -> None:
    assert len(RESOLVED) + len(UNKNOWN) >= 60
    assert len(RESOLVED) >= 60


@pytest.mark.parametrize(("location", "code"), RESOLVED)
def test_resolves_profile_locations(location: str, code: str) -> None:
    assert resolve_country(location) == code


@pytest.mark.parametrize("location", UNKNOWN)
def test_leaves_non_places_and_ambiguous_places_unknown(location: str | None) -> None:
    assert resolve_country(location) is None
