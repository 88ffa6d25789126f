"""What the controller ships to a host (streamer or triage), so it installs without any network.

`build_bundle` makes a folder of wheels for the host's platform: the project's own wheel
(built from the checkout) and the wheels of its dependencies, pinned to the versions
installed on the controller (the versions the tests ran with): the core dependencies for the
streamer, plus the closure of the extras a role asks for (the triage host: data, model,
triage), plus a requirements file. The host then runs `pip install --no-index`. A dependency
that the index offers only as a source distribution (pyspark) is built into a wheel on the
controller when it is pure Python (pip's wheel cache makes that a copy after the first time).
Everything is cached by content under the user's cache folder, so a second provision reuses
the same files and Ansible's copy reports no change.

`host_settings` is a role's settings file for the host, validated on the controller first (a
missing X token or region stops the play before anything is installed). On EC2 the host
reaches AWS through its instance profile, so AWS keys are never written there; for the local
host the stand-in's endpoint and dummy keys are passed on.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Literal

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tweet_triage.config import PROJECT_ROOT, Settings, SettingsError
from tweet_triage.errors import TriageError
from tweet_triage.profile import load_profile, profile_path

PROJECT = "tweet-triage"
KEEP_BUNDLES = 4  # bundles and dependency sets kept: the streamer's and the triage host's,
# current and previous
AwsCredentials = Literal["instance-profile", "forward"]
_FORWARDED_AWS = (
    "aws_endpoint_url",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
)


@dataclass(frozen=True)
class HostRole:
    """The settings a host role reads; everything else (local ports, controller paths) stays
    on the controller.

    `required` must be set and non-empty; `optional` go when set; every setting named
    `<prefix>...` goes too, except `controller_only` (controller paths and choices the role
    makes itself). `services` are URLs of servers the host must reach: passed on unless they
    name a file on the controller (SQLite, file:), in which case the host keeps its own in
    its state folder. `state_paths` are folder settings put under the host's state folder.
    """

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    prefix: str = ""
    controller_only: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    state_paths: tuple[str, ...] = ()


HOST_ROLES = {
    "streamer": HostRole(
        required=("aws_region", "stack_name", "x_bearer_token", "x_api_base_url"),
        optional=("s3_bucket", "raw_prefix"),
        prefix="stream_",
        controller_only=(
            "stream_spool_dir",
            "stream_dead_letter_path",
            "stream_stats_file",
            "stream_log_file",
        ),
    ),
    # Follower, scorer, inbox and the loop's jobs: the bucket, Spark, the triage settings.
    "triage": HostRole(
        required=("aws_region", "stack_name"),
        optional=("s3_bucket", "raw_prefix", "spark_master", "spark_conf"),
        prefix="triage_",
        controller_only=(
            "triage_raw_dir",
            "triage_scored_dir",
            "triage_checkpoint_dir",
            "triage_instance_type",
            "triage_host",  # the role's triage_inbox_address / triage_inbox_port
            "triage_port",
            "triage_model",  # the role's copied model folder, else the registry's champion
            "triage_database_url",  # a service: see below
        ),
        services=("triage_database_url", "mlflow_tracking_uri"),
        state_paths=("data_dir", "model_dir", "reports_dir"),
    ),
}


class BundleError(TriageError):
    """The host bundle cannot be built; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class Bundle:
    folder: Path
    bundle_id: str
    project_wheel: str
    requirements: str  # file name inside folder and archive
    archive: str | None  # one tar of the wheels and requirements: one SSH transfer, not thirty
    # Split layout (a large bundle: the triage host's): the dependencies' tar, written once per
    # lock and platform, ships apart from the project wheel, so a source change copies only
    # the project wheel. `deps_id` names the dependency set; `sha256` has every wheel's digest.
    deps_folder: Path
    deps_id: str
    deps_archive: str
    sha256: dict[str, str]


