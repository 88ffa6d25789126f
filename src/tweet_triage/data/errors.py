"""Errors of the data stage: each names the input at fault and the fix."""

from tweet_triage.errors import TriageError


class DataInputError(TriageError):
    """A stage's input is missing, empty or unusable."""
