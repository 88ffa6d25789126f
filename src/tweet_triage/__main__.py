"""`python -m tweet_triage` runs the CLI (the same as the `tweet-triage` command)."""

from tweet_triage.cli import main

main()
