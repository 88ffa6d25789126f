"""X filtered-stream rules: parse them as X does, and match them against Tweet objects.

Supported operators (the ones the mission profiles use, evaluated on the data the corpus has):
keywords (case-insensitive, token-aware: `webb` does not match `webbing`), "exact phrases",
`#hashtag`, `@mention`, `OR`, implicit AND (a space), `( )` grouping, `-` negation, `lang:`,
`is:retweet`, `is:reply`, `has:links`, `has:hashtags`, `has:mentions`. Precedence as X
documents: AND binds tighter than OR, so `a b OR c` is `(a b) OR c`.

A rule is rejected at add time, with X's `details` wording style and a 1-based position, when
it cannot be parsed, negates a group, names an unknown operator, uses an X operator the stand-in
has no data for (`from:`, `has:images`, ...), or has no positive standalone operator (X requires
one: a rule of only negations, `is:`, `has:` and `lang:` is refused).

Tokenisation follows X's description: the text is split at punctuation, symbols and separators
(anything but letters and digits) and compared case-insensitively; link text (t.co URLs) is left
out, so `co` or `http` never match every tweet with a link. A keyword that itself contains
punctuation (`covid-19`, `don't`) matches its tokens as a sequence, like a phrase.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_RULE_LENGTH = 1024  # X Pro's limit for one rule's value
_TOKEN = re.compile(r"[^\W_]+")
_LANG_CODE = re.compile(r"^(?:[a-z]{2,3}|und|qme|qht|qam|zxx|in|iw)(?:-[a-z]{2,4})?$")

# Operators X knows but whose data the corpus does not have; refused rather than never matching.
_KNOWN_UNSUPPORTED = {
    "from", "to", "url", "retweets_of", "context", "entity", "conversation_id", "bio",
    "bio_name", "bio_location", "place", "place_country", "point_radius", "bounding_box",
    "sample", "followers_count", "tweets_count", "following_count", "listed_count",
    "url_title", "url_description", "in_reply_to_tweet_id", "retweets_of_tweet_id",
    "quotes_of_tweet_id", "source",
}  # fmt: skip
_IS_VALUES = {"retweet", "reply"}
_IS_UNSUPPORTED = {"quote", "verified", "nullcast"}
_HAS_VALUES = {"links", "hashtags", "mentions"}
_HAS_UNSUPPORTED = {"media", "images", "videos", "geo", "cashtags"}


class RuleSyntaxError(ValueError):
    """A rule X would refuse; `detail` is the message X puts in the error's `details`."""

    def __init__(self, detail: str, position: int | None = None) -> None:
        self.detail = detail if position is None else f"{detail} (at position {position})"
        super().__init__(self.detail)


@dataclass(frozen=True, slots=True)
class TweetView:
    """What rules look at in one tweet, computed once per tweet (not once per rule).

    Tokens are a tuple of interned strings rather than a set: a corpus of 50k tweets then takes
    about a fifth of the memory, and membership in ~20 tokens is as fast either way.
    """

    tokens: tuple[str, ...]
    token_line: str  # " tok1 tok2 ... " for phrase matching
    folded_text: str
    hashtags: tuple[str, ...]
    mentions: tuple[str, ...]
    lang: str | None
    is_retweet: bool
    is_reply: bool
    has_links: bool

    @classmethod
    def from_tweet(cls, tweet: Mapping[str, Any]) -> TweetView:
        text: str = tweet.get("text", "")
        entities = tweet.get("entities") or {}
        urls = entities.get("urls") or []
        if urls:  # blank out link text before tokenising
            chars = list(text)
            for url in urls:
                chars[url["start"] : url["end"]] = " " * (url["end"] - url["start"])
            text_without_links = "".join(chars)
        else:
            text_without_links = text
        tokens = tuple(map(sys.intern, tokenize(text_without_links)))
        referenced = {ref.get("type") for ref in tweet.get("referenced_tweets") or []}
        return cls(
            tokens=tokens,
            token_line=f" {' '.join(tokens)} ",
            folded_text=text.casefold(),
            hashtags=tuple(h["tag"].casefold() for h in entities.get("hashtags") or ()),
            mentions=tuple(m["username"].casefold() for m in entities.get("mentions") or ()),
            lang=tweet.get("lang"),
            is_retweet="retweeted" in referenced,
            is_reply="replied_to" in referenced,
            has_links=bool(urls),
        )


