from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import tweepy

from tweet_triage.profile import MissionProfile
from tweet_triage.stream.rules import LiveRule, RuleSyncError, diff_rules, sync_rules


def _profile(*rules: tuple[str, str]) -> MissionProfile:
    return MissionProfile.model_validate(
        {
            "name": "t",
            "stream": {"rules": [{"value": v, "tag": t} for v, t in rules]},
            "filter": {},
        }
    )


class FakeX:
    """Holds rules like X: ids, refuses duplicate values, honours dry_run."""

    def __init__(self, rules: list[LiveRule]) -> None:
        self.rules = {r.id: r for r in rules}
        self.calls: list[tuple[str, Any, bool]] = []
        self._next = 100

    def get_rules(self) -> Any:
        data = [tweepy.StreamRule(r.value, r.tag, r.id) for r in self.rules.values()]
        return SimpleNamespace(data=data or None, errors=[])

    def delete_rules(self, ids: list[str], dry_run: str = "false") -> Any:
        self.calls.append(("delete", ids, dry_run == "true"))
        if dry_run != "true":
            for rule_id in ids:
                del self.rules[rule_id]
        return SimpleNamespace(data=None, errors=[])

    def add_rules(self, add: list[tweepy.StreamRule], dry_run: str = "false") -> Any:
        self.calls.append(("add", [(r.value, r.tag) for r in add], dry_run == "true"))
        values = {r.value for r in self.rules.values()}
        errors = [{"title": "DuplicateRule", "value": r.value} for r in add if r.value in values]
        if not errors and dry_run != "true":
            for rule in add:
                self._next += 1
                self.rules[str(self._next)] = LiveRule(str(self._next), rule.value, rule.tag)
        return SimpleNamespace(data=None, errors=errors)


def test_diff_keeps_matching_adds_missing_deletes_stale_and_duplicates() -> None:
    profile = _profile(("a lang:en", "a"), ("b lang:en", "b"))
    live = [
        LiveRule("1", "a lang:en", "a"),
        LiveRule("2", "a lang:en", "a"),  # duplicate
        LiveRule("3", "old", "old"),
    ]
    diff = diff_rules(profile, live)
    assert [r.id for r in diff.keep] == ["1"]
    assert sorted(r.id for r in diff.delete) == ["2", "3"]
    assert diff.add == [("b lang:en", "b")]


def test_sync_applies_the_diff_and_a_second_sync_changes_nothing() -> None:
    x = FakeX([LiveRule("1", "a", "a"), LiveRule("2", "b", "old-tag")])
    profile = _profile(("a", "a"), ("b", "b"), ("c", "c"))
    diff = sync_rules(x, profile)  # type: ignore[arg-type]
    assert [c[0] for c in x.calls] == ["delete", "add"]  # delete first: a changed tag
    assert {(r.value, r.tag) for r in x.rules.values()} == {("a", "a"), ("b", "b"), ("c", "c")}
    assert diff.changes
    again = sync_rules(x, profile)  # type: ignore[arg-type]
    assert not again.changes and len(again.keep) == 3


def test_dry_run_changes_nothing_but_asks_x_to_validate() -> None:
    x = FakeX([LiveRule("1", "old", "old")])
    diff = sync_rules(x, _profile(("new", "new")), dry_run=True)  # type: ignore[arg-type]
    assert x.calls == [("delete", ["1"], True), ("add", [("new", "new")], True)]
    assert list(x.rules) == ["1"]
    assert diff.lines() == ["- [old] old  (id 1)", "+ [new] new"]


def test_rule_errors_from_x_name_the_rule() -> None:
    x = FakeX([LiveRule("1", "dup", "other")])

    def no_delete(ids: list[str], dry_run: str = "false") -> Any:
        return SimpleNamespace(data=None, errors=[])

    x.delete_rules = no_delete  # type: ignore[method-assign]
    with pytest.raises(RuleSyncError, match="DuplicateRule: dup"):
        sync_rules(x, _profile(("dup", "mine")))  # type: ignore[arg-type]


def test_unauthorised_is_a_clear_error() -> None:
    class Refusing(FakeX):
        def get_rules(self) -> Any:
            response = SimpleNamespace(status_code=401, reason="Unauthorized", json=dict)
            raise tweepy.Unauthorized(response)

    with pytest.raises(RuleSyncError, match="X_BEARER_TOKEN"):
        sync_rules(Refusing([]), _profile(("a", "a")))  # type: ignore[arg-type]
