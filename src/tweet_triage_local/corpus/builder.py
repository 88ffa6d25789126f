"""Build the bundled demo corpus from the SemEval 2013-2016 task 4A tweet files.

Source format (each `twitter-*-A.txt`): one tweet per line, `id <TAB> label <TAB> text`, some
lines with a fourth field (empty, or the tweet's `created_at` in Twitter's classic format).
Quirks handled, each counted in the build report:

- a text wrapped CSV-style in double quotes with its inner quotes doubled is unwrapped; a quote
  that is not such a wrapping (an unmatched opening or closing quote) is tweet text and kept;
- literal escapes are decoded: `\\uXXXX` (with surrogate pairs) and the escaped quote `\\"`,
  which 574 rows of the 2013 files carry doubled (`\\""`) after a second CSV quoting; other
  backslashes are text (`\\o/`, `¯\\_(ツ)_/¯`) and stay;
- a line that is not a record (wrong field count, non-numeric id, unknown label, empty text)
  is skipped and reported with its file and line number;
- duplicate ids are dropped, first occurrence (files in name order) kept; annotations whose
  duplicate rows disagree on the label are left out of the annotations (the tweet stays).

Nothing else in a text is changed. Output: `tweets.jsonl.gz` (X API v2 Tweet objects in
created_at order), `annotations.csv.gz` (`id,sentiment`, 0 negative / 1 neutral / 2 positive)
and a README with provenance, terms and the counts of this build. Files are written atomically
and byte-for-byte reproducibly (gzip without timestamps).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tweet_triage.atomic_files import write_atomic
from tweet_triage.errors import TriageError
from tweet_triage_local.corpus.tweets import snowflake_datetime, tweet_object

SOURCE_GLOB = "twitter-*-A.txt"
TWEETS_FILE = "tweets.jsonl.gz"
ANNOTATIONS_FILE = "annotations.csv.gz"
README_FILE = "README.md"
SHIPPED_MODE = 0o644  # the bundled corpus files: readable by all, whatever the umask
LABELS = {"negative": 0, "neutral": 1, "positive": 2}
SENTIMENT_NAMES = {value: name for name, value in LABELS.items()}
_FIRST_SNOWFLAKE = datetime(2010, 11, 4, tzinfo=UTC)
_UNICODE_ESCAPES = re.compile(r"(?:\\u[0-9a-fA-F]{4})+")
_QUOTE_ESCAPE = re.compile(r'\\""?')
_CLASSIC_TIME = "%a %b %d %H:%M:%S %z %Y"


class CorpusSourceError(TriageError):
    """The SemEval source folder or a file in it cannot be used."""


@dataclass(frozen=True)
class SourceRecord:
    tweet_id: int
    sentiment: int
    text: str
    file: str
    line: int


@dataclass
class BuildReport:
    """Counts of every build step, printed by `tweet-triage corpus build`."""

    source: Path
    files: list[str] = field(default_factory=list)
    lines: int = 0
    malformed: list[str] = field(default_factory=list)
    records: int = 0
    unwrapped: int = 0
    unbalanced_quotes: int = 0
    escapes_decoded: int = 0
    created_at_column: int = 0
    created_at_disagrees: int = 0
    duplicates: int = 0
    duplicates_text_differs: int = 0
    label_conflicts: int = 0
    tweets: int = 0
    retweets: int = 0
    replies: int = 0
    annotations: int = 0
    sentiments: dict[str, int] = field(default_factory=dict)
    first_created_at: str = ""
    last_created_at: str = ""

    def lines_out(self, source_label: str | None = None) -> list[str]:
        """The step-by-step counts as aligned lines (`source_label` replaces the source path)."""

        def row(label: str, value: int, note: str = "") -> str:
            return f"{label:<48}{value:>8,}" + (f"  {note}" if note else "")

        rows = [
            f"source: {source_label or self.source} ({len(self.files)} files: "
            f"{', '.join(self.files)})",
            row("lines read", self.lines),
            row("malformed lines skipped", len(self.malformed)),
            *(f"    {where}" for where in self.malformed),
            row("records", self.records),
            row("  texts unwrapped from CSV quotes", self.unwrapped),
            row("  texts with an unmatched quote, kept as text", self.unbalanced_quotes),
            row('  texts with \\uXXXX or \\" escapes decoded', self.escapes_decoded),
            row(
                "  rows with a created_at column",
                self.created_at_column,
                f"{self.created_at_disagrees} disagree with the id's snowflake time",
            ),
            row(
                "duplicate ids dropped (first kept)",
                self.duplicates,
                f"{self.duplicates_text_differs} with a different text after decoding",
            ),
            row(
                "tweets",
                self.tweets,
                f"retweets {self.retweets:,}, replies {self.replies:,}; created "
                f"{self.first_created_at} .. {self.last_created_at}",
            ),
            row("ids whose duplicate rows disagree on the label", self.label_conflicts),
            row(
                "annotations",
                self.annotations,
                ", ".join(f"{name} {count:,}" for name, count in self.sentiments.items()),
            ),
        ]
        return rows


def decode_escapes(text: str) -> str:
    """Decode the literal escapes of the source: `\\uXXXX` runs and `\\"` (or `\\""`)."""
    text = _QUOTE_ESCAPE.sub('"', text)
    return _UNICODE_ESCAPES.sub(_decode_unicode_run, text)


def _decode_unicode_run(match: re.Match[str]) -> str:
    run = match.group(0)
    units = [int(run[i + 2 : i + 6], 16) for i in range(0, len(run), 6)]
    try:
        return "".join(map(chr, units)).encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:  # a lone surrogate: not a character, keep the text as written
        return run


def unwrap_csv_quotes(text: str) -> tuple[str, bool]:
    """Undo CSV-style quoting (outer quotes, inner quotes doubled); (text, was it wrapped)."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if '"' not in inner.replace('""', ""):
            return inner.replace('""', '"'), True
    return text, False


