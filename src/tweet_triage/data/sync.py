"""Sync: copy new raw Firehose objects from the bucket to the local raw folder.

Keeps the key layout below the raw prefix (`YYYY/MM/DD/HH/<object>`), lists with pagination
(past 1,000 keys), and on a re-run copies only objects it has not copied before (a ledger
records key, ETag and size). Each object is written atomically (`atomic_files`), so an
interrupted sync never leaves a half object that looks complete. Objects are
stored byte for byte; a gzip object gets a `.gz` name (found by its magic bytes, whatever
Firehose called it) so Spark decompresses it.

Follow mode (`sync --follow`, `follow_bucket`) runs the one pass every TRIAGE_FOLLOW_SECONDS
so the raw folder the streaming scorer reads stays current; the ledger makes a restarted
follower carry on where it stopped. The first pass fails loudly on a wrong setting (no bucket,
no credentials); later passes treat a failure as transient (an endpoint that is briefly away),
log it and try again at the next interval. A stop ends the loop between passes, never in
the middle of one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from tweet_triage.atomic_files import write_atomic
from tweet_triage.cloud.plan import bucket_name
from tweet_triage.config import Settings
from tweet_triage.data.combine import GZIP_MAGIC
from tweet_triage.data.errors import DataInputError

log = logging.getLogger(__name__)

LEDGER_NAME = "_sync_ledger.json"  # '_' prefix: Spark never reads it as data
# Bounded waits: an unreachable endpoint is reported in seconds, not retried for minutes.
CLIENT_CONFIG = Config(
    connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"}
)


@dataclass
class SyncResult:
    bucket: str
    prefix: str
    listed: int = 0
    copied: int = 0
    already_present: int = 0
    bytes_copied: int = 0
    gzip_objects: int = 0
    copied_keys: list[str] = field(default_factory=list)


def s3_client(settings: Settings) -> Any:
    return boto3.client("s3", config=CLIENT_CONFIG, **settings.aws_client_kwargs())


def _endpoint(settings: Settings) -> str:
    return settings.aws_endpoint_url or f"AWS in {settings.aws_region}"


def raw_bucket_name(settings: Settings) -> str:
    """The stack's bucket (S3_BUCKET, or named from the account id as the stack names it)."""
    if settings.s3_bucket:
        return bucket_name(settings, "")
    settings.require("aws_region")
    try:
        sts = boto3.client("sts", config=CLIENT_CONFIG, **settings.aws_client_kwargs())
        account = sts.get_caller_identity()["Account"]
    except NoCredentialsError as exc:
        raise DataInputError(
            "no AWS credentials to find the bucket: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "or AWS_PROFILE in .env, or start the local stand-in (make -f Makefile-stream "
            "local-up)"
        ) from exc
    except (BotoCoreError, ClientError) as exc:
        raise DataInputError(
            f"cannot look up the AWS account at {_endpoint(settings)} to name the bucket "
            f"({exc}); check AWS_ENDPOINT_URL and the network (for the local stand-in: make -f "
            "Makefile-stream local-up), or set S3_BUCKET"
        ) from exc
    return bucket_name(settings, account)


def local_path(dest: Path, key: str, prefix: str, gzipped: bool) -> Path:
    """Where an object goes: its key below the prefix, '.gz' exactly when it is gzip."""
    relative = key[len(prefix) :] if key.startswith(prefix) else key
    relative = relative.removesuffix(".gz") + (".gz" if gzipped else "")
    path = (dest / relative).resolve()
    if not path.is_relative_to(dest.resolve()):
        raise DataInputError(f"object key {key!r} would be written outside {dest}; not copied")
    return path


def _load_ledger(dest: Path) -> dict[str, dict[str, Any]]:
    path = dest / LEDGER_NAME
    if not path.is_file():
        return {}
    try:
        ledger = json.loads(path.read_text())
        if not isinstance(ledger, dict) or not all(
            isinstance(e, dict) and {"etag", "size", "path"} <= e.keys() for e in ledger.values()
        ):
            raise ValueError("not a mapping of object key to etag, size and path")
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataInputError(
            f"{path}: the sync ledger is not valid JSON ({exc}); delete it and sync again (every "
            "object is copied once more; combine drops the duplicate deliveries)"
        ) from exc
    return ledger


def _save_ledger(dest: Path, ledger: dict[str, dict[str, Any]]) -> None:
    path = dest / LEDGER_NAME
    write_atomic(path, json.dumps(ledger, indent=1, sort_keys=True))


def _list_objects(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects += [o for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    return objects


def _copy(s3: Any, bucket: str, key: str, prefix: str, dest: Path) -> tuple[Path, int, bool]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    gzipped = body[:2] == GZIP_MAGIC
    path = local_path(dest, key, prefix, gzipped)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, body)
    return path, len(body), gzipped


def sync_raw(s3: Any, bucket: str, prefix: str, dest: Path, workers: int = 8) -> SyncResult:
    """Copy the objects under `prefix` that are not in `dest` yet; returns what it did."""
    dest.mkdir(parents=True, exist_ok=True)
    ledger = _load_ledger(dest)
    result = SyncResult(bucket=bucket, prefix=prefix)
    try:
        objects = _list_objects(s3, bucket, prefix)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404"):
            raise DataInputError(
                f"bucket {bucket!r} does not exist: create the stack first (make -f "
                "Makefile-stream aws-create, or local-up for the local stand-in) or set S3_BUCKET"
            ) from exc
        raise DataInputError(f"cannot list s3://{bucket}/{prefix}: {exc}") from exc
    except BotoCoreError as exc:
        raise DataInputError(
            f"cannot list s3://{bucket}/{prefix}: {exc}; check AWS_ENDPOINT_URL and the network"
        ) from exc
    result.listed = len(objects)

    def is_new(obj: dict[str, Any]) -> bool:
        entry = ledger.get(obj["Key"])
        return not (
            entry
            and entry["etag"] == obj["ETag"]
            and entry["size"] == obj["Size"]
            and (dest / entry["path"]).is_file()
        )

    new = [o for o in objects if is_new(o)]
    result.already_present = len(objects) - len(new)
    try:  # the ledger keeps what was copied even if a later object fails
        with ThreadPoolExecutor(max_workers=workers) as pool:
            copies = pool.map(lambda o: _copy(s3, bucket, o["Key"], prefix, dest), new)
            for obj, (path, size, gzipped) in zip(new, copies, strict=True):
                ledger[obj["Key"]] = {
                    "etag": obj["ETag"],
                    "size": obj["Size"],
                    "path": str(path.relative_to(dest.resolve())),
                }
                result.copied += 1
                result.bytes_copied += size
                result.gzip_objects += int(gzipped)
                result.copied_keys.append(obj["Key"])
    except (BotoCoreError, ClientError) as exc:
        raise DataInputError(
            f"copying from s3://{bucket}/{prefix} stopped after {result.copied} new object(s): "
            f"{exc}; run sync again to copy the rest"
        ) from exc
    finally:
        _save_ledger(dest, ledger)
    return result


@dataclass
class FollowTotals:
    passes: int = 0
    failed_passes: int = 0
    copied: int = 0
    bytes_copied: int = 0


def follow_bucket(
    settings: Settings,
    dest: Path,
    every: float,
    stop: threading.Event | None = None,
    max_passes: int | None = None,
    on_pass: Callable[[SyncResult], None] | None = None,
) -> FollowTotals:
    """Sync `settings.raw_prefix` of the stack's bucket to `dest` every `every` seconds.

    Runs until `stop` is set (or `max_passes` passes, for tests and benchmarks).
    """
    stop = stop or threading.Event()
    s3 = s3_client(settings)
    bucket = raw_bucket_name(settings)
    totals = FollowTotals()
    log.info("following s3://%s/%s into %s every %g s", bucket, settings.raw_prefix, dest, every)
    while not stop.is_set():
        started = time.monotonic()
        try:
            result = sync_raw(s3, bucket, settings.raw_prefix, dest)
        except (DataInputError, BotoCoreError, ClientError):
            if totals.passes == 0:
                raise  # a wrong setting: say so once, do not loop on it
            totals.failed_passes += 1
            log.warning("sync pass failed; retrying in %g s", every, exc_info=True)
        else:
            totals.copied += result.copied
            totals.bytes_copied += result.bytes_copied
            if result.copied:
                log.info("copied %d new object(s) (%d listed)", result.copied, result.listed)
            if on_pass:
                on_pass(result)
        totals.passes += 1
        if max_passes is not None and totals.passes >= max_passes:
            break
        stop.wait(max(0.0, every - (time.monotonic() - started)))
    log.info(
        "follower stopped after %d pass(es): %d object(s) copied", totals.passes, totals.copied
    )
    return totals
