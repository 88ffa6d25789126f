"""Run a command with the project's `.env` loaded: `python -m tweet_triage.envrun CMD ...`.

Make targets use it for `ansible-playbook` and `spark-submit`, so these tools and the Ansible
modules they start see the same AWS_* and X_* values as the Python code. It also picks the
inventory when ANSIBLE_INVENTORY is not set: the local one when AWS_ENDPOINT_URL points at the
stand-in, the production (dynamic EC2) one otherwise.
"""

from __future__ import annotations

import os
import sys

from tweet_triage.config import PROJECT_ROOT, load_dotenv_files


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m tweet_triage.envrun COMMAND [ARGS...]")
    load_dotenv_files()
    inventory = "local" if os.environ.get("AWS_ENDPOINT_URL") else "production"
    os.environ.setdefault("ANSIBLE_INVENTORY", str(PROJECT_ROOT / "inventories" / inventory))
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