def _parse_line(line: str, file: str, number: int, report: BuildReport) -> SourceRecord | str:
    """A record, or the reason the line is not one."""
    fields = line.split("\t")
    stated: datetime | None = None
    if len(fields) == 4:
        stamp = fields.pop()
        if stamp:
            try:
                stated = datetime.strptime(stamp, _CLASSIC_TIME)
            except ValueError:
                return f"fourth field {stamp[:40]!r} is neither empty nor a created_at time"
            report.created_at_column += 1
    if len(fields) != 3:
        return f"{len(fields)} tab-separated fields, expected id, label, text"
    raw_id, label, raw_text = fields
    if not raw_id.isascii() or not raw_id.isdigit():
        return f"id {raw_id[:30]!r} is not a number"
    tweet_id = int(raw_id)
    if tweet_id >= 2**63 or snowflake_datetime(tweet_id) < _FIRST_SNOWFLAKE:
        return f"id {raw_id} is not a tweet snowflake id"
    if label not in LABELS:
        return f"label {label[:30]!r} is not one of {', '.join(LABELS)}"
    text, wrapped = unwrap_csv_quotes(raw_text)
    if wrapped:
        report.unwrapped += 1
    elif '"' in (text[:1] + text[-1:]):
        report.unbalanced_quotes += 1
    decoded = decode_escapes(text)
    if decoded != text:
        report.escapes_decoded += 1
    if not decoded.strip():
        return "empty text"
    if stated is not None:
        delta = abs((snowflake_datetime(tweet_id) - stated).total_seconds())
        if delta >= 1:
            report.created_at_disagrees += 1
    return SourceRecord(tweet_id, LABELS[label], decoded, file, number)


def read_source(source: Path, report: BuildReport) -> list[SourceRecord]:
    """Every valid record of every source file, in file-name then line order."""
    if not source.is_dir():
        raise CorpusSourceError(
            f"corpus source folder {source} does not exist; pass --source with the folder "
            f"holding the SemEval task 4A files ({SOURCE_GLOB})"
        )
    paths = sorted(source.glob(SOURCE_GLOB))
    if not paths:
        raise CorpusSourceError(
            f"no {SOURCE_GLOB} files in {source}; pass --source with the folder holding the "
            "SemEval task 4A tweet files"
        )
    records: list[SourceRecord] = []
    for path in paths:
        report.files.append(path.name)
        try:
            content = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CorpusSourceError(
                f"{path}: not UTF-8 text (byte {exc.start}); the SemEval files are UTF-8, "
                "re-download the file"
            ) from exc
        lines = content.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, line in enumerate(lines, start=1):
            report.lines += 1
            parsed = _parse_line(line.removesuffix("\r"), path.name, number, report)
            if isinstance(parsed, str):
                report.malformed.append(f"{path.name}:{number}: {parsed}")
            else:
                records.append(parsed)
    report.records = len(records)
    return records


