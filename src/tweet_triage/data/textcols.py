"""Spark column expressions for tweet text, built from the patterns in tweet_triage.text.

`spark_normalise` must give exactly what `tweet_triage.text.normalise_text` gives (the model
trains on one and predicts with the other); tests/unit/data checks them on the same inputs.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from tweet_triage.text import HTML_ENTITIES, LINK_PATTERN, MENTION_PATTERN, WHITESPACE_PATTERN

# Letters, digits and '_' in any script: what a term's word boundary must not touch.
WORD_CHAR = r"[\p{L}\p{N}_]"


def spark_normalise(text: Column) -> Column:
    """The model's input text: links -> 'http', mentions -> '@user', entities, whitespace."""
    text = F.regexp_replace(text, LINK_PATTERN, "http")
    text = F.regexp_replace(text, MENTION_PATTERN, "@user")
    for entity, char in HTML_ENTITIES:
        text = F.replace(text, F.lit(entity), F.lit(char))
    return F.trim(F.regexp_replace(text, WHITESPACE_PATTERN, " "))


def spark_word_count(text: Column) -> Column:
    """Whitespace-separated tokens, as `tweet_triage.text.word_count` counts them."""
    return F.size(F.array_remove(F.split(text, WHITESPACE_PATTERN), "")).cast("int")


def content_word_count(text: Column) -> Column:
    """Words other than links and mentions: what a reader gets from the tweet itself.

    Counted on the whitespace-separated tokens with cheap prefix tests (no regex per token).
    """
    tokens = F.array_remove(F.split(text, WHITESPACE_PATTERN), "")

    def is_content(token: Column) -> Column:
        link = token.startswith("http://") | token.startswith("https://")
        link = link | token.startswith("www.")
        mention = token.startswith("@") & (F.length(token) > 1)
        return ~(link | mention)

    return F.size(F.filter(tokens, is_content)).cast("int")


def duplicate_key(model_text: Column) -> Column:
    """Texts that differ only in case, punctuation or spacing count as the same tweet.

    Text made only of punctuation keeps its normalised form, so it is not merged with
    every other such tweet.
    """
    stripped = F.regexp_replace(F.lower(model_text), r"[\p{P}\p{Z}\s]+", "")
    return F.when(stripped == "", model_text).otherwise(stripped)
