"""What every resource module shares: the report states, tag helpers, policy comparison."""

from __future__ import annotations

import json
from typing import Any

PRESENT = "present"


def normalised(document: Any) -> Any:
    """A policy in a canonical shape: AWS may return one-item lists as strings and vice versa."""
    if isinstance(document, dict):
        return {k: normalised(v) for k, v in document.items()}
    if isinstance(document, list):
        items = [normalised(v) for v in document]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return document


def _parsed(document: Any) -> Any:
    """Policies arrive as JSON text (S3), URL-decoded dicts (IAM) or not at all (None)."""
    return json.loads(document) if isinstance(document, str) else document


def same_policy(left: Any, right: Any) -> bool:
    return bool(normalised(_parsed(left)) == normalised(_parsed(right)))


def missing_tags(current: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in wanted.items() if current.get(k) != v}


def tags_dict(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or []}