def build_corpus(source: Path, output: Path) -> BuildReport:
    """Read the SemEval files in `source`, write the corpus files to `output`, report counts."""
    report = BuildReport(source=source)
    records = read_source(source, report)
    first: dict[int, SourceRecord] = {}
    labels: dict[int, set[int]] = {}
    for record in records:
        labels.setdefault(record.tweet_id, set()).add(record.sentiment)
        kept = first.get(record.tweet_id)
        if kept is None:
            first[record.tweet_id] = record
        else:
            report.duplicates += 1
            if kept.text != record.text:
                report.duplicates_text_differs += 1
    ordered = [first[tweet_id] for tweet_id in sorted(first)]  # snowflake order = time order
    tweets = [tweet_object(r.tweet_id, r.text) for r in ordered]
    annotations = [(r.tweet_id, r.sentiment) for r in ordered if len(labels[r.tweet_id]) == 1]
    report.label_conflicts = sum(1 for values in labels.values() if len(values) > 1)
    report.tweets = len(tweets)
    report.retweets = sum(_reference_type(t) == "retweeted" for t in tweets)
    report.replies = sum(_reference_type(t) == "replied_to" for t in tweets)
    report.annotations = len(annotations)
    counts = Counter(sentiment for _, sentiment in annotations)
    report.sentiments = {SENTIMENT_NAMES[v]: counts[v] for v in sorted(SENTIMENT_NAMES)}
    if tweets:
        report.first_created_at = tweets[0]["created_at"]
        report.last_created_at = tweets[-1]["created_at"]
    output.mkdir(parents=True, exist_ok=True)
    _write_gzip(output / TWEETS_FILE, _jsonl(tweets))
    _write_gzip(output / ANNOTATIONS_FILE, _annotations_csv(annotations))
    write_atomic(output / README_FILE, render_readme(report), mode=SHIPPED_MODE)
    return report


def _reference_type(tweet: dict[str, Any]) -> str | None:
    refs = tweet.get("referenced_tweets") or []
    return refs[0]["type"] if refs else None


def _jsonl(tweets: list[dict[str, Any]]) -> bytes:
    return "".join(
        json.dumps(t, ensure_ascii=False, separators=(",", ":")) + "\n" for t in tweets
    ).encode()


def _annotations_csv(annotations: list[tuple[int, int]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "sentiment"])
    writer.writerows(annotations)
    return buffer.getvalue().encode()


def _write_gzip(path: Path, payload: bytes) -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(payload)
    write_atomic(path, buffer.getvalue(), mode=SHIPPED_MODE)


def render_readme(report: BuildReport) -> str:
    """The corpus README: provenance, terms, format decisions, and this build's counts."""
    # the folder name, not the path, so the README does not depend on where the build ran
    counts = "\n".join(f"    {line}" for line in report.lines_out(report.source.name))
    return _README_TEMPLATE.format(counts=counts)


_README_TEMPLATE = """\
# The bundled demo corpus

Real tweets with human sentiment labels, shipped inside the package so the whole pipeline runs
on any machine without X credentials: the local X API stand-in (`tweet-triage xapi serve`)
replays `tweets.jsonl.gz`, and the data stage joins `annotations.csv.gz` as the labelling team's
answer.

## Provenance

The tweets and labels are the SemEval "Sentiment Analysis in Twitter" subtask A (message
polarity) data of 2013-2016 (the `twitter-*-A.txt` files, as compiled for SemEval-2017 Task 4
by Rosenthal, Farra, Nakov and Sebastiani, http://alt.qcri.org/semeval2017/task4/). SMS and
LiveJournal files are not tweets and are not used; no SemEval-2017 test tweets are included.

## Terms and citation

The tweets remain subject to X's (Twitter's) Developer Agreement and Terms of Service; use them
for research and demonstration, and delete any tweet its author has deleted if you are asked
to. When you publish results on this data, cite the task papers:

- Nakov, Ritter, Rosenthal, Sebastiani, Stoyanov. SemEval-2016 Task 4: Sentiment Analysis in
  Twitter. SemEval 2016.
- Rosenthal, Nakov, Kiritchenko, Mohammad, Ritter, Stoyanov. SemEval-2015 Task 10: Sentiment
  Analysis in Twitter. SemEval 2015.
- Rosenthal, Nakov, Ritter, Stoyanov. SemEval-2014 Task 9: Sentiment Analysis in Twitter.
  SemEval 2014.
- Nakov, Rosenthal, Kozareva, Stoyanov, Ritter, Wilson. SemEval-2013 Task 2: Sentiment
  Analysis in Twitter. SemEval 2013.
- Rosenthal, Farra, Nakov. SemEval-2017 Task 4: Sentiment Analysis in Twitter. SemEval 2017.

## Files

- `tweets.jsonl.gz`: one X API v2 Tweet object per line, in created_at order: `id` (string),
  `text` (only the source's escapes decoded), `created_at` (from the snowflake id, ISO 8601 with
  milliseconds), `lang` ("en": SemEval selected English tweets; a few are code-mixed),
  `entities` (hashtags, mentions, urls found in the text; character offsets), `referenced_tweets`
  for retweets (`RT @user:`) and replies (text starting with an @mention not followed by ':'),
  with the placeholder id "0" because the source has no parent ids, and
  `edit_history_tweet_ids`. There is no author, metrics, media or geo data in the source, so
  those fields are absent rather than invented.
- `annotations.csv.gz`: `id,sentiment` with 0 negative, 1 neutral, 2 positive (needs support =
  negative or neutral); one row per tweet whose annotations agree.

## Counts of this build

{counts}

## Regenerate

    tweet-triage corpus build --source ../shared/data/semeval-2013-2016-task4a

(`make corpus SOURCE=...` does the same.) The output is byte-for-byte reproducible.
"""