def _write_archive(folder: Path, names: list[str], archive: Path) -> None:
    """A byte-for-byte reproducible tar, so a re-copy of an unchanged bundle changes nothing."""
    temporary = archive.with_suffix(".tmp")
    with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(names):
            info = tar.gettarinfo(str(folder / name), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            info.mode = 0o644
            with (folder / name).open("rb") as handle:
                tar.addfile(info, handle)
    os.replace(temporary, archive)


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tweet-triage" / "host-bundle"


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One builder at a time per cache (parallel Ansible forks share it)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _source_files(root: Path) -> list[Path]:
    """The runtime package only: the stand-ins (tweet_triage_local) never go to the host."""
    files = [root / "pyproject.toml", root / "README.md"]
    for path in sorted((root / "src" / "tweet_triage").rglob("*")):
        parts = set(path.parts)
        if (
            path.is_file()
            and "__pycache__" not in parts
            and not any(p.endswith(".egg-info") for p in path.parts)
        ):
            files.append(path)
    return [f for f in files if f.is_file()]


def source_hash(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for path in _source_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def project_wheel(cache: Path, root: Path = PROJECT_ROOT) -> Path:
    """The project's wheel for this source tree, built once per content hash.

    Built from a clean copy of the sources, so stale files in a build/ folder never leak in.
    """
    target = cache / "wheels" / source_hash(root)
    existing = sorted(target.glob("*.whl"))
    if existing:
        return existing[0]
    with tempfile.TemporaryDirectory(prefix="tt-wheel-") as scratch:
        copy = Path(scratch) / "src-copy"
        for path in _source_files(root):
            destination = copy / path.relative_to(root)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
        out = Path(scratch) / "out"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--quiet",
                "--wheel-dir",
                str(out),
                str(copy),
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"},
            check=False,
        )
        if result.returncode != 0:
            raise BundleError(f"building the project wheel failed: {result.stderr.strip()[-800:]}")
        target.mkdir(parents=True, exist_ok=True)
        for wheel in out.glob("*.whl"):
            shutil.move(str(wheel), target / wheel.name)
    return sorted(target.glob("*.whl"))[0]


def dependency_lock(extras: tuple[str, ...] = (), project: str = PROJECT) -> dict[str, str]:
    """name -> version for the closure of the core dependencies and `extras`, as installed on
    the controller (extras of dependencies, e.g. psycopg[binary], are followed too)."""
    try:
        offered = set(distribution(project).metadata.get_all("Provides-Extra") or [])
    except PackageNotFoundError as exc:
        raise BundleError(f"{project} is not installed here; run `make install`") from exc
    unknown = sorted(set(extras) - offered)
    if unknown:
        raise BundleError(
            f"unknown extra(s) {', '.join(unknown)} of {project}; choose from "
            f"{', '.join(sorted(offered))}"
        )
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    queue = [Requirement(f"{project}[{','.join(extras)}]" if extras else project)]
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        wanted = frozenset(requirement.extras)
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        try:
            installed = distribution(name)
        except PackageNotFoundError as exc:
            raise BundleError(
                f"{name} (needed by the host) is not installed on the controller; run "
                "`make install`"
            ) from exc
        if name != project:
            pins[name] = installed.version
        for text in installed.requires or []:
            needed = Requirement(text)
            # Another platform's dependency, or an extra nobody asked for: skip.
            if needed.marker is None or any(
                needed.marker.evaluate({"extra": extra}) for extra in ("", *wanted)
            ):
                queue.append(needed)
    return dict(sorted(pins.items()))


def pip_platforms(arch: str, glibc: str) -> list[str]:
    """pip --platform values a host with this glibc accepts (pip does not expand them itself)."""
    match = re.fullmatch(r"2\.(\d+)", glibc)
    if match is None:
        raise BundleError(
            f"host glibc {glibc!r} is not a version like 2.36; is the host glibc-based?"
        )
    minor = int(match.group(1))
    platforms = [f"manylinux_2_{m}_{arch}" for m in range(minor, 16, -1)]
    platforms.append(f"manylinux2014_{arch}")
    if arch in ("x86_64", "i686"):
        platforms += [f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    return platforms


_NO_WHEEL = re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)==")


def _pure_python(name: str) -> bool:
    """True when the controller's copy of `name` is a pure-Python wheel (any platform)."""
    try:
        text = distribution(name).read_text("WHEEL") or ""
    except PackageNotFoundError:
        return False
    tags = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]
    return bool(tags) and all(tag.endswith("-none-any") for tag in tags)


