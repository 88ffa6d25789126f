"""Tweet text normalisation for the model, defined once for Python and for Spark.

Tweet models are trained on text where mentions read `@user` and links read `http`
(TweetEval / cardiffnlp convention), with HTML entities unescaped and whitespace collapsed.
The data stage applies it in Spark (`spark_normalise` in tweet_triage.data), training and
`predict` apply `normalise_text`; the patterns below are the single source for both, and a
test checks the two agree on the same inputs.
"""

from __future__ import annotations

import re

# (Java regex for Spark, Python regex, replacement). Order matters: links before mentions, so
# an '@' inside a URL is not taken for a mention.
LINK_PATTERN = r"https?://\S+|www\.\S+"
MENTION_PATTERN = r"@\w{1,15}"
WHITESPACE_PATTERN = r"\s+"
# The entities X actually sends in tweet text.
HTML_ENTITIES: tuple[tuple[str, str], ...] = (
    ("&lt;", "<"),
    ("&gt;", ">"),
    ("&quot;", '"'),
    ("&#39;", "'"),
    ("&apos;", "'"),
    ("&amp;", "&"),  # last, so '&amp;lt;' becomes '&lt;' as a browser shows it
)

_LINK = re.compile(LINK_PATTERN)
_MENTION = re.compile(MENTION_PATTERN)
_WHITESPACE = re.compile(WHITESPACE_PATTERN)


def normalise_text(text: str) -> str:
    """The model's input text: links -> 'http', mentions -> '@user', entities, whitespace."""
    text = _LINK.sub("http", text)
    text = _MENTION.sub("@user", text)
    for entity, char in HTML_ENTITIES:
        text = text.replace(entity, char)
    return _WHITESPACE.sub(" ", text).strip()


def word_count(text: str) -> int:
    """Words as a reader counts them: whitespace-separated tokens of the original text."""
    return len(text.split())
