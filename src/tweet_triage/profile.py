"""Mission profiles: what to stream from X and which tweets the data stage keeps.

A profile is a YAML file, shipped in `tweet_triage/profiles/` (`jwst`, `demo`) or given by
path. It has two parts read by two stages: `stream` (X filtered-stream rules, fields,
expansions) for the streamer, and `filter` (keep and drop terms) for the data stage. Unknown
keys and invalid regular expressions are errors that name the file, so a typo never silently
widens or narrows the stream. Filter patterns run in Spark (java.util.regex), so they are checked
with Java's syntax rules (tweet_triage.java_regex), not Python's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tweet_triage.config import PROFILES_DIR
from tweet_triage.errors import TriageError
from tweet_triage.java_regex import JavaRegexError, check_java_regex


class ProfileError(TriageError):
    """A profile is missing or invalid; the message names the file and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StreamRule(_Strict):
    value: str = Field(
        min_length=1,
        max_length=1024,  # X's limit per rule (Pro access); keep to 512 for lower tiers
        description="X filtered-stream rule, e.g. 'jwst -is:retweet lang:en'.",
    )
    tag: str = Field(description="Label X returns in matching_rules; unique per profile.")


class StreamSpec(_Strict):
    rules: list[StreamRule] = Field(min_length=1, max_length=1000)
    tweet_fields: list[str] = Field(default_factory=lambda: ["created_at", "lang", "entities"])
    expansions: list[str] = Field(default_factory=list)
    user_fields: list[str] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _unique_tags(cls, rules: list[StreamRule]) -> list[StreamRule]:
        tags = [r.tag for r in rules]
        duplicates = sorted({t for t in tags if tags.count(t) > 1})
        if duplicates:
            raise ValueError(f"rule tags must be unique; repeated: {duplicates}")
        return rules


class FilterSpec(_Strict):
    """Keep a tweet if ANY keep term/phrase/pattern matches (OR), then drop by groups."""

    keep_terms: list[str] = Field(default_factory=list, description="Words; #tag counts too.")
    keep_phrases: list[str] = Field(default_factory=list, description="Multi-word phrases.")
    keep_patterns: list[str] = Field(default_factory=list, description="Regexes (Java syntax).")
    drop_terms: dict[str, list[str]] = Field(
        default_factory=dict, description="Named groups of words/phrases that drop a tweet."
    )
    drop_patterns: dict[str, list[str]] = Field(
        default_factory=dict, description="Named groups of regexes that drop a tweet."
    )
    min_words: int = Field(3, ge=0)
    exclude_retweets: bool = True

    @field_validator("keep_patterns")
    @classmethod
    def _keep_compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _check_regex(pattern)
        return patterns

    @field_validator("drop_patterns")
    @classmethod
    def _drop_compiles(cls, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        for patterns in groups.values():
            for pattern in patterns:
                _check_regex(pattern)
        return groups


def _check_regex(pattern: str) -> None:
    try:
        check_java_regex(pattern)
    except JavaRegexError as exc:
        raise ValueError(
            f"{pattern!r} is not a Java regular expression (Spark runs the filter patterns "
            f"with java.util.regex): {exc}"
        ) from exc


class MissionProfile(_Strict):
    name: str
    description: str = ""
    stream: StreamSpec
    filter: FilterSpec


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def profile_path(name_or_path: str) -> Path:
    """A shipped profile by name, or a YAML file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        return candidate
    return PROFILES_DIR / f"{name_or_path}.yaml"


def load_profile(name_or_path: str) -> MissionProfile:
    path = profile_path(name_or_path)
    if not path.is_file():
        raise ProfileError(
            f"unknown mission profile {name_or_path!r} (no file {path}); set MISSION_PROFILE to "
            f"one of {available_profiles()} or to the path of a profile YAML file"
        )
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return MissionProfile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg']}" for e in exc.errors()
        )
        raise ProfileError(f"{path}: invalid profile: {problems}") from exc
