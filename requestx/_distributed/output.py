"""The output folder and its commit protocol.

A shard's records are written to `OUT/.part-NNNNN.<token>.tmp`, flushed to disk, then renamed to
`OUT/part-NNNNN.jsonl` (`os.replace`, atomic on one filesystem): a part file exists only whole,
so a worker killed mid-shard leaves at most a temporary file, never a partial part. A part that
exists is never written again by a later run. `OUT/_manifest.json` keeps the sharding parameters
(a rerun must cut the same shards to skip the finished ones) and `OUT/.lock` keeps a second driver
out while one runs.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import typing
import uuid

__all__ = ["CrawlError", "OutputFolder", "commit_part", "part_name", "read_part"]

FORMAT = "requestx-crawl/1"


class CrawlError(Exception):
    """A distributed crawl could not start or go on (the scheduler, the output folder, the input).
    Every shard finished before it is kept; the same command resumes."""


def part_name(number: int) -> str:
    return f"part-{number:05d}.jsonl"


def read_part(path: str) -> tuple[list[str], int]:
    """The URLs of a committed part, and how many of its records are errors (4xx/5xx included)."""
    urls: list[str] = []
    errors = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            urls.append(record["url"])
            status = record.get("status")
            errors += record.get("error") is not None or (status is not None and status >= 400)
    return urls, errors


def commit_part(out: str, number: int, lines: typing.Iterable[str]) -> bool:
    """Writes a shard's lines and makes them visible as its part in one rename. Returns False
    (writing nothing) when the part was already committed, by an earlier run or a duplicate of
    this task; if two runs race, each rename puts a whole part in place."""
    final = os.path.join(out, part_name(number))
    if os.path.exists(final):
        return False
    temp = os.path.join(out, f".{part_name(number)}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(temp, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_dir(out)
    return True


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class OutputFolder:
    """The driver's side of the folder: created and checked writable, locked against a second
    driver, its manifest read (a resume) or written (a new crawl)."""

    def __init__(self, path: str, params: dict[str, int | None]) -> None:
        self.path = os.path.abspath(path)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise CrawlError(f"the output {path!r} is a file; a distributed crawl writes a folder of part files")
        try:
            os.makedirs(self.path, exist_ok=True)
            self._lock = open(os.path.join(self.path, ".lock"), "a")
        except OSError as exc:
            raise CrawlError(f"cannot write to the output folder {path!r}: {exc.strerror or exc}") from exc
        try:
            import fcntl

            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover (not POSIX)
            pass
        except OSError as exc:
            self._lock.close()
            raise CrawlError(f"another crawl is writing to {path!r} (it holds {path}/.lock)") from exc
        try:
            self.params = self._manifest(params)
            self.clean()
        except BaseException:
            self.close()
            raise

    def _manifest(self, asked: dict[str, int | None]) -> dict[str, int]:
        path = os.path.join(self.path, "_manifest.json")
        try:
            with open(path, encoding="utf-8") as f:
                manifest = json.load(f)
        except FileNotFoundError:
            manifest = None
        except (OSError, ValueError) as exc:
            raise CrawlError(f"cannot read {path}: {exc}") from exc
        if manifest is not None:
            if manifest.get("format") != FORMAT:
                raise CrawlError(f"{path} is not a requestx crawl manifest ({FORMAT})")
            saved = {name: int(manifest[name]) for name in asked}
            for name, value in asked.items():
                if value is not None and value != saved[name]:
                    raise CrawlError(
                        f"{self.path} was written with {name}={saved[name]}; resume with the same value "
                        f"(or leave it out), or crawl into a new folder"
                    )
            return saved
        if any(value is None for value in asked.values()):
            raise ValueError("every sharding parameter needs a value for a new crawl")
        params = {name: int(typing.cast(int, value)) for name, value in asked.items()}
        temp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with open(temp, "w", encoding="utf-8") as f:
                json.dump({"format": FORMAT, **params}, f)
                f.write("\n")
            os.replace(temp, path)
        except OSError as exc:
            raise CrawlError(f"cannot write to the output folder {self.path!r}: {exc.strerror or exc}") from exc
        return params

    def clean(self) -> None:
        """Temporary files of attempts that died (no driver runs on this folder but this one)."""
        for name in os.listdir(self.path):
            if name.startswith(".part-") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.path, name))

    def part(self, number: int) -> str:
        return os.path.join(self.path, part_name(number))

    def committed(self, number: int, urls: typing.Sequence[str]) -> int | None:
        """The error count of the shard's part when it is committed (None when it is not). A part
        whose URLs are not the shard's means the input changed since it was written."""
        path = self.part(number)
        if not os.path.exists(path):
            return None
        try:
            found, errors = read_part(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CrawlError(f"cannot read the finished part {path}: {exc}") from exc
        if collections.Counter(found) != collections.Counter(urls):
            raise CrawlError(
                f"{path} does not hold the URLs the input gives its shard now: the URL list changed "
                "since this folder was written; crawl into a new folder"
            )
        return errors

    def close(self) -> None:
        self._lock.close()
