"""Redirect handling, written once for every transport: the next request a redirect calls for.

httpx's rules: 301/302 turn POST into GET, 303 turns anything but HEAD into GET; the body and its
headers go when the method changes; `Authorization` goes when the origin changes (except an
http→https upgrade of the same host); `Cookie` goes (the jar re-applies cookies per hop).
"""

from __future__ import annotations

from ._exceptions import RemoteProtocolError, UnsupportedProtocol
from ._headers import Headers
from ._models import NO_BODY, Request, Response
from ._urls import URL

__all__ = ["build_redirect_request", "redirect_headers"]


def _method(request: Request, status_code: int) -> str:
    method = request.method
    if status_code == 303 and method != "HEAD":
        return "GET"
    if status_code == 302 and method not in ("HEAD", "QUERY"):
        return "GET"  # as browsers (and httpx2); QUERY keeps its method (RFC 10008 2.5)
    if status_code == 301 and method == "POST":
        return "GET"
    return method


def _url(request: Request, response: Response) -> URL:
    location = response.headers["location"]
    try:
        url = URL(location)
        scheme = url.scheme
        if scheme and scheme not in ("http", "https"):
            raise UnsupportedProtocol(f"Scheme {scheme!r} not supported.", request=request)
        if scheme and not url.host:
            url = url.copy_with(host=request.url.host)  # a malformed "https://:443/": the same host
        if url.is_relative_url:
            url = request.url.join(url)
    except UnsupportedProtocol:
        raise
    except Exception as exc:
        raise RemoteProtocolError(f"Invalid URL in location header: {exc}.", request=request) from None
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


def redirect_headers(request: Request, url: URL, method: str) -> Headers:
    """The headers of the request that follows a redirect to `url` with `method`."""
    headers = Headers(request.headers)
    if _origin(url) != _origin(request.url):
        if not _is_https_upgrade(request.url, url):
            headers.pop("Authorization", None)
        headers["Host"] = url.netloc.decode("ascii")
    if method != request.method and method == "GET":
        # The body goes with the method change, and the headers that describe it.
        headers.pop("Content-Length", None)
        headers.pop("Transfer-Encoding", None)
    headers.pop("Cookie", None)  # the jar adds what applies to the new URL
    return headers


def build_redirect_request(request: Request, response: Response) -> Request:
    method = _method(request, response.status_code)
    url = _url(request, response)
    headers = redirect_headers(request, url, method)
    # A streamed body cannot be replayed: sending it again raises StreamConsumed.
    stream = request.stream if method == request.method or method != "GET" else NO_BODY
    if stream is NO_BODY:
        headers.pop("Content-Type", None)
    return Request._redirected(method, url, headers, stream, request.extensions)