def _download(
    pins: dict[str, str], dest: str, python_version: str, arch: str, glibc: str
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--dest",
        dest,
    ]
    for platform in pip_platforms(arch, glibc):
        command += ["--platform", platform]
    command += [f"{name}=={version}" for name, version in pins.items()]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _build_pure_wheel(name: str, version: str, dest: str) -> None:
    """The wheel of a pure-Python sdist, built here (pip reuses its cached build)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", dest,
         f"{name}=={version}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise BundleError(
            f"{name}=={version} has no wheel on the index and building one failed: "
            f"{result.stderr.strip()[-800:]}"
        )


def dependency_wheels(
    cache: Path, lock: dict[str, str], python_version: str, arch: str, glibc: str
) -> Path:
    """A folder with one wheel per pinned dependency for the host's platform (cached)."""
    key = hashlib.sha256(json.dumps([lock, python_version, arch, glibc]).encode()).hexdigest()[:20]
    target = cache / "deps" / key
    if (target / ".complete").is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="tt-deps-", dir=cache) as scratch:
        pending = dict(lock)
        while True:  # each pass either succeeds or moves one source-only package out
            result = _download(pending, scratch, python_version, arch, glibc)
            if result.returncode == 0:
                break
            match = _NO_WHEEL.search(result.stderr)
            name = canonicalize_name(match.group(1)) if match else None
            if name is None or name not in pending or not _pure_python(name):
                raise BundleError(
                    f"downloading the host's dependency wheels for Python {python_version} on "
                    f"{arch} (glibc {glibc}) failed; the controller needs PyPI access once "
                    f"(later runs use {cache}): {result.stderr.strip()[-800:]}"
                )
            _build_pure_wheel(name, pending.pop(name), scratch)
        Path(scratch, ".complete").write_text("\n".join(sorted(os.listdir(scratch))) + "\n")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(scratch, target)
        Path(scratch).mkdir()  # TemporaryDirectory cleans up the (now empty) name
    return target


DEPS_ARCHIVE = "deps.tar"
_DEPS_HASHES = "sha256.json"


def _dependency_archive(deps: Path) -> dict[str, str]:
    """Once per dependency folder (content-addressed, never changed): its tar and every
    wheel's SHA-256, so later bundles neither re-hash nor re-pack about a gigabyte."""
    hashes_file = deps / _DEPS_HASHES
    if not hashes_file.is_file():
        wheels = sorted(deps.glob("*.whl"))
        _write_archive(deps, [path.name for path in wheels], deps / DEPS_ARCHIVE)
        hashes = {path.name: _sha256(path) for path in wheels}
        temporary = hashes_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(hashes, sort_keys=True))
        os.replace(temporary, hashes_file)
    return dict(json.loads(hashes_file.read_text()))


def build_bundle(
    python_version: str,
    arch: str,
    glibc: str,
    *,
    extras: tuple[str, ...] = (),
    split: bool = False,
    source: Path = PROJECT_ROOT,
    cache: Path | None = None,
) -> Bundle:
    """The host's wheel folder: project wheel (built from `source`, a checkout of this project)
    + the wheels of the core dependencies and of `extras` + pinned requirements; with `split`,
    no single tar (the host copies the dependencies' tar and the project wheel apart)."""
    if not (source / "pyproject.toml").is_file() or not (source / "src" / "tweet_triage").is_dir():
        raise BundleError(f"{source} is not a tweet-triage checkout (no pyproject.toml/src)")
    cache = cache or cache_root()
    with _locked(cache):
        wheel = project_wheel(cache, source)
        lock = dependency_lock(extras)
        deps = dependency_wheels(cache, lock, python_version, arch, glibc)
        sha256 = {**_dependency_archive(deps), wheel.name: _sha256(wheel)}
        wheels = sorted([wheel, *deps.glob("*.whl")], key=lambda p: p.name)
        digest = hashlib.sha256()
        for path in wheels:
            digest.update(path.name.encode() + sha256[path.name].encode())
        bundle_id = digest.hexdigest()[:20]
        folder = cache / "bundles" / bundle_id
        requirements, archive = "requirements.txt", "wheelhouse.tar"
        shipped = [wheel] if split else wheels
        if not (folder / requirements).is_file() or not (split or (folder / archive).is_file()):
            folder.mkdir(parents=True, exist_ok=True)
            for path in shipped:
                if not (folder / path.name).exists():
                    os.link(path, folder / path.name)
            version = wheel.name.split("-")[1]
            pins = {**lock, PROJECT: version}
            (folder / requirements).write_text(
                "".join(f"{name}=={pinned}\n" for name, pinned in sorted(pins.items()))
            )
            if not split:
                names = [requirements, *(path.name for path in wheels)]
                _write_archive(folder, names, folder / archive)
        for used in (folder, deps):
            os.utime(used)  # last used: what pruning keeps
        _prune(cache / "bundles", keep=KEEP_BUNDLES)
        _prune(cache / "deps", keep=KEEP_BUNDLES)  # a dependency set with its tar: ~2 GB
    return Bundle(
        folder,
        bundle_id,
        wheel.name,
        requirements,
        None if split else archive,
        deps,
        deps.name,
        DEPS_ARCHIVE,
        sha256,
    )


