"""`python -m tweet_triage`: the CLI, for callers that have the interpreter but not the script."""

from tweet_triage.cli import main

main()
