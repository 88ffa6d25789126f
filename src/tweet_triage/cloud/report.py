"""Structured results of create/status/destroy: one entry per resource, printable and JSON-able."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ABSENT = "absent"


@dataclass(frozen=True)
class ResourceReport:
    """One resource: what it is, how AWS names it, its state, and whether this call changed it."""

    kind: str
    name: str
    state: str
    changed: bool = False
    id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.state != ABSENT


@dataclass
class StackReport:
    """The resources of one stack, in creation order."""

    stack: str
    region: str
    account_id: str
    resources: list[ResourceReport] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.resources)

    def get(self, kind: str) -> ResourceReport:
        for resource in self.resources:
            if resource.kind == kind:
                return resource
        raise KeyError(kind)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "region": self.region,
            "account_id": self.account_id,
            "changed": self.changed,
            "resources": [asdict(r) for r in self.resources],
        }
