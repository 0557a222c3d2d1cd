"""URLs to shards by host: every URL of one host goes to one host bucket, a bucket is cut into
shards of at most `shard_size` URLs, in input order. The same input and parameters always give
the same shards with the same numbers (a stable hash, no randomness, no timing), which is what
lets a rerun skip the shards it finished."""

from __future__ import annotations

import dataclasses
import re
import typing
import urllib.parse
import zlib

__all__ = ["Shard", "Sharder", "host_key"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


_AUTHORITY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)")
_keys: dict[str, str] = {}


def host_key(url: str) -> str:
    """The host a URL's requests are limited under, as the pool's gate keys it: host and port
    (the scheme's default port when none is given). A malformed URL has the key "" (its record
    will be an error; it still needs a shard).

    NOTE: cached by the URL's scheme and authority: parsing every URL (urlsplit, IDNA) cost ~4 us
    a URL in the driver, where a LocalCluster's scheduler shares the GIL with it; that stalled the
    scheduler for hundreds of ms while a burst of shards was cut."""
    match = _AUTHORITY.match(url)
    if match is None:
        return _host_key(url)
    authority = match.group(0)
    key = _keys.get(authority)
    if key is None:
        if len(_keys) >= 65536:
            _keys.clear()
        key = _keys[authority] = _host_key(authority)
    return key


def _host_key(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return ""
    if not host:
        return ""
    try:
        host = host.encode("idna").decode("ascii")  # the gate sees internationalised names in punycode
    except UnicodeError:
        pass
    if port is None:
        port = _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    return f"{host.lower()}:{port}"


def bucket_of(url: str, buckets: int) -> int:
    """A stable hash of the URL's host (crc32, the same in every process and run)."""
    return zlib.crc32(host_key(url).encode("utf-8", "surrogatepass")) % buckets


@dataclasses.dataclass(frozen=True)
class Shard:
    """`urls` of one host bucket, `number` the shard's place in the crawl (its part file)."""

    number: int
    bucket: int
    urls: tuple[str, ...]


class Sharder:
    """Cuts a stream of URLs into shards, lazily: a bucket's shard is handed out when it holds
    `shard_size` URLs, and when more than `buffer_limit` URLs are held in all, the fullest bucket
    is handed out early (so memory is bounded whatever the number of hosts); what is left when the
    input ends is handed out by bucket. Every choice depends on the input alone."""

    def __init__(self, shard_size: int, buckets: int, buffer_limit: int) -> None:
        if shard_size < 1 or buckets < 1 or buffer_limit < shard_size:
            raise ValueError("shard_size and buckets must be positive and buffer_limit >= shard_size")
        self.shard_size = shard_size
        self.buckets = buckets
        self.buffer_limit = buffer_limit

    def shards(self, urls: typing.Iterable[str]) -> typing.Iterator[Shard]:
        held: dict[int, list[str]] = {}
        count = 0
        number = 0
        for url in urls:
            bucket = bucket_of(url, self.buckets)
            pending = held.setdefault(bucket, [])
            pending.append(url)
            count += 1
            if len(pending) >= self.shard_size:
                del held[bucket]
                count -= len(pending)
                yield Shard(number, bucket, tuple(pending))
                number += 1
            elif count > self.buffer_limit:
                # The fullest bucket (the lowest-numbered among equals) goes out early.
                fullest = max(held, key=lambda b: (len(held[b]), -b))
                pending = held.pop(fullest)
                count -= len(pending)
                yield Shard(number, fullest, tuple(pending))
                number += 1
        for bucket in sorted(held):
            yield Shard(number, bucket, tuple(held[bucket]))
            number += 1