def pack_folder(folder: Path, cache: Path | None = None) -> Path:
    """A folder (a model, the data splits) as one reproducible tar named by its content: one
    copy and one checksum instead of one per file, and an unchanged folder copies nothing."""
    if not folder.is_dir():
        raise BundleError(f"{folder} is not a folder")
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + _sha256(path).encode())
    target = (cache or cache_root()) / "folders" / f"{digest.hexdigest()[:20]}.tar"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_archive(folder, [str(path.relative_to(folder)) for path in files], target)
    os.utime(target)
    _prune(target.parent, keep=KEEP_BUNDLES * 4)
    return target


def _prune(folder: Path, keep: int) -> None:
    """Remove all but the `keep` most recently used entries (a bundle with all the triage
    host's wheels is ~1 GB, and each source change makes a new one)."""
    entries = sorted(folder.iterdir(), key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in entries[keep:]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def _as_text(value: object) -> str:
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _names_a_controller_file(url: str) -> bool:
    return url.startswith(("sqlite:", "file:", "/", "."))


def host_settings(
    settings: Settings,
    *,
    aws_credentials: AwsCredentials,
    host_state_dir: str,
    host_profile_path: str,
    role: str = "streamer",
) -> dict[str, str]:
    """A role's environment on the host (secrets included: the caller writes it 0640)."""
    if role not in HOST_ROLES:
        raise BundleError(f"unknown host role {role!r}; use one of {', '.join(HOST_ROLES)}")
    spec = HOST_ROLES[role]
    settings.require(*spec.required)
    empty = [name.upper() for name in spec.required if not _as_text(getattr(settings, name))]
    if empty:  # require() lets an empty secret through (SecretStr('') is not '')
        raise SettingsError(
            f"setting(s) {', '.join(empty)} are empty; set them in .env (see .env.example) "
            "or in the environment"
        )
    load_profile(settings.mission_profile)  # unknown or invalid profile: stop here, named
    names = [*spec.required, *spec.optional]
    if spec.prefix:
        names += [
            name
            for name in type(settings).model_fields
            if name.startswith(spec.prefix) and name not in spec.controller_only
        ]
    names += [
        name
        for name in spec.services
        if (value := getattr(settings, name)) is not None
        and not _names_a_controller_file(_as_text(value))
    ]
    if aws_credentials == "forward":
        names += list(_FORWARDED_AWS)
    elif settings.uses_local_aws:
        raise BundleError(
            f"TT_DEPLOYMENT=local (the stand-ins, AWS_ENDPOINT_URL={settings.aws_endpoint_url}), "
            "but this host takes AWS access from its instance profile (real AWS): set "
            "TT_DEPLOYMENT=aws, or use the local inventory"
        )
    values = {
        name.upper(): _as_text(value)
        for name in dict.fromkeys(names)
        if (value := getattr(settings, name)) is not None
    }
    values["AWS_DEFAULT_REGION"] = values["AWS_REGION"]
    values["MISSION_PROFILE"] = host_profile_path
    values["TT_STATE_DIR"] = host_state_dir
    values["TT_DEPLOYMENT"] = settings.deployment
    values["TT_IGNORE_DOTENV"] = "1"  # the host's environment is this file, nothing else
    for name in spec.state_paths:  # e.g. DATA_DIR=<state>/data: never inside the code folder
        values[name.upper()] = f"{host_state_dir}/{name.removesuffix('_dir')}"
    if "mlflow_tracking_uri" in spec.services and "MLFLOW_TRACKING_URI" not in values:
        values["MLFLOW_TRACKING_URI"] = f"sqlite:///{host_state_dir}/mlflow.db"
    return values


def mission_profile_file(settings: Settings) -> Path:
    """The profile file to copy to the host (validated)."""
    load_profile(settings.mission_profile)
    return profile_path(settings.mission_profile).resolve()
