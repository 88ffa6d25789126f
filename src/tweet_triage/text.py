"""Tweet text normalisation for the model, defined once for Python and for Spark.

Tweet models are trained on text where mentions read `@user` and links read `http`
(TweetEval / cardiffnlp convention), with HTML entities unescaped and whitespace collapsed.
The data stage applies it in Spark (`tweet_triage.data.textcols.spark_normalise`), training
and `predict` apply `normalise_text`; the patterns below are the single source for both, and
a test checks the two agree on the same inputs.

The patterns avoid `\\s`, `\\S` and `\\w`: Python and Java disagree on what they match
outside ASCII, so whitespace and handle characters are spelled out as explicit classes that
both engines read the same way.
"""

from __future__ import annotations

import re

# Exactly the characters Python's str.isspace() accepts (so `str.split()` and these agree).
WHITESPACE_CHARS = (
    r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
WHITESPACE_PATTERN = f"[{WHITESPACE_CHARS}]+"
# Links first, so an '@' inside a URL is not taken for a mention.
LINK_PATTERN = f"https?://[^{WHITESPACE_CHARS}]+|www\\.[^{WHITESPACE_CHARS}]+"
# An X handle: '@' plus [A-Za-z0-9_], not preceded by a handle character (so e-mail
# addresses are left alone).
MENTION_PATTERN = r"(?<![A-Za-z0-9_])@[A-Za-z0-9_]+"
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
    return _WHITESPACE.sub(" ", text).strip(" ")


def word_count(text: str) -> int:
    """Words as a reader counts them: whitespace-separated tokens of the original text."""
    return len(text.split())
