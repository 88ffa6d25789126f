"""The X API v2 response shapes the stand-in sends: errors (problems), `meta`, field lists."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tweet_triage_local.corpus.tweets import iso_millis

PROBLEMS = "https://api.twitter.com/2/problems"


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


# The values X accepts for each query parameter of GET /2/tweets/search/stream.
FIELD_PARAMETERS: dict[str, frozenset[str]] = {
    "tweet.fields": _names(
        "article attachments author_id card_uri community_id context_annotations "
        "conversation_id created_at display_text_range edit_controls edit_history_tweet_ids "
        "entities geo id in_reply_to_user_id lang media_metadata non_public_metrics note_tweet "
        "organic_metrics possibly_sensitive promoted_metrics public_metrics referenced_tweets "
        "reply_settings scopes source text withheld"
    ),
    "expansions": _names(
        "article.cover_media article.media_entities attachments.media_keys "
        "attachments.media_source_tweet attachments.poll_ids author_id edit_history_tweet_ids "
        "entities.mentions.username entities.note.mentions.username geo.place_id "
        "in_reply_to_user_id referenced_tweets.id referenced_tweets.id.attachments.media_keys "
        "referenced_tweets.id.author_id"
    ),
    "user.fields": _names(
        "affiliation connection_status created_at description entities id location "
        "most_recent_tweet_id name pinned_tweet_id profile_banner_url profile_image_url "
        "protected public_metrics receives_your_dm subscription_type url username verified "
        "verified_type withheld"
    ),
    "media.fields": _names(
        "alt_text duration_ms height media_key non_public_metrics organic_metrics "
        "preview_image_url promoted_metrics public_metrics type url variants width"
    ),
    "place.fields": _names(
        "contained_within country country_code full_name geo id name place_type"
    ),
    "poll.fields": _names("duration_minutes end_datetime id options voting_status"),
}
STREAM_PARAMETERS = frozenset({*FIELD_PARAMETERS, "backfill_minutes"})
DEFAULT_TWEET_FIELDS = ("id", "text", "edit_history_tweet_ids")


def now_iso() -> str:
    return iso_millis(datetime.now(UTC))


def invalid_request(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """X's 400 body for bad query parameters or a bad request body."""
    return {
        "errors": errors,
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": f"{PROBLEMS}/invalid-request",
    }


def parameter_error(parameter: str, values: list[str], message: str) -> dict[str, Any]:
    return {"parameters": {parameter: values}, "message": message}


def unauthorized() -> dict[str, Any]:
    return {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}


def too_many_connections() -> dict[str, Any]:
    return {
        "title": "ConnectionException",
        "detail": "This stream is currently at the maximum allowed connection limit.",
        "connection_issue": "TooManyConnections",
        "type": f"{PROBLEMS}/streaming-connection",
    }


def no_rules() -> dict[str, Any]:
    return {
        "title": "ConnectionException",
        "detail": "You must define rules using the POST /2/tweets/search/stream/rules endpoint "
        "before connecting to filtered stream.",
        "connection_issue": "RuleConfigurationIssue",
        "type": f"{PROBLEMS}/streaming-connection",
    }


def too_many_requests() -> dict[str, Any]:
    return {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }


def service_unavailable() -> dict[str, Any]:
    return {
        "title": "Service Unavailable",
        "detail": "Service Unavailable",
        "type": "about:blank",
        "status": 503,
    }


def not_found(path: str) -> dict[str, Any]:
    return {
        "errors": [{"message": f"The requested resource {path} does not exist"}],
        "title": "Not Found Error",
        "detail": f"The requested resource {path} does not exist",
        "type": f"{PROBLEMS}/resource-not-found",
    }


def duplicate_rule(value: str, existing_id: str) -> dict[str, Any]:
    return {
        "value": value,
        "id": existing_id,
        "title": "DuplicateRule",
        "type": f"{PROBLEMS}/duplicate-rules",
    }


def invalid_rule(value: str, detail: str) -> dict[str, Any]:
    return {
        "value": value,
        "details": [detail],
        "title": "UnprocessableEntity",
        "type": f"{PROBLEMS}/invalid-rules",
    }


def rule_cap(limit: int) -> dict[str, Any]:
    return {
        "title": "RulesCapExceeded",
        "detail": f"Rule limit of {limit} rules exceeded; delete rules before adding new ones",
        "type": f"{PROBLEMS}/rule-cap",
    }


def rule_not_found(rule_id: str) -> dict[str, Any]:
    return {
        "errors": [{"parameters": {"ids": [rule_id]}, "message": "Rule does not exist"}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": f"{PROBLEMS}/invalid-request",
    }
