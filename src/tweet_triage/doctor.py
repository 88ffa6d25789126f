"""`tweet-triage doctor`: is this machine ready? One pass/fail line per check, with the fix.

Checks, in the order a newcomer needs them: Java (Spark), the optional extras, the settings,
the deployment's endpoints (the stand-ins answering, or AWS reachable with credentials), the X
token and the mission profile. Network checks are bounded by short timeouts; nothing is
created or changed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass

from tweet_triage.config import Settings, load_settings
from tweet_triage.errors import TriageError

# extra -> modules that prove it is installed (pyproject.toml's optional dependencies)
EXTRAS = {
    "data": ("pyspark", "pandas", "pyarrow"),
    "model": ("torch", "transformers", "mlflow"),
    "infra": ("ansible",),
    "local": ("moto", "tweet_triage_local"),
    "notebooks": ("papermill",),
    "triage": ("fastapi", "sqlalchemy"),
}
JAVA_MIN = 17


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text}\n      fix: {self.fix}"


def check_java() -> Check:
    java = shutil.which("java")
    if java is None:
        return Check("java", False, "no java on PATH", f"install Java {JAVA_MIN}+ (make install)")
    result = subprocess.run(
        [java, "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    match = re.search(r'version "(\d+)', result.stderr)
    major = int(match.group(1)) if match else 0
    if major < JAVA_MIN:
        return Check("java", False, f"{java}: version {major or '?'}", f"install Java {JAVA_MIN}+")
    return Check("java", True, f"{java}: Java {major}")


def check_extras() -> list[Check]:
    checks = []
    for extra, modules in EXTRAS.items():
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        checks.append(
            Check(
                f"extra {extra}",
                not missing,
                "installed" if not missing else f"missing {', '.join(missing)}",
                f"pip install -e '.[{extra}]' (or make install for all)",
            )
        )
    return checks


def _http_ok(url: str, headers: dict[str, str] | None = None) -> str | None:
    """None if the URL answers 2xx, else why not."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return None if response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))


def check_endpoints(settings: Settings) -> list[Check]:
    token = settings.x_bearer_token.get_secret_value() if settings.x_bearer_token else ""
    x_rules = f"{settings.x_api_base_url}/2/tweets/search/stream/rules"
    if settings.uses_local_aws:
        moto = _http_ok(f"{settings.aws_endpoint_url}/moto-api/")
        xapi = _http_ok(x_rules, {"Authorization": f"Bearer {token}"})
        return [
            Check(
                "AWS stand-in",
                moto is None,
                f"moto at {settings.aws_endpoint_url}" + (f": {moto}" if moto else " answers"),
                "make -f Makefile-stream local-aws-up",
            ),
            Check(
                "X stand-in",
                xapi is None,
                f"at {settings.x_api_base_url}" + (f": {xapi}" if xapi else " accepts the token"),
                "make -f Makefile-stream local-xapi-up",
            ),
        ]
    return [_check_aws_credentials(settings), _check_x_token(x_rules, token)]


def _check_aws_credentials(settings: Settings) -> Check:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    fix = "set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and AWS_REGION in .env"
    if not settings.aws_region:
        return Check("AWS credentials", False, "AWS_REGION is not set", fix)
    try:
        sts = boto3.client(
            "sts",
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=3, read_timeout=5),
            **settings.aws_client_kwargs(),
        )
        arn = sts.get_caller_identity()["Arn"]
    except (BotoCoreError, ClientError) as exc:
        return Check("AWS credentials", False, str(exc), fix)
    return Check("AWS credentials", True, f"{arn} in {settings.aws_region}")


def _check_x_token(x_rules: str, token: str) -> Check:
    fix = "set X_BEARER_TOKEN in .env (an app-only bearer token with filtered-stream access)"
    if not token:
        return Check("X token", False, "X_BEARER_TOKEN is not set", fix)
    problem = _http_ok(x_rules, {"Authorization": f"Bearer {token}"})
    detail = f"{x_rules}: " + (problem or "token accepted")
    return Check("X token", problem is None, detail, fix)


def check_profile(settings: Settings) -> Check:
    from tweet_triage.profile import load_profile

    try:
        profile = load_profile(settings.mission_profile)
    except TriageError as exc:
        return Check("profile", False, str(exc), "tweet-triage profile validate NAME")
    return Check(
        "profile",
        True,
        f"{profile.name}: {len(profile.stream.rules)} stream rules, "
        f"{len(profile.filter.keep_terms)} keep terms",
    )


def run_checks() -> list[Check]:
    checks = [check_java(), *check_extras()]
    try:
        settings = load_settings()
    except TriageError as exc:
        return [*checks, Check("settings", False, str(exc), "fix .env or the environment")]
    checks.append(Check("deployment", True, settings.describe_deployment()))
    steps: list[Callable[[Settings], list[Check] | Check]] = [check_endpoints, check_profile]
    for step in steps:
        result = step(settings)
        checks += result if isinstance(result, list) else [result]
    return checks


def as_json(checks: list[Check]) -> str:
    return json.dumps([asdict(c) for c in checks], indent=2)
