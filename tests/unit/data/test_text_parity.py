"""The Spark normalisation and word count must equal the Python ones the model uses."""

from __future__ import annotations

import gzip
import json

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from tweet_triage.config import CORPUS_DIR
from tweet_triage.data.textcols import spark_normalise, spark_word_count
from tweet_triage.text import normalise_text, word_count

TRICKY = [
    "plain words only",
    "  leading and trailing  ",
    "@NASA @NASAWebb: when? https://t.co/AbC123?x=@y #JWST",
    "mail me@example.com or @me_2 or @ alone",
    "www.nasa.gov/webb and http://a.b/c\u00a0next",
    "&amp;lt; &lt;3 &gt; &quot;q&quot; &#39;s &apos;t &amp;amp;",
    "tabs\tinside\ttext and\r\nnewlines\n\nhere",
    "nbsp\u00a0ideographic\u3000thin\u2009line\u2028sep\x1cfile sep",
    "zero\u200bwidth stays joined",
    "emoji 🚀🔭 and combining e\u0301 and 東京 @東京",
    "RT @user_name_longer_than_fifteen: hi",
    "",
    "   ",
    "http://only.link",
]


def corpus_texts(limit: int = 3000) -> list[str]:
    """Real tweets from the bundled corpus, when it is there."""
    path = CORPUS_DIR / "tweets.jsonl.gz"
    if not path.is_file():
        return []
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            texts.append(json.loads(line)["text"])
            if len(texts) >= limit:
                break
    return texts


@pytest.mark.parametrize("source", ["tricky", "corpus"])
def test_spark_and_python_agree(spark: SparkSession, source: str) -> None:
    texts = TRICKY if source == "tricky" else corpus_texts()
    if not texts:
        pytest.skip("the bundled corpus is not built yet (tweet-triage corpus build)")
    frame = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "i int, text string")
    rows = frame.select(
        "i",
        spark_normalise(F.col("text")).alias("norm"),
        spark_word_count(F.col("text")).alias("n"),
    ).collect()
    by_index = {row["i"]: row for row in rows}
    mismatches = [
        (t, normalise_text(t), by_index[i]["norm"])
        for i, t in enumerate(texts)
        if normalise_text(t) != by_index[i]["norm"] or word_count(t) != by_index[i]["n"]
    ]
    assert mismatches == []


def test_normalise_text_convention() -> None:
    assert normalise_text("@NASA look https://t.co/x &amp; more\t\n") == "@user look http & more"
    assert normalise_text("write to me@example.com") == "write to me@example.com"
    assert normalise_text("&amp;lt;") == "&lt;"
    assert word_count(" a\tb\u00a0c\n") == 3
