"""The stream rules, as X keeps them: ids, atomic adds, deletes by id or value, a cap.

Rules survive a restart in `<state dir>/xapi-rules.json`. Callers hold the stand-in's lock.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from tweet_triage_local.corpus.tweets import snowflake_from_ms
from tweet_triage_local.xapi import problems
from tweet_triage_local.xapi.rules import CompiledRule, RuleSyntaxError, compile_rule
from tweet_triage_local.xapi.state import StateFiles

log = logging.getLogger(__name__)

MAX_RULES = 1000  # X Pro
RULES_FILE = "xapi-rules.json"


@dataclass(frozen=True)
class StoredRule:
    id: str
    value: str
    tag: str | None
    compiled: CompiledRule

    def as_json(self) -> dict[str, str]:
        body = {"id": self.id, "value": self.value}
        if self.tag is not None:
            body["tag"] = self.tag
        return body


class RuleStore:
    def __init__(self, files: StateFiles) -> None:
        self._files = files
        self.rules: dict[str, StoredRule] = {}
        self._sequence = 0
        for saved in files.read(RULES_FILE) or []:
            try:
                compiled = compile_rule(saved["value"])
            except (RuleSyntaxError, KeyError, TypeError):
                log.warning("dropping unusable saved rule %r", saved)
                continue
            rule = StoredRule(str(saved["id"]), saved["value"], saved.get("tag"), compiled)
            self.rules[rule.id] = rule

    def __len__(self) -> int:
        return len(self.rules)

    def _save(self) -> None:
        self._files.write(RULES_FILE, [r.as_json() for r in self.rules.values()])

    def _new_id(self) -> str:
        self._sequence += 1
        return str(snowflake_from_ms(int(time.time() * 1000), self._sequence))

    def get(self, ids: list[str] | None) -> dict[str, Any]:
        rules = [r for r in self.rules.values() if ids is None or r.id in ids]
        body: dict[str, Any] = {}
        if rules:
            body["data"] = [r.as_json() for r in rules]
        body["meta"] = {"sent": problems.now_iso(), "result_count": len(rules)}
        return body

    def add(self, additions: list[dict[str, Any]], dry_run: bool) -> dict[str, Any]:
        """X's add: validate every rule; create all of them or, if any is invalid, none."""
        errors: list[dict[str, Any]] = []
        accepted: list[StoredRule] = []
        existing = {r.value: r.id for r in self.rules.values()}
        for addition in additions:
            value, tag = addition.get("value"), addition.get("tag")
            if value in existing:
                errors.append(problems.duplicate_rule(value, existing[value]))
                continue
            try:
                compiled = compile_rule(value)
            except RuleSyntaxError as exc:
                errors.append(problems.invalid_rule(str(value), exc.detail))
                continue
            rule = StoredRule(self._new_id(), value, tag, compiled)
            existing[value] = rule.id
            accepted.append(rule)
        if not errors and len(self.rules) + len(accepted) > MAX_RULES:
            errors.append(problems.rule_cap(MAX_RULES))
        created = [] if errors else accepted
        if created and not dry_run:
            for rule in created:
                self.rules[rule.id] = rule
            self._save()
        body: dict[str, Any] = {}
        if created:
            body["data"] = [r.as_json() for r in created]
        body["meta"] = {
            "sent": problems.now_iso(),
            "summary": {
                "created": len(created),
                "not_created": len(additions) - len(created),
                "valid": len(accepted),
                "invalid": len(additions) - len(accepted),
            },
        }
        if errors:
            body["errors"] = errors
        return body

    def delete(
        self, ids: list[str] | None, values: list[str] | None, dry_run: bool
    ) -> dict[str, Any]:
        by_value = {r.value: r.id for r in self.rules.values()}
        wanted = list(ids or []) + [by_value.get(v, v) for v in values or []]
        found = [i for i in wanted if i in self.rules]
        missing = [i for i in wanted if i not in self.rules]
        if found and not dry_run:
            for rule_id in found:
                del self.rules[rule_id]
            self._save()
        body: dict[str, Any] = {
            "meta": {
                "sent": problems.now_iso(),
                "summary": {"deleted": len(found), "not_deleted": len(missing)},
            }
        }
        if missing:
            body["errors"] = [problems.rule_not_found(i) for i in missing]
        return body
