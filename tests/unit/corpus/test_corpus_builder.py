"""The corpus builder on small SemEval-format files holding every quirk of the real ones."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tweet_triage_local.corpus.builder import (
    CorpusSourceError,
    build_corpus,
    decode_escapes,
    unwrap_csv_quotes,
)
from tweet_triage_local.corpus.store import CorpusError, load_annotations, load_tweets

# ids are real snowflakes (2012-2015) so created_at is meaningful.
FILE_2013 = (
    # \u002c / \u2019 escapes
    "264041328420204544\tneutral\tPlus\\u002c it\\u2019s a busy day #GetIn\n"
    # CSV-wrapped, escaped quotes doubled twice (the 2013 files' \\"""" form)
    '212392538055778304\tneutral\t"Why is \\""""Happy Valentines Day\\"""" trending?"\n'
    # CSV-wrapped with doubled inner quotes
    '263970913270251520\tpositive\t"He said ""hi"" to @bob_smith"\n'
    # duplicate id, same label, text with escapes undecoded in this copy
    "264041328420204544\tneutral\tPlus\\u002c it\\u2019s a busy day #GetIn\n"
    # duplicate id whose label disagrees
    "263869286441967617\tpositive\t@maddow Ole Miss band is fired up\n"
)
FILE_2016 = (
    # trailing empty fourth field
    "619969366986235905\tneutral\tOrder Go Set a Watchman https://t.co/KET6EGD1an.\t\n"
    # fourth field holding the created_at (agrees with the snowflake)
    "638624782955773952\tneutral\tCanada responded on Monday\tTue Sep 01 08:09:47 +0000 2015\n"
    # opening quote without a matching close: tweet text, kept
    '639404791827963904\tneutral\t"83 Minutes", a major new book\t\n'
    # the malformed line: two fields
    '"\t\n'
    # label disagreeing with the 2013 copy
    "263869286441967617\tneutral\t@maddow Ole Miss band is fired up\t\n"
    # a surrogate pair escape, a retweet, a manual quote and a reply
    "640436841431347201\tpositive\tSunday \\ud83d\\ude00 \\o/\t\n"
    "640436841431347202\tneutral\tRT @NASA: Webb launches #JWST\t\n"
    "640436841431347203\tnegative\t@SkyNews: this is a quote, not a reply\t\n"
    # last line without a newline at the end of the file
    "640436841431347204\tnegative\t@jwst_fan why is it late?\t"
)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "semeval"
    folder.mkdir()
    (folder / "twitter-2013dev-A.txt").write_text(FILE_2013, encoding="utf-8")
    (folder / "twitter-2016test-A.txt").write_text(FILE_2016, encoding="utf-8")
    (folder / "README.txt").write_text("not a data file\n")
    return folder


@pytest.fixture
def built(source: Path, tmp_path: Path) -> tuple[object, Path]:
    output = tmp_path / "out"
    return build_corpus(source, output), output


def _tweets(output: Path) -> dict[str, dict]:
    return {t["id"]: t for t in load_tweets(output / "tweets.jsonl.gz")}


def test_counts_of_every_step(built: tuple) -> None:
    report, _ = built
    assert report.files == ["twitter-2013dev-A.txt", "twitter-2016test-A.txt"]
    assert report.lines == 14
    assert report.malformed == [
        "twitter-2016test-A.txt:4: 2 tab-separated fields, expected id, label, text"
    ]
    assert report.records == 13
    assert report.unwrapped == 2
    assert report.unbalanced_quotes == 1
    assert report.escapes_decoded == 4
    assert report.created_at_column == 1
    assert report.created_at_disagrees == 0
    assert report.duplicates == 2
    assert report.label_conflicts == 1
    assert report.tweets == 11
    assert report.annotations == 10
    assert report.retweets == 1
    assert report.replies == 2


def test_texts_change_only_by_decoding(built: tuple) -> None:
    _, output = built
    tweets = _tweets(output)
    assert tweets["264041328420204544"]["text"] == "Plus, it’s a busy day #GetIn"
    assert tweets["212392538055778304"]["text"] == 'Why is "Happy Valentines Day" trending?'
    assert tweets["263970913270251520"]["text"] == 'He said "hi" to @bob_smith'
    assert tweets["639404791827963904"]["text"] == '"83 Minutes", a major new book'
    assert tweets["640436841431347201"]["text"] == "Sunday 😀 \\o/"
    assert (
        tweets["619969366986235905"]["text"] == "Order Go Set a Watchman https://t.co/KET6EGD1an."
    )


