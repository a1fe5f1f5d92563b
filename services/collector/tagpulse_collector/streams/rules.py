"""Stream rules in the X filtered-stream syntax: tokenizer, parser and the rule tree.

The documented subset that tagpulse matches itself (for the sample and Mastodon sources):

- `word`: a keyword, matched against the words of the post (a tokenized match: "music" matches
  "Music!" and "#music", not "musical"). A keyword with punctuation inside (`coca-cola`) matches
  its words in a row, like a phrase;
- `"exact phrase"`: those words in a row (`\\"` and `\\\\` escape a quote and a backslash);
- `#hashtag`: the post carries that hashtag (exact, not tokenized: `#music` does not match
  `#musicvideo`); `@name`: the post mentions that account;
- implicit AND (a space), `OR` (upper case), parentheses; AND binds tighter than OR, as on X:
  `a b OR c` is `(a b) OR c`;
- `-` negates a clause (`-is:retweet`, `-"new album"`), but not a group: write `-a -b`, not
  `-(a OR b)`, as X asks;
- `lang:xx`, `is:retweet`, `has:geo`: these need company, as on X: a rule needs at least one
  keyword, phrase, hashtag or mention that is not negated.

Case-insensitive, Unicode-aware (NFKC, case-folded: "ＭＵＳＩＣ" and "MUSIC" match "music") and,
like X's filtered stream, accent-sensitive ("música" is not "music"). Rules for the X source
are matched by X itself: they are parsed leniently (any `name:value` operator passes) only to
catch unbalanced quotes and parentheses before X sees them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tagpulse.hashtags import InvalidHashtag, normalize_hashtag
from tagpulse.text import quoted

MAX_RULE_LENGTH = 512
LOCAL_OPERATORS = ("lang:", "is:retweet", "has:geo")
_OPERATOR = re.compile(r"^([a-z_]+):(.+)$", re.DOTALL)
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")
_MENTION = re.compile(r"^[^\W_]?\w*(?:@[\w.-]+)?$")


class RuleSyntaxError(ValueError):
    """A rule that cannot be parsed; the message names the place and the problem."""


# --- the tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A keyword: one word, or the words of a keyword with punctuation inside, in a row."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class Phrase:
    """An "exact phrase", as written between the quotes."""

    text: str


@dataclass(frozen=True)
class Hashtag:
    name: str


@dataclass(frozen=True)
class Mention:
    name: str


@dataclass(frozen=True)
class Lang:
    code: str


@dataclass(frozen=True)
class IsRetweet:
    pass


@dataclass(frozen=True)
class HasGeo:
    pass


@dataclass(frozen=True)
class Operator:
    """An operator tagpulse does not match itself (`from:`, `has:images`): X rules only."""

    name: str
    value: str


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


Atom = Term | Phrase | Hashtag | Mention | Lang | IsRetweet | HasGeo | Operator
Node = Atom | Not | And | Or
STANDALONE = (Term, Phrase, Hashtag, Mention)


# --- words ---------------------------------------------------------------------------------


def fold(text: str) -> str:
    """The form rules and posts are compared in: NFKC, case-folded (accents kept). NFKC again
    after case folding, so that folding twice changes nothing."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def is_word_character(char: str) -> bool:
    # Letters, digits and combining marks of any script (without the marks Devanagari words
    # would fall apart), and underscores; everything else separates words.
    return char == "_" or unicodedata.category(char)[0] in "LNM"


def words_of(text: str) -> tuple[str, ...]:
    """The words of a (folded) text: runs of word characters."""
    words: list[str] = []
    start = -1
    for index, char in enumerate(text):
        if is_word_character(char):
            if start < 0:
                start = index
        elif start >= 0:
            words.append(text[start:index])
            start = -1
    if start >= 0:
        words.append(text[start:])
    return tuple(words)


# --- tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "word", "phrase", "OR"
    text: str
    position: int
    negated: bool = False


def _tokens(rule: str) -> list[_Token]:
    tokens: list[_Token] = []
    index, length = 0, len(rule)
    while index < length:
        char = rule[index]
        if char.isspace():
            index += 1
            continue
        start = index
        negated = False
        if char == "-":
            if index + 1 >= length or rule[index + 1].isspace() or rule[index + 1] == ")":
                raise RuleSyntaxError(f"at {index + 1}: '-' must be followed by what it negates")
            if rule[index + 1] == "(":
                raise RuleSyntaxError(
                    f"at {index + 1}: a group cannot be negated (as on X): negate each clause, "
                    "-a -b instead of -(a OR b)"
                )
            negated = True
            index += 1
            char = rule[index]
            if char == "-":
                raise RuleSyntaxError(f"at {index + 1}: '--' negates twice")
        if char in "()":
            tokens.append(_Token(char, char, start))
            index += 1
        elif char == '"':
            text, index = _phrase(rule, index)
            tokens.append(_Token("phrase", text, start, negated))
        else:
            end = index
            while end < length and not rule[end].isspace() and rule[end] not in '()"':
                end += 1
            word = rule[index:end]
            kind = "OR" if word == "OR" and not negated else "word"
            tokens.append(_Token(kind, word, start, negated))
            index = end
    return tokens


def _phrase(rule: str, index: int) -> tuple[str, int]:
    """The text of the phrase whose opening quote is at `index`, and the index after it."""
    chars: list[str] = []
    position = index + 1
    while position < len(rule):
        char = rule[position]
        if char == "\\" and position + 1 < len(rule) and rule[position + 1] in '"\\':
            chars.append(rule[position + 1])
            position += 2
        elif char == '"':
            return "".join(chars), position + 1
        else:
            chars.append(char)
            position += 1
    raise RuleSyntaxError(f"at {index + 1}: the quote is never closed")


