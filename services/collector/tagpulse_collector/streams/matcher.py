"""Local matching of stream rules (see `rules.py` for the syntax) against posts.

A post becomes a `Candidate` once (its text folded and split into words), then every rule of a
stream is evaluated against it. Scripts written without spaces (Chinese, Japanese, Thai) have no
words to split: a keyword or phrase in such a script matches anywhere in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

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
    Term,
    fold,
    parse_rule,
    words_of,
)

# Han, kana, Hangul syllables are spaced but CJK ideographs are not; Thai, Lao, Khmer, Myanmar.
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0002fa1f]"
)
_MENTIONED = re.compile(r"(?<![\w@])@(\w+(?:@[\w.-]+\w)?)")


@dataclass(frozen=True)
class Candidate:
    """What rules look at in a post."""

    text: str
    language: str = "und"
    # Case-folded, without '#' (as `tagpulse.hashtags.normalize_hashtag` makes them).
    hashtags: frozenset[str] = frozenset()
    # Account names the post mentions, case-folded, without '@'.
    mentions: frozenset[str] = frozenset()
    is_retweet: bool = False
    has_geo: bool = False

    @cached_property
    def folded(self) -> str:
        return fold(self.text)

    @cached_property
    def words(self) -> tuple[str, ...]:
        return words_of(self.folded)

    @cached_property
    def word_set(self) -> frozenset[str]:
        return frozenset(self.words)

    @cached_property
    def spaced(self) -> str:
        # The words joined by single spaces, padded: phrases are found with `in`.
        return " " + " ".join(self.words) + " "


def mentions_in(text: str) -> frozenset[str]:
    """The accounts a text mentions with @name (or @name@instance)."""
    names: set[str] = set()
    for match in _MENTIONED.finditer(fold(text)):
        name = match.group(1)
        names.add(name)
        names.add(name.split("@", 1)[0])
    return frozenset(names)


def _unspaced(text: str) -> bool:
    return _UNSPACED.search(text) is not None


def _words_in_a_row(words: Sequence[str], candidate: Candidate) -> bool:
    if len(words) == 1:
        word = words[0]
        return word in candidate.word_set or (_unspaced(word) and word in candidate.folded)
    joined = " ".join(words)
    if _unspaced(joined):
        return "".join(words) in "".join(candidate.words)
    return f" {joined} " in candidate.spaced


def matches(node: Node, candidate: Candidate) -> bool:
    """Whether a rule tree matches a post."""
    if isinstance(node, Or):
        return any(matches(child, candidate) for child in node.children)
    if isinstance(node, And):
        return all(matches(child, candidate) for child in node.children)
    if isinstance(node, Not):
        return not matches(node.child, candidate)
    if isinstance(node, Term):
        return _words_in_a_row(node.words, candidate)
    if isinstance(node, Phrase):
        return _words_in_a_row(words_of(fold(node.text)), candidate)
    if isinstance(node, Hashtag):
        return node.name in candidate.hashtags
    if isinstance(node, Mention):
        return node.name in candidate.mentions
    if isinstance(node, Lang):
        language = candidate.language.lower()
        return language == node.code or language.startswith(node.code + "-")
    if isinstance(node, IsRetweet):
        return candidate.is_retweet
    if isinstance(node, HasGeo):
        return candidate.has_geo
    assert isinstance(node, Operator)
    raise ValueError(f"the operator {node.name}: is matched only by X")


@dataclass(frozen=True)
class RuleSet:
    """A stream's rules, parsed once; `matching` gives the indexes of the rules a post matches."""

    trees: tuple[Node, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, values: Iterable[str]) -> RuleSet:
        return cls(tuple(parse_rule(value) for value in values))

    def matching(self, candidate: Candidate) -> list[int]:
        return [index for index, tree in enumerate(self.trees) if matches(tree, candidate)]
