"""Run a tool that is not ours with the project's settings: `python -m tweet_triage.envrun CMD`.

Make targets use it for `ansible-playbook` and `spark-submit`, so these tools and the Ansible
modules they start see the same AWS_* and X_* values as the Python code. The child's
environment is built explicitly from the settings (`Settings.environment()`), including the
deployment's inventory unless ANSIBLE_INVENTORY is set; this process's own is left alone.
"""

from __future__ import annotations

import os
import sys

from tweet_triage.config import load_settings
from tweet_triage.errors import TriageError


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m tweet_triage.envrun COMMAND [ARGS...]")
    try:
        settings = load_settings()
    except TriageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"deployment: {settings.describe_deployment()}", file=sys.stderr, flush=True)
    environment = {**os.environ, **settings.environment()}
    if os.environ.get("ANSIBLE_INVENTORY"):  # an explicit inventory wins
        environment["ANSIBLE_INVENTORY"] = os.environ["ANSIBLE_INVENTORY"]
    os.execvpe(argv[0], argv, environment)


if __name__ == "__main__":
    main(sys.argv[1:])