# --- parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[_Token], strict: bool) -> None:
        self.tokens = tokens
        self.index = 0
        self.strict = strict

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def parse(self) -> Node:
        node = self.or_expression()
        token = self.peek()
        if token is not None:
            what = "')' without '('" if token.kind == ")" else f"unexpected {quoted(token.text)}"
            raise RuleSyntaxError(f"at {token.position + 1}: {what}")
        return node

    def or_expression(self) -> Node:
        branches = [self.and_expression()]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.index += 1
            following = self.peek()
            if following is None or following.kind in (")", "OR"):
                raise RuleSyntaxError(f"at {token.position + 1}: OR needs a clause on each side")
            branches.append(self.and_expression())
        return _join(Or, branches)

    def and_expression(self) -> Node:
        clauses: list[Node] = []
        while (token := self.peek()) is not None and token.kind not in (")", "OR"):
            clauses.append(self.clause())
        if not clauses:
            token = self.peek()
            where = f"at {token.position + 1}" if token is not None else "at the end"
            what = quoted(token.text) if token is not None else "nothing"
            raise RuleSyntaxError(f"{where}: expected a keyword, phrase or operator, found {what}")
        return _join(And, clauses)

    def clause(self) -> Node:
        token = self.peek()
        assert token is not None
        self.index += 1
        if token.kind == "(":
            inner = self.or_expression()
            closing = self.peek()
            if closing is None or closing.kind != ")":
                raise RuleSyntaxError(f"at {token.position + 1}: the parenthesis is never closed")
            self.index += 1
            return inner
        if token.kind == ")":
            raise RuleSyntaxError(f"at {token.position + 1}: ')' without '('")
        atom = self.atom(token)
        return Not(atom) if token.negated else atom

    def atom(self, token: _Token) -> Atom:
        where = f"at {token.position + 1}"
        if token.kind == "phrase":
            if not words_of(fold(token.text)):
                raise RuleSyntaxError(f"{where}: the phrase has no letters or digits to match")
            return Phrase(token.text)
        text = token.text
        if text.startswith("#"):
            try:
                return Hashtag(normalize_hashtag(text))
            except InvalidHashtag as error:
                raise RuleSyntaxError(f"{where}: {error}") from None
        if text.startswith("@"):
            name = fold(text[1:])
            if not name or not _MENTION.match(name):
                raise RuleSyntaxError(f"{where}: {quoted(text)} is not an account name")
            return Mention(name)
        operator = _OPERATOR.match(text)
        if operator:
            return self.operator(operator.group(1), operator.group(2), where)
        words = words_of(fold(text))
        if not words:
            raise RuleSyntaxError(f"{where}: {quoted(text)} has no letters or digits to match")
        return Term(words)

    def operator(self, name: str, value: str, where: str) -> Atom:
        if name == "lang":
            code = value.lower()
            if not _LANGUAGE.match(code):
                raise RuleSyntaxError(
                    f"{where}: {quoted(value)} is not a language code (lang:en, lang:pt-br)"
                )
            return Lang(code)
        if name == "is" and value == "retweet":
            return IsRetweet()
        if name == "has" and value == "geo":
            return HasGeo()
        if self.strict:
            raise RuleSyntaxError(
                f"{where}: the operator {name}:{value} is matched only by X; "
                f"this source supports {', '.join(LOCAL_OPERATORS)}"
            )
        return Operator(name, value)


def _join(kind: type[And] | type[Or], nodes: list[Node]) -> Node:
    # Nested groups of the same kind are one group: (a b) c is a b c.
    flat: list[Node] = []
    for node in nodes:
        flat.extend(node.children if isinstance(node, kind) else (node,))
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


def _has_positive_standalone(node: Node) -> bool:
    if isinstance(node, (And, Or)):
        return any(_has_positive_standalone(child) for child in node.children)
    return isinstance(node, STANDALONE)


def parse_rule(rule: str, strict: bool = True) -> Node:
    """The rule's tree; raises RuleSyntaxError. `strict`: only the operators tagpulse matches."""
    if not rule.strip():
        raise RuleSyntaxError("the rule is empty")
    if len(rule) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(f"the rule is longer than {MAX_RULE_LENGTH} characters")
    node = _Parser(_tokens(rule), strict).parse()
    if strict and not _has_positive_standalone(node):
        raise RuleSyntaxError(
            "the rule needs a keyword, phrase, #hashtag or @mention that is not negated "
            "(lang:, is: and has: only narrow one down, as on X)"
        )
    return node


# --- rendering -----------------------------------------------------------------------------


def render(node: Node) -> str:
    """A rule text that parses back to the same tree."""
    if isinstance(node, Or):
        return " OR ".join(render(child) for child in node.children)
    if isinstance(node, And):
        return " ".join(f"({render(c)})" if isinstance(c, Or) else render(c) for c in node.children)
    if isinstance(node, Not):
        return "-" + render(node.child)
    if isinstance(node, Term):
        return "-".join(node.words)
    if isinstance(node, Phrase):
        return '"' + node.text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(node, Hashtag):
        return f"#{node.name}"
    if isinstance(node, Mention):
        return f"@{node.name}"
    if isinstance(node, Lang):
        return f"lang:{node.code}"
    if isinstance(node, IsRetweet):
        return "is:retweet"
    if isinstance(node, HasGeo):
        return "has:geo"
    return f"{node.name}:{node.value}"
