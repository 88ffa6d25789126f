"""Filter: keep the mission's tweets by the profile's keep and drop rules, with a reason each.

Keep terms, phrases and patterns are ORed; matching is case-insensitive on word boundaries in
any script, on the stored text with its hashtags (`#JWST` counts as `jwst`, `#JamesWebb` as the
phrase `james webb`); drop terms are escaped and matched on word boundaries (`god` drops `God`
but not `godspeed`).
Every tweet leaves with a decision, the first reason that applies, and the rule that matched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from py4j.protocol import Py4JJavaError
from pyspark.errors import IllegalArgumentException as PySparkIllegalArgument
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from tweet_triage.data.textcols import WORD_CHAR, content_word_count
from tweet_triage.profile import FilterSpec, ProfileError
from tweet_triage.text import WHITESPACE_PATTERN

KEPT = "kept"
DROPPED = "dropped"
# Reasons, checked in this order; the first that applies is recorded.
RETWEET = "retweet"
NO_KEEP_MATCH = "no_keep_match"
DROP_PREFIX = "drop:"
TOO_FEW_WORDS = "too_few_words"
KEEP_ALL = "all (profile has no keep rules)"


# What splits lower-cased text into its words for the term pre-check: runs of WORD_CHAR.
NOT_WORD_CHARS = r"[^\p{L}\p{N}_]+"


def words_of(lowered_text: Column) -> Column:
    """The words of lower-cased text (runs of letters, digits and '_'), for `TermMatcher`."""
    return F.split(lowered_text, NOT_WORD_CHARS)


def _first_word(term: str) -> str | None:
    """The first run of word characters of a term (as Java's \\p{L}, \\p{N} and '_')."""
    run = ""
    for char in term:
        if unicodedata.category(char)[0] in "LN" or char == "_":
            run += char
        elif run:
            break
    return run or None


@dataclass(frozen=True)
class TermMatcher:
    """One alternation of lower-case literal terms, and the rule each variant names.

    It runs on the lower-cased text: one `lower()` per tweet is much cheaper than Java's
    case-insensitive matching of every alternative at every position. And it runs only on
    texts that hold the first word of some term (`first_words`, a hash lookup per word):
    a term found on word boundaries always brings its first word along as a whole word,
    so the check never skips a match, and most tweets are not matched by most rules.
    """

    pattern: str
    rules: dict[str, str]
    first_words: tuple[str, ...] | None  # None: a term without word characters

    def rule(self, lowered_text: Column, words: Column) -> Column:
        """The rule of the first term found in the lower-cased text, or null.

        `words` is `words_of(lowered_text)`, computed once per tweet by the caller.
        """
        found = F.regexp_extract(lowered_text, self.pattern, 1)
        if self.first_words is not None:
            candidates = F.array(*[F.lit(word) for word in self.first_words])
            found = F.when(F.arrays_overlap(words, candidates), found)
        key = F.regexp_replace(found, WHITESPACE_PATTERN, " ")
        lookup = F.create_map(*[F.lit(x) for pair in self.rules.items() for x in pair])
        return F.try_element_at(lookup, key)  # '' (no match) or null is not a key: null


def _spelled(term: str) -> str:
    """A term as a regex: each word escaped, any run of whitespace between words."""
    return WHITESPACE_PATTERN.join(re.escape(word) for word in term.lower().split())


def term_matcher(terms: dict[str, str]) -> TermMatcher | None:
    """Match any of `terms` (term -> rule name) as whole words in lower-cased text.

    A multi-word term also matches written as one hashtag: 'james webb' finds '#JamesWebb'.
    Longer terms come first, so the most specific one is reported.
    """
    variants: dict[str, str] = {}
    regexes: dict[str, str] = {}
    for term, rule in terms.items():
        words = term.split()
        if not words:
            continue
        variants[" ".join(words).lower()] = rule
        regexes[" ".join(words).lower()] = _spelled(term)
        if len(words) > 1:
            hashtag = "#" + "".join(words).lower()
            variants[hashtag] = rule
            regexes[hashtag] = re.escape(hashtag)
    if not regexes:
        return None
    alternatives = sorted(regexes.values(), key=len, reverse=True)
    pattern = f"(?<!{WORD_CHAR})({'|'.join(alternatives)})(?!{WORD_CHAR})"
    first_words = [_first_word(variant) for variant in variants]
    checkable = all(first_words)
    return TermMatcher(
        pattern,
        variants,
        tuple(sorted(set(first_words))) if checkable else None,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class DropGroup:
    name: str
    terms: TermMatcher | None
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class CompiledFilter:
    """A profile's filter section as Spark expressions (built once, checked by Java)."""

    keep_terms: TermMatcher | None
    keep_patterns: tuple[str, ...]
    drop_groups: tuple[DropGroup, ...]
    min_words: int
    exclude_retweets: bool

    @property
    def keeps_everything(self) -> bool:
        return self.keep_terms is None and not self.keep_patterns

    def regexes(self) -> list[str]:
        found = [m.pattern for m in (self.keep_terms,) if m] + list(self.keep_patterns)
        for group in self.drop_groups:
            found += [group.terms.pattern] if group.terms else []
            found += list(group.patterns)
        return found


def _user_pattern(pattern: str) -> str:
    return f"(?iu){pattern}"


def compile_filter(spec: FilterSpec) -> CompiledFilter:
    keep = {t: f"term:{' '.join(t.split()).lower()}" for t in spec.keep_terms}
    keep |= {p: f"phrase:{' '.join(p.split()).lower()}" for p in spec.keep_phrases}
    groups = []
    for name in dict.fromkeys([*spec.drop_terms, *spec.drop_patterns]):
        terms = {t: f"{name}:{' '.join(t.split()).lower()}" for t in spec.drop_terms.get(name, [])}
        patterns = tuple(_user_pattern(p) for p in spec.drop_patterns.get(name, []))
        groups.append(DropGroup(name, term_matcher(terms), patterns))
    return CompiledFilter(
        keep_terms=term_matcher(keep),
        keep_patterns=tuple(_user_pattern(p) for p in spec.keep_patterns),
        drop_groups=tuple(groups),
        min_words=spec.min_words,
        exclude_retweets=spec.exclude_retweets,
    )


def check_java_regexes(spark: SparkSession, compiled: CompiledFilter, profile_file: str) -> None:
    """Spark matches with Java's regex engine; reject what it cannot compile, naming the file."""
    pattern_class = spark.sparkContext._jvm.java.util.regex.Pattern  # type: ignore[union-attr]
    for pattern in compiled.regexes():
        try:
            pattern_class.compile(pattern)
        except (Py4JJavaError, PySparkIllegalArgument) as exc:
            detail = str(exc).strip().splitlines()[0]
            raise ProfileError(
                f"{profile_file}: filter pattern {pattern.removeprefix('(?iu)')!r} is not a valid "
                f"Java regular expression ({detail}); fix or remove it in that file"
            ) from exc


def _pattern_rule(text: Column, patterns: tuple[str, ...], label: str) -> Column:
    return F.coalesce(
        *[F.when(text.rlike(p), F.lit(f"{label}{p.removeprefix('(?iu)')}")) for p in patterns],
        F.lit(None).cast("string"),
    )


def apply_filter(tweets: DataFrame, compiled: CompiledFilter) -> DataFrame:
    """Add matched_rule, drop_rule, content_words, reason and decision to every tweet.

    Each rule set is evaluated once per tweet, and only where it can change the outcome:
    drop rules for tweets a keep rule matched, the word count for tweets not dropped.
    """
    text, lowered, words = F.col("text"), F.col("_lowered"), F.col("_words")
    tweets = tweets.select("*", F.lower(text).alias("_lowered")).select(
        "*", words_of(lowered).alias("_words")
    )
    if compiled.keeps_everything:
        keep_rule = F.lit(KEEP_ALL)
    else:
        keep_rules = [compiled.keep_terms.rule(lowered, words)] if compiled.keep_terms else []
        keep_rule = F.coalesce(*keep_rules, _pattern_rule(text, compiled.keep_patterns, "pattern:"))
    retweet = F.col("is_retweet") if compiled.exclude_retweets else F.lit(False)
    group_hits = []  # '<group>\t<rule>' for the first group that matches
    for group in compiled.drop_groups:
        rules = [group.terms.rule(lowered, words)] if group.terms else []
        rule = F.coalesce(*rules, _pattern_rule(text, group.patterns, f"{group.name}:pattern:"))
        group_hits.append(F.concat(F.lit(f"{group.name}\t"), rule))
    candidate = F.col("matched_rule").isNotNull() & ~F.coalesce(retweet, F.lit(False))
    first_hit = F.coalesce(*group_hits, F.lit(None).cast("string"))
    with_drops = tweets.select("*", keep_rule.alias("matched_rule")).select(
        "*", F.when(candidate, first_hit).alias("_hit")
    )
    not_dropped = candidate & F.col("_hit").isNull()
    flagged = with_drops.select(
        "*",
        F.substring_index("_hit", "\t", -1).alias("drop_rule"),
        F.when(not_dropped, content_word_count(text)).alias("content_words"),
    )
    reason = (
        F.when(F.coalesce(retweet, F.lit(False)), RETWEET)
        .when(F.col("matched_rule").isNull(), NO_KEEP_MATCH)
        .when(
            F.col("_hit").isNotNull(),
            F.concat(F.lit(DROP_PREFIX), F.substring_index("_hit", "\t", 1)),
        )
        .when(F.col("content_words") < compiled.min_words, TOO_FEW_WORDS)
        .otherwise(KEPT)
    )
    return (
        flagged.withColumn("reason", reason)
        .withColumn("decision", F.when(F.col("reason") == KEPT, KEPT).otherwise(DROPPED))
        .drop("_hit", "_lowered", "_words")
    )