def tokenize(text: str) -> list[str]:
    """X-style tokens: runs of letters and digits, case-folded."""
    return _TOKEN.findall(text.casefold())


Predicate = Callable[[TweetView], bool]


@dataclass(frozen=True)
class _Node:
    predicate: Predicate
    # True when the node guarantees a positive standalone operator on every matching path.
    anchored: bool
    # Set for a plain keyword (or an OR of them): matches when the tweet has any of these tokens.
    any_token: frozenset[str] | None = None


def _any_of(predicates: list[Predicate]) -> Predicate:
    """OR without generator overhead (this runs per tweet per rule at >20k tweets/s)."""
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda t: first(t) or second(t)

    def any_match(t: TweetView) -> bool:
        for predicate in predicates:  # noqa: SIM110 (a loop is faster than any(generator))
            if predicate(t):
                return True
        return False

    return any_match


def _all_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 2:
        first, second = predicates
        return lambda t: first(t) and second(t)

    def all_match(t: TweetView) -> bool:
        for predicate in predicates:  # noqa: SIM110 (a loop is faster than all(generator))
            if not predicate(t):
                return False
        return True

    return all_match


# --- lexer --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # "(" ")" "OR" "TERM" "PHRASE"
    text: str
    position: int  # 1-based
    negated: bool = False


