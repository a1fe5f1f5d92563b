"""The stream rule parser: the documented subset of X's filtered-stream syntax."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tagpulse_collector.streams.rules import (
    And,
    HasGeo,
    Hashtag,
    IsRetweet,
    Lang,
    Mention,
    Node,
    Not,
    Operator,
    Or,
    Phrase,
    RuleSyntaxError,
    Term,
    fold,
    parse_rule,
    render,
    words_of,
)


@pytest.mark.parametrize(
    ("rule", "tree"),
    [
        ("music", Term(("music",))),
        ("MUSIC", Term(("music",))),
        ("ＭＵＳＩＣ", Term(("music",))),
        ('"justin bieber"', Phrase("justin bieber")),
        (
            '"justin bieber" (music OR #music)',
            And((Phrase("justin bieber"), Or((Term(("music",)), Hashtag("music"))))),
        ),
        ("a b OR c d", Or((And((Term(("a",)), Term(("b",)))), And((Term(("c",)), Term(("d",))))))),
        ("(a b) c", And((Term(("a",)), Term(("b",)), Term(("c",))))),
        ("a OR (b OR c)", Or((Term(("a",)), Term(("b",)), Term(("c",))))),
        ("coca-cola", Term(("coca", "cola"))),
        ("#DevOps", Hashtag("devops")),
        ("@JustinBieber", Mention("justinbieber")),
        ("@user@mastodon.social", Mention("user@mastodon.social")),
        ("cat -is:retweet", And((Term(("cat",)), Not(IsRetweet())))),
        ("cat lang:EN has:geo", And((Term(("cat",)), Lang("en"), HasGeo()))),
        ("cat lang:pt-br", And((Term(("cat",)), Lang("pt-br")))),
        ('cat -"grumpy cat"', And((Term(("cat",)), Not(Phrase("grumpy cat"))))),
        ('"say \\"hi\\""', Phrase('say "hi"')),
        ("música", Term(("música",))),
        ("or", Term(("or",))),
        ("cat -OR", And((Term(("cat",)), Not(Term(("or",)))))),
        ("Note: cats", And((Term(("note",)), Term(("cats",))))),
        ("भारत", Term(("भारत",))),
    ],
)
def test_rules_parse_to_their_tree(rule: str, tree: Node) -> None:
    assert parse_rule(rule) == tree


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ('"justin bieber', "never closed"),
        ("(a OR b", "never closed"),
        ("a OR b)", "')' without '('"),
        ("a OR", "OR needs a clause"),
        ("OR a", "expected a keyword"),
        ("a OR OR b", "OR needs a clause"),
        ("()", "expected a keyword"),
        ("- a", "must be followed"),
        ("a -", "must be followed"),
        ("--a", "negates twice"),
        ("a -(b OR c)", "a group cannot be negated"),
        ("is:retweet", "needs a keyword"),
        ("has:geo OR lang:en", "needs a keyword"),
        ("-cat", "needs a keyword"),
        ("cat from:bieber", "matched only by X"),
        ("cat has:images", "matched only by X"),
        ("cat lang:english!", "not a language code"),
        ("#", "not a hashtag"),
        ("#not-a-tag", "not a hashtag"),
        ("@", "not an account name"),
        ("!!!", "no letters or digits"),
        ('""', "no letters or digits"),
        ("a" * 513, "longer than 512"),
    ],
)
def test_bad_rules_say_what_is_wrong(rule: str, problem: str) -> None:
    with pytest.raises(RuleSyntaxError, match=re.escape(problem)):
        parse_rule(rule)


def test_x_rules_keep_the_operators_only_x_matches() -> None:
    assert parse_rule("cat from:bieber has:images", strict=False) == And(
        (Term(("cat",)), Operator("from", "bieber"), Operator("has", "images"))
    )
    # Syntax is still checked before X sees the rule; X decides what needs company.
    with pytest.raises(RuleSyntaxError, match="never closed"):
        parse_rule('"cat', strict=False)
    assert parse_rule("has:images", strict=False) == Operator("has", "images")


def test_words_split_on_punctuation_symbols_and_separators() -> None:
    assert words_of(fold("Justin Bieber's NEW #Music!!! 🎶 coca-cola")) == (
        "justin",
        "bieber",
        "s",
        "new",
        "music",
        "coca",
        "cola",
    )
    # Combining marks stay inside their word.
    assert words_of(fold("नमस्ते दुनिया")) == ("नमस्ते", "दुनिया")


# --- properties -------------------------------------------------------------------------------

WORD_ALPHABET = st.sampled_from("abcxyzéßİΣσ日本ñ0129_ＡＢ")
words = st.text(WORD_ALPHABET, min_size=1, max_size=6).map(lambda t: words_of(fold(t))).filter(bool)
terms = words.map(Term)
phrases = (
    st.text(st.sampled_from('ab c"\\é日,-'), min_size=1, max_size=10)
    .filter(lambda t: bool(words_of(fold(t))))
    .map(Phrase)
)
hashtags = st.text(st.sampled_from("abcdefé_09"), min_size=1, max_size=8).map(lambda t: Hashtag(fold(t)))
mentions = st.text(st.sampled_from("abcxyz09"), min_size=1, max_size=8).map(Mention)
standalone = st.one_of(terms, phrases, hashtags, mentions)
narrowing = st.one_of(
    st.just(IsRetweet()), st.just(HasGeo()), st.sampled_from(["en", "es", "pt-br"]).map(Lang)
)
clauses = st.one_of(standalone, narrowing, st.one_of(standalone, narrowing).map(Not))


def _and(children: list[Node]) -> Node:
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, And) else (child,))
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def _or(children: list[Node]) -> Node:
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, Or) else (child,))
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


trees = st.recursive(
    clauses,
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map(_and), st.lists(inner, min_size=2, max_size=3).map(_or)
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(trees)
def test_a_rendered_tree_parses_back_to_itself(tree: Node) -> None:
    assert parse_rule(render(tree), strict=False) == tree


@settings(max_examples=300)
@given(st.text(st.sampled_from('ab "()-#@:OR\\ lang:en'), max_size=40))
def test_any_text_parses_or_says_why(text: str) -> None:
    try:
        tree = parse_rule(text)
    except RuleSyntaxError as error:
        message = str(error)
        tree = None
    if tree is None:
        assert message
    else:
        assert parse_rule(render(tree)) == tree


@given(st.text(max_size=30))
def test_folding_twice_changes_nothing(text: str) -> None:
    assert fold(fold(text)) == fold(text)
