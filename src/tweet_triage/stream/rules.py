"""Keep the filtered-stream rules on X equal to the profile's: add missing, delete stale.

A rule on X matches a profile rule when both value and tag are equal; those are left alone
(deleting and re-adding would reset nothing useful and costs rate limit). X refuses two rules
with the same value, so a rule whose tag changed is deleted before it is added again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import requests
import tweepy

from tweet_triage.errors import TriageError
from tweet_triage.profile import MissionProfile
from tweet_triage.stream.errors import TransientStreamError

log = logging.getLogger(__name__)

X_API_HINT = "is X_API_BASE_URL right and the network up?"


class RuleSyncError(TriageError):
    """X refused the profile's rules or the credentials; the message names the rule and fix."""


@dataclass(frozen=True)
class LiveRule:
    """A rule as X holds it."""

    id: str
    value: str
    tag: str | None


@dataclass
class RuleDiff:
    keep: list[LiveRule] = field(default_factory=list)
    add: list[tuple[str, str]] = field(default_factory=list)  # (value, tag)
    delete: list[LiveRule] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.add or self.delete)

    def summary(self) -> str:
        return f"{len(self.keep)} kept, {len(self.add)} to add, {len(self.delete)} to delete"

    def as_dict(self) -> dict[str, list[dict[str, str | None]]]:
        return {
            "add": [{"value": value, "tag": tag} for value, tag in self.add],
            "delete": [{"id": r.id, "value": r.value, "tag": r.tag} for r in self.delete],
            "keep": [{"id": r.id, "value": r.value, "tag": r.tag} for r in self.keep],
        }

    def lines(self) -> list[str]:
        """Human-readable diff, one rule per line: '+' add, '-' delete, '=' keep."""
        out = [f"- [{r.tag}] {r.value}  (id {r.id})" for r in self.delete]
        out += [f"+ [{tag}] {value}" for value, tag in self.add]
        out += [f"= [{r.tag}] {r.value}" for r in self.keep]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "keep": [r.__dict__ for r in self.keep],
            "add": [{"value": v, "tag": t} for v, t in self.add],
            "delete": [r.__dict__ for r in self.delete],
        }


def diff_rules(profile: MissionProfile, live: list[LiveRule]) -> RuleDiff:
    """What to change on X so its rules equal the profile's."""
    wanted = [(rule.value, rule.tag) for rule in profile.stream.rules]
    diff = RuleDiff()
    matched: set[tuple[str, str]] = set()
    for rule in live:
        key = (rule.value, rule.tag or "")
        if key in wanted and key not in matched:
            diff.keep.append(rule)
            matched.add(key)
        else:  # stale, a changed tag, or a duplicate
            diff.delete.append(rule)
    diff.add = [key for key in wanted if key not in matched]
    return diff


def live_rules(client: tweepy.StreamingClient) -> list[LiveRule]:
    response = _call(client.get_rules, "read the stream rules")
    return [LiveRule(str(r.id), r.value, r.tag) for r in (response.data or [])]


class RuleDeletesNeedConfirmation(RuleSyncError):
    """Syncing would delete rules on X that the profile does not have; the message lists them."""


def sync_rules(
    client: tweepy.StreamingClient,
    profile: MissionProfile,
    *,
    dry_run: bool = False,
    allow_delete: bool = True,
) -> RuleDiff:
    """Apply the diff (or, with `dry_run`, let X validate it without changing anything).

    With `allow_delete=False` a diff that deletes rules changes nothing and raises
    RuleDeletesNeedConfirmation, whose message shows the whole diff (the dry run).
    """
    diff = diff_rules(profile, live_rules(client))
    if diff.delete and not allow_delete and not dry_run:
        shown = "\n".join(f"  {line}" for line in diff.lines())
        raise RuleDeletesNeedConfirmation(
            f"syncing the rules of profile {profile.name!r} would delete {len(diff.delete)} "
            f"rule(s) on X that are not in it:\n{shown}\nre-run with --yes to apply this, "
            "or with --no-sync-rules to leave X's rules as they are"
        )
    # X wants the literal `true`; tweepy would send Python's "True" (and "False" when off).
    flags = {"dry_run": "true"} if dry_run else {}
    if diff.delete:
        response = _call(
            client.delete_rules,
            "delete stale stream rules",
            [rule.id for rule in diff.delete],
            **flags,
        )
        _raise_rule_errors(response, profile)
    if diff.add:
        response = _call(
            client.add_rules,
            "add stream rules",
            [tweepy.StreamRule(value=value, tag=tag) for value, tag in diff.add],
            **flags,
        )
        _raise_rule_errors(response, profile)
    verb = "would change" if dry_run else "changed"
    log.info(
        "stream rules %s: %s",
        verb if diff.changes else "already match the profile",
        diff.summary(),
        extra={"fields": {"rule_diff": diff.to_dict(), "dry_run": dry_run}},
    )
    for line in diff.lines():
        if not line.startswith("="):
            log.info("rule %s", line)
    return diff


def _call(method: Any, what: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return method(*args, **kwargs)
    except tweepy.Unauthorized as exc:
        raise RuleSyncError(
            f"X refused the bearer token while trying to {what} (HTTP 401); set X_BEARER_TOKEN "
            "to a valid app-only token"
        ) from exc
    except tweepy.Forbidden as exc:
        raise RuleSyncError(
            f"X forbids this app to {what} (HTTP 403: {_messages(exc)}); the filtered stream "
            "needs a project with Pro access or higher"
        ) from exc
    except tweepy.BadRequest as exc:
        raise RuleSyncError(
            f"X rejected the request to {what}: {_messages(exc)}; fix the rule in the profile"
        ) from exc
    except (tweepy.TwitterServerError, tweepy.TooManyRequests, requests.RequestException) as exc:
        raise TransientStreamError(
            f"could not {what} on X ({X_API_HINT}): {exc}; retry later"
        ) from exc
    except tweepy.TweepyException as exc:
        raise RuleSyncError(f"could not {what} on X: {exc}; check X_API_BASE_URL") from exc


def _messages(exc: tweepy.HTTPException) -> str:
    return "; ".join(str(m) for m in exc.api_messages) or str(exc)


def _raise_rule_errors(response: Any, profile: MissionProfile) -> None:
    errors = getattr(response, "errors", None) or []
    if not errors:
        return
    problems = "; ".join(
        f"{e.get('title', 'error')}: {e.get('value') or e.get('id') or ''} "
        f"{e.get('details', '')}".strip()
        for e in errors
    )
    raise RuleSyncError(
        f"X refused rule(s) of profile {profile.name!r}: {problems}; fix them in the profile"
    )
