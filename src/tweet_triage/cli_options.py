"""Options that every command spells and documents the same way."""

from __future__ import annotations

from typing import Annotated

import typer

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print the result as one JSON document (for scripts).")
]
