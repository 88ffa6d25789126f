"""The inbox web app: `create_app` (FastAPI), served by `tweet-triage triage serve`."""
