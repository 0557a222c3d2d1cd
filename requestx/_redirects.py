"""Redirect handling, written once for every transport: the next request a redirect calls for.

httpx's rules: 301/302 turn POST into GET, 303 turns anything but HEAD into GET; the body and its
headers go when the method changes; `Authorization` goes when the origin changes (except an
http→https upgrade of the same host); `Cookie` goes (the jar re-applies cookies per hop).
"""

from __future__ import annotations

from ._exceptions import RemoteProtocolError, UnsupportedProtocol
from ._headers import Headers
from ._models import Request, Response
from ._stream_body import StreamBody
from ._urls import URL

__all__ = ["build_redirect_request"]


def _method(request: Request, status_code: int) -> str:
    method = request.method
    if status_code == 303 and method != "HEAD":
        return "GET"
    if status_code in (301, 302) and method == "POST":
        return "GET"
    return method


def _url(request: Request, response: Response) -> URL:
    location = response.headers["location"]
    try:
        url = URL(location)
        if url.is_relative_url:
            url = request.url.join(url)
        scheme = url.scheme
    except Exception as exc:
        raise RemoteProtocolError(f"Invalid URL in location header: {exc}.", request=request) from None
    if scheme not in ("http", "https"):
        raise UnsupportedProtocol(f"Scheme {scheme!r} not supported.", request=request)
    if not url.fragment and request.url.fragment:
        url = url.copy_with(fragment=request.url.fragment)
    return url


def _origin(url: URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _is_https_upgrade(old: URL, new: URL) -> bool:
    return (
        old.host == new.host
        and old.scheme == "http"
        and old.port in (80, None)
        and new.scheme == "https"
        and new.port in (443, None)
    )


def build_redirect_request(request: Request, response: Response) -> Request:
    method = _method(request, response.status_code)
    url = _url(request, response)
    headers = Headers(request.headers)
    if _origin(url) != _origin(request.url):
        if not _is_https_upgrade(request.url, url):
            headers.pop("Authorization", None)
        if "host" in headers:
            headers["Host"] = url.netloc.decode("ascii")
    # A streamed body cannot be replayed: sending it again raises StreamConsumed.
    body: bytes | StreamBody | None = request.stream if request.stream is not None else request._content
    if method != request.method and method == "GET":
        for name in ("Content-Length", "Transfer-Encoding", "Content-Type"):
            headers.pop(name, None)
        body = None
    headers.pop("Cookie", None)
    return Request._build(method, url, headers, body, request.extensions)
