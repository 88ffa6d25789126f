"""tweet-triage: flag the tweets a support team needs to see."""

__version__ = "0.1.0"
