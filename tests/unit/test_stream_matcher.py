"""Local rule matching: tokenized keywords, phrases, hashtags, mentions, boolean logic, operators."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagpulse_collector.streams.matcher import Candidate, RuleSet, matches, mentions_in
from tagpulse_collector.streams.rules import And, Node, Not, Or, Term, fold, parse_rule, words_of

SEED_RULE = '"justin bieber" (music OR #music)'


def post(text: str, **fields: object) -> Candidate:
    tags = frozenset(w[1:].casefold() for w in text.split() if w.startswith("#"))
    return Candidate(text=text, hashtags=tags, mentions=mentions_in(text), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Justin Bieber just dropped new music", True),
        ("Listening to Justin Bieber all day #music", True),
        ("JUSTIN BIEBER live tonight, the best MUSIC of the year", True),
        ("Justin Bieber's music video is out now", True),
        ("ＪＵＳＴＩＮ ＢＩＥＢＥＲ music all night", True),
        ("Concierto de Justin Bieber: su música y su #Music en vivo", True),
        ("Justin Bieber spotted in Toronto today", False),
        ("Justin Bieber y su nueva canción: música para el verano", False),  # accents count
        ("Justin Bieber interview: musical influences", False),  # tokenized, not a substring
        ("justin bieber #musicvideo premiere", False),  # #musicvideo is not #music
        ("Justin Timberlake and Bieber fans agree: great music", False),  # not in a row
        ("#JustinBieber #Music trending", False),  # one word, not the phrase
    ],
)
def test_the_seed_rule(text: str, expected: bool) -> None:
    assert matches(parse_rule(SEED_RULE), post(text)) is expected


@pytest.mark.parametrize(
    ("rule", "text", "expected"),
    [
        ("music", "MUSIC!", True),
        ("music", "#music", True),  # a keyword matches the word of a hashtag, as on X
        ("#music", "music", False),  # a hashtag operator needs the hashtag
        ("music", "musical", False),
        ("coca-cola", "I like Coca Cola", True),
        ('"coca-cola"', "I like coca-cola", True),
        ("a b OR c", "c only", True),
        ("a b OR c", "a only", False),
        ("a (b OR c)", "a c", True),
        ("a (b OR c)", "c only", False),
        ("cat -grumpy", "a cat", True),
        ("cat -grumpy", "a grumpy cat", False),
        ('cat -"grumpy cat"', "grumpy, the cat", True),
        ("@bieber news", "news from @Bieber today", True),
        ("@bieber news", "news from bieber today", False),
        ("@user news", "news @user@mastodon.social", True),
        ("@user@mastodon.social news", "news @user@mastodon.social", True),
        ("straße", "STRASSE", True),  # case folding
        ("σ", "Σ", True),
        ("障害", "障害対応の振り返りを書きました", True),  # no spaces in Japanese
        ('"振り返り"', "障害対応の振り返りを書きました", True),
        ("नमस्ते", "नमस्ते दुनिया", True),
    ],
)
def test_keywords_phrases_and_logic(rule: str, text: str, expected: bool) -> None:
    assert matches(parse_rule(rule), post(text)) is expected


def test_operators_look_at_the_post_not_its_text() -> None:
    candidate = post("music is:retweet has:geo lang:es", language="en")
    assert not matches(parse_rule("music is:retweet"), candidate)
    assert not matches(parse_rule("music has:geo"), candidate)
    assert matches(parse_rule("music lang:en"), candidate)
    assert matches(parse_rule("music -lang:es"), candidate)
    geo_retweet = post("music", is_retweet=True, has_geo=True, language="pt-BR")
    assert matches(parse_rule("music is:retweet has:geo lang:pt"), geo_retweet)
    assert matches(parse_rule("music lang:pt-br"), geo_retweet)
    assert not matches(parse_rule("music -is:retweet"), geo_retweet)


def test_a_rule_set_names_the_rules_a_post_matches() -> None:
    rules = RuleSet.parse(["music", "#music", "bieber -music", SEED_RULE])
    assert rules.matching(post("Justin Bieber new #music")) == [0, 1, 3]
    assert rules.matching(post("Justin Bieber in Toronto")) == [2]
    assert rules.matching(post("nothing here")) == []


# --- properties -------------------------------------------------------------------------------

vocabulary = st.sampled_from(["music", "bieber", "justin", "Música", "ΣΊΣΥΦΟΣ", "日本", "ok"])
texts = st.lists(vocabulary, max_size=8).map(" ".join)
atoms = vocabulary.map(lambda w: Term(words_of(fold(w))))
trees = st.recursive(
    st.one_of(atoms, atoms.map(Not)),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda c: And(tuple(c))),
        st.lists(inner, min_size=2, max_size=3).map(lambda c: Or(tuple(c))),
    ),
    max_leaves=8,
)


def reference(tree: Node, text: str) -> bool:
    """The same logic spelled out over a set of words."""
    present = set(words_of(fold(text)))
    if isinstance(tree, And):
        return all(reference(c, text) for c in tree.children)
    if isinstance(tree, Or):
        return any(reference(c, text) for c in tree.children)
    if isinstance(tree, Not):
        return not reference(tree.child, text)
    assert isinstance(tree, Term)
    word = tree.words[0]
    return word in present or (word == "日本" and "日本" in fold(text))


@settings(max_examples=300)
@given(trees, texts)
def test_and_or_not_mean_what_they_say(tree: Node, text: str) -> None:
    assert matches(tree, post(text)) is reference(tree, text)


@given(trees, texts)
def test_case_does_not_matter(tree: Node, text: str) -> None:
    assert matches(tree, post(text.upper())) is matches(tree, post(text.lower())) is matches(tree, post(text))


@given(
    st.lists(st.text(st.characters(categories=("L", "N")), min_size=1, max_size=5), min_size=1, max_size=6)
)
def test_any_run_of_a_posts_words_matches_as_a_phrase(parts: list[str]) -> None:
    text = " ".join(parts)
    words = words_of(fold(text))
    if not words:
        return
    quoted = '"' + " ".join(words[:3]).replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert matches(parse_rule(quoted), post(text))