def _lex(rule: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(rule)
    while i < n:
        char = rule[i]
        if char.isspace():
            i += 1
            continue
        start = i
        negated = False
        if char == "-":
            if i + 1 >= n or rule[i + 1].isspace():
                raise RuleSyntaxError("A negation '-' must be followed by an operator", i + 1)
            negated = True
            i += 1
            char = rule[i]
        if char in "()":
            tokens.append(_Token(char, char, start + 1, negated))
            i += 1
        elif char == '"':
            j = i + 1
            chunk: list[str] = []
            while j < n and rule[j] != '"':
                if rule[j] == "\\" and j + 1 < n:
                    j += 1
                chunk.append(rule[j])
                j += 1
            if j >= n:
                raise RuleSyntaxError("Unterminated quoted phrase", start + 1)
            tokens.append(_Token("PHRASE", "".join(chunk), start + 1, negated))
            i = j + 1
        else:
            j = i
            while j < n and not rule[j].isspace() and rule[j] not in "()":
                if rule[j] == '"':
                    raise RuleSyntaxError("Unexpected '\"' inside a keyword", j + 1)
                j += 1
            word = rule[i:j]
            kind = "OR" if word == "OR" and not negated else "TERM"
            tokens.append(_Token(kind, word, start + 1, negated))
            i = j
    return tokens


# --- parser ------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def parse(self) -> _Node:
        node = self.or_expr()
        extra = self.peek()
        if extra is not None:
            what = "Unbalanced ')'" if extra.kind == ")" else f"Unexpected '{extra.text}'"
            raise RuleSyntaxError(what, extra.position)
        return node

    def or_expr(self) -> _Node:
        branches = [self.and_expr()]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.index += 1
            if self.peek() is None or self.peek().kind in ("OR", ")"):  # type: ignore[union-attr]
                raise RuleSyntaxError("'OR' must be followed by an operator", token.position)
            branches.append(self.and_expr())
        if len(branches) == 1:
            return branches[0]
        anchored = all(b.anchored for b in branches)
        # keywords OR-ed together become one set test instead of one call each
        words = frozenset().union(*(b.any_token for b in branches if b.any_token is not None))
        predicates = [b.predicate for b in branches if b.any_token is None]
        if words:
            predicates.insert(0, lambda t: not words.isdisjoint(t.tokens))
        if len(predicates) == 1 and words:
            return _Node(predicates[0], anchored, words)
        return _Node(_any_of(predicates), anchored)

    def and_expr(self) -> _Node:
        parts: list[_Node] = []
        while (token := self.peek()) is not None and token.kind not in ("OR", ")"):
            parts.append(self.unary())
        if not parts:
            token = self.peek()
            where = token.position if token else None
            what = f"'{token.text}'" if token else "end of rule"
            raise RuleSyntaxError(f"Expected an operator before {what}", where)
        if len(parts) == 1:
            return parts[0]
        return _Node(_all_of([p.predicate for p in parts]), any(p.anchored for p in parts))

    def unary(self) -> _Node:
        token = self.tokens[self.index]
        self.index += 1
        if token.kind == "(":
            if token.negated:
                raise RuleSyntaxError(
                    "Negating a group is not supported; negate each operator instead",
                    token.position,
                )
            inner = self.or_expr()
            closing = self.peek()
            if closing is None or closing.kind != ")":
                raise RuleSyntaxError("Unbalanced '(': missing ')'", token.position)
            self.index += 1
            return inner
        if token.kind == ")":
            raise RuleSyntaxError("Unbalanced ')'", token.position)
        node = _leaf(token)
        if token.negated:
            predicate = node.predicate
            return _Node(lambda t: not predicate(t), False)
        return node


def _leaf(token: _Token) -> _Node:
    if token.kind == "PHRASE":
        return _text_node(token.text, token, phrase=True)
    word = token.text
    if word.startswith("#") and len(word) > 1:
        tag = word[1:].casefold()
        return _Node(lambda t: tag in t.hashtags, True)
    if word.startswith("@") and len(word) > 1:
        name = word[1:].casefold()
        if not re.fullmatch(r"\w{1,15}", name, flags=re.ASCII):
            raise RuleSyntaxError(f"Invalid username in '{word}'", token.position)
        return _Node(lambda t: name in t.mentions, True)
    operator = re.fullmatch(r"([a-z_]+):(.*)", word)
    if operator:
        return _operator(operator.group(1), operator.group(2), token)
    return _text_node(word, token, phrase=False)


def _text_node(text: str, token: _Token, *, phrase: bool) -> _Node:
    words = tokenize(text)
    if not text.strip():
        raise RuleSyntaxError("Empty quoted phrase", token.position)
    if not words:  # emoji or symbols only: X matches them as characters in the text
        folded = text.casefold()
        return _Node(lambda t: folded in t.folded_text, True)
    if len(words) == 1 and not phrase:
        word = words[0]
        return _Node(lambda t: word in t.tokens, True, frozenset(words))
    line = f" {' '.join(words)} "
    return _Node(lambda t: line in t.token_line, True)


def _operator(name: str, value: str, token: _Token) -> _Node:
    if name == "lang":
        code = value.casefold()
        if not _LANG_CODE.fullmatch(code):
            raise RuleSyntaxError(
                f"'{value}' is not a valid language code for lang:", token.position
            )
        return _Node(lambda t: t.lang == code, False)
    if name == "is":
        if value == "retweet":
            return _Node(lambda t: t.is_retweet, False)
        if value == "reply":
            return _Node(lambda t: t.is_reply, False)
        if value in _IS_UNSUPPORTED:
            raise RuleSyntaxError(_no_data(f"is:{value}"), token.position)
        raise RuleSyntaxError(f"Reference to invalid operator 'is:{value}'", token.position)
    if name == "has":
        if value == "links":
            return _Node(lambda t: t.has_links, False)
        if value == "hashtags":
            return _Node(lambda t: bool(t.hashtags), False)
        if value == "mentions":
            return _Node(lambda t: bool(t.mentions), False)
        if value in _HAS_UNSUPPORTED:
            raise RuleSyntaxError(_no_data(f"has:{value}"), token.position)
        raise RuleSyntaxError(f"Reference to invalid operator 'has:{value}'", token.position)
    if name in _KNOWN_UNSUPPORTED:
        raise RuleSyntaxError(_no_data(f"{name}:"), token.position)
    raise RuleSyntaxError(f"Reference to invalid operator '{name}'", token.position)


def _no_data(operator: str) -> str:
    return (
        f"The local stand-in cannot evaluate '{operator}': the demo corpus has no data for it "
        f"(X itself accepts it)"
    )


@dataclass(frozen=True)
class CompiledRule:
    """A validated rule and its matcher."""

    value: str
    predicate: Predicate

    def matches(self, tweet: TweetView) -> bool:
        return self.predicate(tweet)


def compile_rule(value: str) -> CompiledRule:
    """Parse and validate one rule value; raise RuleSyntaxError with X-style details."""
    if not isinstance(value, str) or not value.strip():
        raise RuleSyntaxError("Rule value must be a non-empty string")
    if len(value) > MAX_RULE_LENGTH:
        raise RuleSyntaxError(
            f"Rule length is {len(value)} characters; the maximum is {MAX_RULE_LENGTH}"
        )
    node = _Parser(_lex(value)).parse()
    if not node.anchored:
        raise RuleSyntaxError(
            "Rules must contain at least one positive, standalone operator (a keyword, "
            '"phrase", #hashtag or @mention); is:, has:, lang: and negations only narrow a rule',
            1,
        )
    return CompiledRule(value, node.predicate)
