"""The wheelhouse: what the controller ships to a host (streamer or triage) so it installs
without any network.

`build_wheelhouse` gives the host's wheels in two parts: the project's own wheel (built from
the checkout, once per content) and the dependency set, one wheel per dependency for the
host's platform, pinned to the versions installed on the controller (the versions the tests
ran with): the core dependencies, plus the closure of the extras a role asks for (the triage
host: data, model, triage). The dependency set is packed once as one tar with every wheel's
SHA-256, so a source change ships only the project wheel; the host then runs `pip install
--no-index --require-hashes`. A dependency that the index offers only as a source
distribution (pyspark) is built into a wheel on the controller when it is pure Python (pip's
wheel cache makes that a copy after the first time). Everything is cached by content under
the user's cache folder, so a second provision reuses the same files and Ansible's copy
reports no change.

`pack_folder` ships any other folder (a model, the data splits) the same way: one
reproducible tar named by its content.
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

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tweet_triage.atomic_files import atomic_path, write_atomic
from tweet_triage.config import PROJECT_ROOT
from tweet_triage.errors import TriageError

PROJECT = "tweet-triage"
KEEP = 4  # project wheels and dependency sets kept: the streamer's and the triage host's,
# current and previous


class WheelhouseError(TriageError):
    """The host's wheels cannot be built; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class Wheelhouse:
    """The host's wheels: the project wheel apart from the dependency set's tar, so a source
    change copies only the project wheel."""

    wheelhouse_id: str  # names project wheel and dependency set together
    project_wheel: Path
    deps_id: str  # names the dependency set (its lock and the host's platform)
    deps_archive: Path  # one tar of the dependency wheels: one SSH transfer, not a hundred
    sha256: dict[str, str]  # every wheel's digest, by file name


def _write_archive(folder: Path, names: list[str], archive: Path) -> None:
    """A byte-for-byte reproducible tar, so a re-copy of unchanged files changes nothing."""
    with (
        atomic_path(archive) as temporary,
        tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in sorted(names):
            info = tar.gettarinfo(str(folder / name), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            info.mode = 0o644
            with (folder / name).open("rb") as handle:
                tar.addfile(info, handle)


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tweet-triage" / "wheelhouse"


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
            raise WheelhouseError(
                f"building the project wheel failed: {result.stderr.strip()[-800:]}"
            )
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
        raise WheelhouseError(f"{project} is not installed here; run `make install`") from exc
    unknown = sorted(set(extras) - offered)
    if unknown:
        raise WheelhouseError(
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
            raise WheelhouseError(
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
        raise WheelhouseError(
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
        raise WheelhouseError(
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
                raise WheelhouseError(
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
    wheel's SHA-256, so later builds neither re-hash nor re-pack about a gigabyte."""
    hashes_file = deps / _DEPS_HASHES
    if not hashes_file.is_file():
        wheels = sorted(deps.glob("*.whl"))
        _write_archive(deps, [path.name for path in wheels], deps / DEPS_ARCHIVE)
        hashes = {path.name: _sha256(path) for path in wheels}
        write_atomic(hashes_file, json.dumps(hashes, sort_keys=True))
    return dict(json.loads(hashes_file.read_text()))


def build_wheelhouse(
    python_version: str,
    arch: str,
    glibc: str,
    *,
    extras: tuple[str, ...] = (),
    source: Path = PROJECT_ROOT,
    cache: Path | None = None,
) -> Wheelhouse:
    """The host's wheels: the project wheel (built from `source`, a checkout of this project)
    and the dependency set of the core and `extras`, with every wheel's SHA-256."""
    if not (source / "pyproject.toml").is_file() or not (source / "src" / "tweet_triage").is_dir():
        raise WheelhouseError(f"{source} is not a tweet-triage checkout (no pyproject.toml/src)")
    cache = cache or cache_root()
    with _locked(cache):
        wheel = project_wheel(cache, source)
        lock = dependency_lock(extras)
        deps = dependency_wheels(cache, lock, python_version, arch, glibc)
        sha256 = {**_dependency_archive(deps), wheel.name: _sha256(wheel)}
        digest = hashlib.sha256()
        for name in sorted(sha256):
            digest.update(name.encode() + sha256[name].encode())
        for used in (wheel.parent, deps):
            os.utime(used)  # last used: what pruning keeps
        _prune(cache / "wheels", keep=KEEP)
        _prune(cache / "deps", keep=KEEP)  # a dependency set with its tar: ~2 GB
    return Wheelhouse(digest.hexdigest()[:20], wheel, deps.name, deps / DEPS_ARCHIVE, sha256)


def pack_folder(folder: Path, cache: Path | None = None) -> Path:
    """A folder (a model, the data splits) as one reproducible tar named by its content: one
    copy and one checksum instead of one per file, and an unchanged folder copies nothing."""
    if not folder.is_dir():
        raise WheelhouseError(f"{folder} is not a folder")
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + _sha256(path).encode())
    target = (cache or cache_root()) / "folders" / f"{digest.hexdigest()[:20]}.tar"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_archive(folder, [str(path.relative_to(folder)) for path in files], target)
    os.utime(target)
    _prune(target.parent, keep=KEEP * 4)
    return target


def _prune(folder: Path, keep: int) -> None:
    """Remove all but the `keep` most recently used entries (the triage host's dependency set
    is ~1 GB, and each source change makes a new project wheel)."""
    entries = sorted(folder.iterdir(), key=lambda path: path.stat().st_mtime, reverse=True)
    for stale in entries[keep:]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
