"""Where records go: Kinesis Data Firehose (PutRecordBatch) or a local file (`--sink file:PATH`).

A sink's `put_batch` returns, per record, None (accepted) or the reason it was refused, so the
sender re-sends exactly the refused ones; an exception means the whole call failed (network,
throttling, service errors) and every record of the call is re-sent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tweet_triage.cloud.aws import connect
from tweet_triage.cloud.plan import StackNames
from tweet_triage.config import Settings
from tweet_triage.errors import TriageError
from tweet_triage.stream.errors import TransientStreamError

# Firehose PutRecordBatch limits.
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024

# Errors that cannot heal by waiting; retried anyway (slowly) so nothing is dropped, but
# logged as what they are so an operator can fix them.
PERMANENT_ERROR_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "InvalidArgumentException",
        "ValidationException",
        "InvalidKMSResourceException",
    }
)


# Whole-call refusals caused by what the call carries: the sender isolates the record at
# fault and dead-letters it rather than retrying it forever.
CONTENT_ERROR_CODES = frozenset({"ValidationException", "InvalidArgumentException"})


class SinkError(Exception):
    """A whole put call failed; `permanent` is True when waiting alone will not fix it."""

    def __init__(self, message: str, *, code: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent

    @property
    def refuses_content(self) -> bool:
        """The call was refused for a record it carries (sending it again cannot help)."""
        return self.code in CONTENT_ERROR_CODES


class SinkConfigError(TriageError):
    """The sink cannot be used (no such delivery stream, bad --sink); the message says why."""


class Sink(Protocol):
    name: str

    def check(self) -> None:
        """Fail fast, before reading X, when the sink cannot accept records."""

    def put_batch(self, records: Sequence[bytes]) -> list[str | None]:
        """Send records; per record None if accepted, else the error. Raises SinkError."""

    def close(self) -> None: ...


# The sender retries, and counts each retry: botocore's own retries are off. Every call has a
# connect and a read timeout, so a Firehose endpoint that hangs cannot hold a worker forever.
FIREHOSE_CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=30
)


def firehose_client(settings: Settings) -> Any:
    """A Firehose client with the settings' region, endpoint and credentials (the cloud
    package's session), with the sender's own retry and timeout configuration."""
    settings.require("aws_region")
    aws = connect(settings)
    return aws.session.client(
        "firehose", endpoint_url=aws.endpoint_url, config=FIREHOSE_CLIENT_CONFIG
    )


class FirehoseSink:
    """PutRecordBatch into the stack's delivery stream; botocore's own retries are off."""

    def __init__(self, stream_name: str, client: Any) -> None:
        self.stream_name = stream_name
        self.name = f"firehose:{stream_name}"
        self._client = client

    def check(self) -> None:
        try:
            description = self._client.describe_delivery_stream(
                DeliveryStreamName=self.stream_name
            )["DeliveryStreamDescription"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise SinkConfigError(
                    f"Firehose delivery stream {self.stream_name!r} does not exist; create the "
                    "stack (make -f Makefile-stream aws-create) or check STACK_NAME and "
                    "AWS_REGION"
                ) from exc
            if code in PERMANENT_ERROR_CODES:
                raise SinkConfigError(
                    f"cannot describe Firehose delivery stream {self.stream_name!r}: {code}; "
                    "check the AWS credentials and AWS_REGION"
                ) from exc
            raise TransientStreamError(
                f"Firehose answered {code or exc} for {self.stream_name!r}; retry later"
            ) from exc
        except BotoCoreError as exc:
            raise TransientStreamError(
                f"cannot reach Firehose for {self.stream_name!r}: {exc}; check AWS_REGION, "
                "AWS_ENDPOINT_URL and the network"
            ) from exc
        status = description.get("DeliveryStreamStatus")
        if status not in ("ACTIVE", "UPDATING"):
            raise SinkConfigError(
                f"Firehose delivery stream {self.stream_name!r} is {status}, not ACTIVE; wait "
                "for it (make -f Makefile-stream aws-status) and start again"
            )

    def put_batch(self, records: Sequence[bytes]) -> list[str | None]:
        try:
            response = self._client.put_record_batch(
                DeliveryStreamName=self.stream_name,
                Records=[{"Data": data} for data in records],
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "ClientError"))
            raise SinkError(
                f"{code}: {error.get('Message', exc)}",
                code=code,
                permanent=code in PERMANENT_ERROR_CODES,
            ) from exc
        except BotoCoreError as exc:  # connection errors, timeouts
            raise SinkError(f"{type(exc).__name__}: {exc}", code=type(exc).__name__) from exc
        if not response.get("FailedPutCount"):
            return [None] * len(records)
        results: list[str | None] = []
        for entry in response["RequestResponses"]:
            code = entry.get("ErrorCode")
            results.append(f"{code}: {entry.get('ErrorMessage', '')}" if code else None)
        if len(results) != len(records):
            raise SinkError(
                f"Firehose answered {len(results)} results for {len(records)} records",
                code="MismatchedResponse",
            )
        return results

    def close(self) -> None:
        self._client.close()


class FileSink:
    """Appends records to a local file, synced per batch: stream-check without AWS."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"file:{path}"
        self._handle: Any = None
        self._lock = threading.Lock()  # concurrent sender workers append whole batches

    def check(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("ab")
        except OSError as exc:
            raise SinkConfigError(
                f"--sink file:{self.path}: cannot write there ({exc}); choose a writable path"
            ) from exc

    def put_batch(self, records: Sequence[bytes]) -> list[str | None]:
        try:
            with self._lock:
                if self._handle is None:
                    self.check()
                self._handle.write(b"".join(records))
                self._handle.flush()
                os.fsync(self._handle.fileno())
        except OSError as exc:  # disk full: retried, kept in the spool meanwhile
            raise SinkError(f"writing {self.path}: {exc}", code="OSError") from exc
        return [None] * len(records)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def parse_sink(spec: str, settings: Settings) -> Sink:
    """`firehose` (the stack's delivery stream) or `file:PATH`."""
    if spec == "firehose":
        stream = StackNames(settings.stack_name).delivery_stream
        return FirehoseSink(stream, firehose_client(settings))
    if spec.startswith("file:") and len(spec) > len("file:"):
        return FileSink(Path(spec.removeprefix("file:")).expanduser())
    raise SinkConfigError(f"--sink {spec!r}: use 'firehose' or 'file:PATH'")
