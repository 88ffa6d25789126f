"""`tweet-triage corpus build`: regenerate the bundled demo corpus from the SemEval files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tweet_triage.config import CORPUS_DIR, PROJECT_ROOT
from tweet_triage_local.corpus.builder import build_corpus

app = typer.Typer(no_args_is_help=True)

DEFAULT_SOURCE = PROJECT_ROOT.parent / "shared" / "data" / "semeval-2013-2016-task4a"


@app.command("build")
def build(
    source: Annotated[
        Path, typer.Option(help="Folder with the SemEval task 4A files twitter-*-A.txt.")
    ] = DEFAULT_SOURCE,
    output: Annotated[
        Path, typer.Option(help="Where to write tweets.jsonl.gz, annotations.csv.gz, README.md.")
    ] = CORPUS_DIR,
) -> None:
    """Build the demo corpus (X API v2 tweets + annotations) and print each step's count."""
    report = build_corpus(source, output)
    for line in report.lines_out():
        typer.echo(line)
    typer.echo(f"wrote {output}")
