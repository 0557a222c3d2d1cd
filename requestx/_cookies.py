"""`Cookies`: the client's cookie jar, shaped as httpx's (a mapping over `http.cookiejar.CookieJar`).

The engine keeps no jar of its own: the client adds a Cookie header from this jar when it has
cookies for the URL, and reads Set-Cookie into it after each response (each redirect hop too).
A client whose jar is empty pays nothing for it.
"""

from __future__ import annotations

import email.message
import typing
import urllib.request
from http.cookiejar import Cookie, CookieJar

from ._exceptions import CookieConflict

if typing.TYPE_CHECKING:
    from ._models import Request, Response

__all__ = ["Cookies", "CookieTypes"]

CookieTypes = typing.Union["Cookies", CookieJar, typing.Mapping[str, str], typing.Sequence[typing.Tuple[str, str]]]


class _CookieRequest(urllib.request.Request):
    """What CookieJar reads a request through; the Cookie header it adds lands on our request."""

    def __init__(self, request: Request) -> None:
        super().__init__(
            url=str(request.url), headers={k: v for k, v in request.headers.multi_items()}, method=request.method
        )
        self.request = request

    def add_unredirected_header(self, key: str, value: str) -> None:
        super().add_unredirected_header(key, value)
        # A cookie's value came in as the server's bytes (decoded as UTF-8 when not ASCII): it
        # goes back as those bytes, not as a str the request's ASCII headers would refuse.
        self.request.headers[key] = value.encode("utf-8")


class _CookieResponse:
    """What CookieJar reads a response's Set-Cookie headers through."""

    def __init__(self, response: Response) -> None:
        self.response = response

    def info(self) -> email.message.Message:
        info = email.message.Message()
        for key, value in self.response.headers.multi_items():
            info[key] = value
        return info


class Cookies(typing.MutableMapping[str, str]):
    """Cookies by name, with domains and paths kept: `cookies["session"]`, `cookies.set(...)`."""

    def __init__(self, cookies: CookieTypes | None = None) -> None:
        if isinstance(cookies, CookieJar):
            self.jar = cookies
            return
        self.jar = CookieJar()
        if isinstance(cookies, Cookies):
            for cookie in cookies.jar:
                self.jar.set_cookie(cookie)
        elif isinstance(cookies, typing.Mapping):
            for name, value in cookies.items():
                self.set(name, value)
        elif cookies is not None:
            for name, value in cookies:
                self.set(name, value)

    def extract_cookies(self, response: Response) -> None:
        """Stores the Set-Cookie headers of `response`, scoped by its request's URL."""
        self.jar.extract_cookies(_CookieResponse(response), _CookieRequest(response.request))  # type: ignore[arg-type]

    def set_cookie_header(self, request: Request) -> None:
        """Adds the Cookie header for `request`'s URL, if any cookie applies."""
        self.jar.add_cookie_header(_CookieRequest(request))

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        cookie = Cookie(
            version=0,
            name=name,
            value=value,
            port=None,
            port_specified=False,
            domain=domain,
            domain_specified=bool(domain),
            domain_initial_dot=domain.startswith("."),
            path=path,
            path_specified=bool(path),
            secure=False,
            expires=None,
            discard=True,
            comment=None,
            comment_url=None,
            rest={"HttpOnly": ""},
            rfc2109=False,
        )
        self.jar.set_cookie(cookie)

    def get(  # type: ignore[override]
        self, name: str, default: str | None = None, domain: str | None = None, path: str | None = None
    ) -> str | None:
        value = None
        for cookie in self.jar:
            if (
                cookie.name == name
                and (domain is None or cookie.domain == domain)
                and (path is None or cookie.path == path)
            ):
                if value is not None:
                    raise CookieConflict(f"Multiple cookies exist with name={name}")
                value = cookie.value
        return default if value is None else value

    def delete(self, name: str, domain: str | None = None, path: str | None = None) -> None:
        if domain is not None and path is not None:
            self.jar.clear(domain, path, name)
            return
        for cookie in [c for c in self.jar if c.name == name]:
            if (domain is None or cookie.domain == domain) and (path is None or cookie.path == path):
                self.jar.clear(cookie.domain, cookie.path, cookie.name)

    def clear(self, domain: str | None = None, path: str | None = None) -> None:
        args = [a for a in (domain, path) if a is not None]
        self.jar.clear(*args)

    def update(self, cookies: CookieTypes | None = None) -> None:  # type: ignore[override]
        for cookie in Cookies(cookies).jar:
            self.jar.set_cookie(cookie)

    def __setitem__(self, name: str, value: str) -> None:
        self.set(name, value)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            if any(cookie.name == name for cookie in self.jar):
                return ""  # a cookie without a value ("Set-Cookie: flag"): it is there, empty
            raise KeyError(name)
        return value

    def __delitem__(self, name: str) -> None:
        if self.get(name) is None:
            raise KeyError(name)
        self.delete(name)

    def __len__(self) -> int:
        return len(self.jar)

    def __iter__(self) -> typing.Iterator[str]:
        return (cookie.name for cookie in self.jar)

    def __bool__(self) -> bool:
        return any(True for _ in self.jar)

    def __repr__(self) -> str:
        cookies = ", ".join(f"<Cookie {c.name}={c.value} for {c.domain} />" for c in self.jar)
        return f"<Cookies[{cookies}]>"
