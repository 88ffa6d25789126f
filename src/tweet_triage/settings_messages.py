"""Settings that do not load, said in the user's words: the variable, the fix, an example."""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic_settings import SettingsError as PydanticSettingsError


def readable_parse_error(exc: PydanticSettingsError, env_name: Callable[[str], str]) -> str:
    """A value that is not the JSON its setting needs, named by its variable, with an example."""
    match = re.search(r'field "(\w+)" from source "(\w+)"', str(exc))
    if match is None:
        return f"invalid settings: {exc}"
    field, source = match.groups()
    where = "the environment" if source == "EnvSettingsSource" else ".env or a stand-in's file"
    name, example = env_name(field), SETTING_EXAMPLES.get(field, "a JSON value")
    return f"{name} (from {where}) is not valid JSON: use e.g. {name}={example}"


# Examples for settings whose values are JSON, shown when one does not parse.
SETTING_EXAMPLES = {"spark_conf": """'{"spark.executor.memory": "4g"}'"""}


def readable_validation_error(exc: ValueError) -> str:
    """pydantic's validation errors as one line naming each setting."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    lines = []
    for err in errors():
        name = ".".join(str(p) for p in err.get("loc", ())).upper() or "settings"
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        lines.append(message if name.lower() in message.lower() else f"{name}: {message}")
    return "invalid setting(s): " + "; ".join(lines) + " (fix them in .env or the environment)"