def test_tweet_objects_have_x_shapes(built: tuple) -> None:
    _, output = built
    tweets = _tweets(output)
    plain = tweets["638624782955773952"]
    assert plain == {
        "id": "638624782955773952",
        "text": "Canada responded on Monday",
        "created_at": "2015-09-01T08:09:47.988Z",
        "lang": "en",
        "edit_history_tweet_ids": ["638624782955773952"],
    }
    link = tweets["619969366986235905"]
    assert link["entities"] == {
        "urls": [{"start": 24, "end": 47, "url": "https://t.co/KET6EGD1an"}]
    }
    retweet = tweets["640436841431347202"]
    assert retweet["referenced_tweets"] == [{"type": "retweeted", "id": "0"}]
    assert retweet["entities"]["mentions"] == [{"start": 3, "end": 8, "username": "NASA"}]
    assert retweet["entities"]["hashtags"] == [{"start": 24, "end": 29, "tag": "JWST"}]
    assert tweets["640436841431347204"]["referenced_tweets"] == [{"type": "replied_to", "id": "0"}]
    assert "referenced_tweets" not in tweets["640436841431347203"]  # "@user:" is a quote


def test_tweets_in_created_at_order(built: tuple) -> None:
    _, output = built
    stamps = [t["created_at"] for t in load_tweets(output / "tweets.jsonl.gz")]
    assert stamps == sorted(stamps)


def test_annotations_leave_out_conflicting_labels(built: tuple) -> None:
    _, output = built
    annotations = load_annotations(output / "annotations.csv.gz")
    assert "263869286441967617" not in annotations
    assert annotations["212392538055778304"] == 1
    assert annotations["263970913270251520"] == 2
    assert annotations["640436841431347204"] == 0
    raw = gzip.decompress((output / "annotations.csv.gz").read_bytes()).decode()
    assert raw.startswith("id,sentiment\n")


def test_readme_states_provenance_and_counts(built: tuple) -> None:
    _, output = built
    readme = (output / "README.md").read_text()
    assert "SemEval" in readme and "Terms" in readme and "tweet-triage corpus build" in readme
    assert "malformed lines skipped" in readme


def test_build_is_reproducible(source: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    build_corpus(source, first)
    build_corpus(source, second)
    for name in ("tweets.jsonl.gz", "annotations.csv.gz", "README.md"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_decode_escapes_keeps_other_backslashes() -> None:
    assert decode_escapes("a\\u002cb \\o/ ¯\\_(ツ)_/¯") == "a,b \\o/ ¯\\_(ツ)_/¯"
    assert decode_escapes('say \\"hi\\"') == 'say "hi"'
    assert decode_escapes("\\ud83d alone") == "\\ud83d alone"  # lone surrogate kept


def test_unwrap_only_real_csv_quoting() -> None:
    assert unwrap_csv_quotes('"a ""b"" c"') == ('a "b" c', True)
    assert unwrap_csv_quotes('"a" and "b"') == ('"a" and "b"', False)
    assert unwrap_csv_quotes('"open only') == ('"open only', False)


def test_missing_source_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(CorpusSourceError, match=r"does not exist.*--source"):
        build_corpus(tmp_path / "nowhere", tmp_path / "out")


def test_folder_without_source_files(tmp_path: Path) -> None:
    with pytest.raises(CorpusSourceError, match=r"no twitter-\*-A\.txt files"):
        build_corpus(tmp_path, tmp_path / "out")


def test_non_utf8_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "twitter-2013dev-A.txt").write_bytes(b"1\tneutral\tcaf\xe9\n")
    with pytest.raises(CorpusSourceError, match=r"twitter-2013dev-A\.txt: not UTF-8"):
        build_corpus(tmp_path, tmp_path / "out")


def test_corrupt_corpus_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "tweets.jsonl.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(CorpusError, match=r"corrupt.*corpus build"):
        load_tweets(path)
    path.write_bytes(gzip.compress(b'{"id": "1", "text": "x", "created_at": "t"}\n{oops\n'))
    with pytest.raises(CorpusError, match="line 2: not JSON"):
        load_tweets(path)
    with pytest.raises(CorpusError, match="missing"):
        load_tweets(tmp_path / "absent.jsonl.gz")


def test_bundled_corpus_matches_its_readme() -> None:
    tweets = load_tweets()
    annotations = load_annotations()
    assert len(tweets) == len({t["id"] for t in tweets})
    assert set(annotations) <= {t["id"] for t in tweets}
    readme = Path(__file__).resolve().parents[3] / "src/tweet_triage_local/corpus/data/README.md"
    counts = readme.read_text()
    assert f"{len(tweets):>8,}" in counts and f"{len(annotations):>8,}" in counts
    assert json.dumps(tweets[0]).startswith('{"id": ')


def test_cli_prints_the_count_of_each_step(source: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tweet_triage.cli import app

    result = CliRunner().invoke(
        app, ["corpus", "build", "--source", str(source), "--output", str(tmp_path / "cli")]
    )
    assert result.exit_code == 0, result.output
    assert "lines read" in result.output and "14" in result.output
    assert "twitter-2016test-A.txt:4: 2 tab-separated fields" in result.output
    assert "annotations" in result.output
    assert (tmp_path / "cli" / "tweets.jsonl.gz").is_file()
