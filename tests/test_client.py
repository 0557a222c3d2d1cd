"""The httpx-shaped client surface against a real uvicorn server, sync and under every runtime."""

from __future__ import annotations

import datetime
import json

import pytest

import requestx


def check_small(r: requestx.Response, url: str) -> None:
    assert r.status_code == 200
    assert r.reason_phrase == "OK"
    assert r.http_version == "HTTP/1.1"
    assert r.content == b"x" * 100
    assert r.text == "x" * 100
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers.get("content-length") == "100"
    assert "server" in r.headers
    assert r.url == url
    assert r.request.method == "GET"
    assert r.request.url == url
    assert isinstance(r.elapsed, datetime.timedelta)
    assert r.is_success and not r.is_error and not r.is_redirect
    assert r.encoding == "utf-8"


def test_sync_get(server) -> None:
    url = server.url + "/small"
    with requestx.Client() as client:
        check_small(client.get(url), url)
    check_small(requestx.get(url), url)


def test_async_get(server, arun) -> None:
    url = server.url + "/small"

    async def main() -> None:
        async with requestx.AsyncClient() as client:
            check_small(await client.get(url), url)

    arun(main)


def test_reason_phrase_is_the_servers_own(raw_server, arun) -> None:
    """As httpx: the status line's own text, not the standard phrase for the status."""
    with requestx.Client() as client:
        r = client.get(raw_server.url + "/custom-reason")
        assert (r.status_code, r.reason_phrase) == (404, "Gone Fishing")
        assert r.extensions["reason_phrase"] == b"Gone Fishing"
        assert repr(r) == "<Response [404 Gone Fishing]>"
        with pytest.raises(requestx.HTTPStatusError, match="404 Gone Fishing"):
            r.raise_for_status()
        standard = client.get(raw_server.url + "/ok")
        assert (standard.reason_phrase, standard.extensions["reason_phrase"]) == ("OK", b"OK")
        empty = client.get(raw_server.url + "/empty-reason")  # h11 reads it as b"" too
        assert (empty.reason_phrase, empty.extensions["reason_phrase"]) == ("", b"")

    async def main() -> str:
        async with requestx.AsyncClient() as client:
            return (await client.get(raw_server.url + "/custom-reason")).reason_phrase

    assert arun(main) == "Gone Fishing"


def check_echo_methods(send) -> None:
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]:
        body = send(method)
        assert body["method"] == method


def test_sync_methods_and_bodies(server) -> None:
    url = server.url + "/echo"
    with requestx.Client() as c:
        for method in ["get", "post", "put", "patch", "delete", "options"]:
            assert getattr(c, method)(url).json()["method"] == method.upper()
        assert c.head(url).content == b""
        echo = c.post(url, content=b"raw bytes").json()
        assert echo["body"] == "raw bytes"
        echo = c.post(url, content="text é").json()
        assert echo["body"].encode("latin-1").decode("utf-8") == "text é"
        echo = c.post(url, json={"a": [1, 2], "b": "é"}).json()
        assert json.loads(echo["body"].encode("latin-1")) == {"a": [1, 2], "b": "é"}
        assert ["content-type", "application/json"] in echo["headers"]
        echo = c.post(url, data={"a": "1", "b": ["x", "y"]}).json()
        assert echo["body"] == "a=1&b=x&b=y"
        assert ["content-type", "application/x-www-form-urlencoded"] in echo["headers"]
        echo = c.put(url, content=iter([b"a", b"b"])).json()
        assert echo["body"] == "ab"


def test_async_methods_and_bodies(server, arun) -> None:
    url = server.url + "/echo"

    async def main() -> None:
        async with requestx.AsyncClient() as c:
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]:
                assert (await c.request(method, url)).json()["method"] == method
            echo = (await c.post(url, json={"k": "v"})).json()
            assert json.loads(echo["body"]) == {"k": "v"}
            assert (await c.head(url)).status_code == 200

    arun(main)


def test_headers_defaults_and_merging(server) -> None:
    url = server.url + "/echo"
    with requestx.Client(headers={"X-Client": "1", "X-Both": "client"}) as c:
        echo = c.get(url, headers={"X-Both": "request", "X-Request": "2"}).json()
    headers = dict(echo["headers"])
    assert headers["x-client"] == "1"
    assert headers["x-both"] == "request"
    assert headers["x-request"] == "2"
    assert headers["user-agent"] == f"python-requestx/{requestx.__version__}"
    assert headers["accept"] == "*/*"
    assert "gzip" in headers["accept-encoding"]


def test_headers_model() -> None:
    h = requestx.Headers([("A", "1"), ("a", "2"), ("B", "3")])
    assert h["a"] == "1, 2"
    assert h.get_list("A") == ["1", "2"]
    assert list(h.keys()) == ["a", "b"]
    assert h.raw == [(b"A", b"1"), (b"a", b"2"), (b"B", b"3")]
    h["a"] = "x"
    assert h.multi_items() == [("a", "x"), ("b", "3")]
    del h["B"]
    assert "b" not in h and len(h) == 1
    with pytest.raises(UnicodeEncodeError):  # as httpx: a str header is ASCII unless told otherwise
        requestx.Headers({"Non-Ascii": "é"})
    assert requestx.Headers({"Non-Ascii": "é"}, encoding="utf-8").raw == [(b"Non-Ascii", "é".encode())]


def test_params_and_base_url(server) -> None:
    with requestx.Client(base_url=server.url + "/", params={"a": "1"}) as c:
        echo = c.get("/echo", params={"b": "2"}).json()
        assert echo["query"] == "a=1&b=2"
        assert c.get("echo").json()["path"] == "/echo"
        r = c.get("echo", params={"a": "3"})
        assert r.json()["query"] == "a=3"
        assert str(r.request.url) == server.url + "/echo?a=3"


def test_json_decoded_in_rust(server) -> None:
    with requestx.Client() as c:
        doc = c.get(server.url + "/json").json()
    assert doc["items"][3] == {"id": 3, "name": "n3", "ok": False, "score": 1.0, "tags": None}
    assert len(doc["items"]) == 50


def test_response_json_edge_cases() -> None:
    for text in [
        '{"a": 1}',
        "[1, 2.5, -3, true, false, null]",
        '"\\u00e9\\ud83d\\ude00"',
        "1e400",
        "12345678901234567",
    ]:
        assert requestx.Response(200, content=text.encode()).json() == json.loads(text)
    bom = requestx.Response(200, content=b"\xef\xbb\xbf" + b'{"a": 1}')
    assert bom.json() == {"a": 1}
    assert requestx.Response(200, content='{"a": "é"}'.encode("utf-16")).json() == {"a": "é"}
    with pytest.raises(json.JSONDecodeError):
        requestx.Response(200, content=b"{not json").json()
    with pytest.raises(ValueError):
        requestx.Response(200, content=b"").json()


def test_text_encodings(server) -> None:
    with requestx.Client() as c:
        r = c.get(server.url + "/text", params={"charset": "latin-1"})
        assert r.encoding == "latin-1"  # the charset as the server named it (httpx)
        assert r.text == "héllo wörld"
        r = c.get(server.url + "/text")
        assert r.charset_encoding is None and r.encoding == "utf-8" and r.text == "héllo wörld"
    with requestx.Client(default_encoding="latin-1") as c:
        assert c.get(server.url + "/text").text == "hÃ©llo wÃ¶rld"
    r = requestx.Response(200, content="é".encode("cp1252"))
    r.encoding = "cp1252"
    assert r.text == "é"


def test_raise_for_status(server) -> None:
    with requestx.Client() as c:
        ok = c.get(server.url + "/small")
        assert ok.raise_for_status() is ok
        r = c.get(server.url + "/status/404")
        assert r.is_client_error
        with pytest.raises(requestx.HTTPStatusError) as info:
            r.raise_for_status()
        assert info.value.response is r
        assert info.value.request is r.request
        assert "404 Not Found" in str(info.value)
        with pytest.raises(requestx.HTTPStatusError, match="Server error '503"):
            c.get(server.url + "/status/503").raise_for_status()


def test_redirects_sync(server) -> None:
    with requestx.Client() as c:
        r = c.get(server.url + "/redirect/2")
        assert r.status_code == 302 and r.is_redirect
        assert r.next_request is not None and r.next_request.url == server.url + "/redirect/1"
        r = c.get(server.url + "/redirect/3", follow_redirects=True)
        assert r.status_code == 200 and r.json()["path"] == "/echo"
        assert [h.status_code for h in r.history] == [302, 302, 302, 302]
        assert str(r.history[0].url) == server.url + "/redirect/3"
        assert r.url == server.url + "/echo"
        with pytest.raises(requestx.TooManyRedirects):
            c.get(server.url + "/redirect/30", follow_redirects=True)
    with requestx.Client(follow_redirects=True, max_redirects=2) as c:
        with pytest.raises(requestx.TooManyRedirects) as info:
            c.get(server.url + "/redirect/5")
        assert info.value.request.url == server.url + "/redirect/3"


def test_redirect_method_rewriting(server) -> None:
    target = server.url + "/echo"
    with requestx.Client(follow_redirects=True) as c:
        for status, method, expected in [
            (301, "POST", "GET"),
            (302, "POST", "GET"),
            (303, "PUT", "GET"),
            (307, "POST", "POST"),
            (308, "PUT", "PUT"),
            (303, "HEAD", "HEAD"),
        ]:
            r = c.request(
                method, server.url + "/redirect-to", params={"url": target, "status": status}, content=b"body"
            )
            assert r.request.method == expected
            if expected != "HEAD":
                echo = r.json()
                assert echo["method"] == expected
                assert echo["body"] == ("body" if expected != "GET" else "")


def test_redirect_strips_authorization_across_origins(server) -> None:
    other = server.url.replace("127.0.0.1", "localhost") + "/echo"
    with requestx.Client(follow_redirects=True) as c:
        r = c.get(server.url + "/redirect-to", params={"url": other}, headers={"Authorization": "secret"})
        assert "authorization" not in dict(r.json()["headers"])
        same = server.url + "/echo"
        r = c.get(server.url + "/redirect-to", params={"url": same}, headers={"Authorization": "secret"})
        assert dict(r.json()["headers"])["authorization"] == "secret"


def test_redirects_async(server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient(follow_redirects=True) as c:
            r = await c.get(server.url + "/redirect/2")
            assert r.status_code == 200 and len(r.history) == 3

    arun(main)


def test_basic_auth_and_hooks(server) -> None:
    seen: list[str] = []
    hooks = {
        "request": [lambda req: seen.append("req " + req.method)],
        "response": [lambda r: seen.append(f"resp {r.status_code}")],
    }
    with requestx.Client(auth=("user", "pässword"), event_hooks=hooks) as c:
        headers = dict(c.get(server.url + "/echo").json()["headers"])
    assert headers["authorization"] == "Basic dXNlcjpww6Rzc3dvcmQ="
    assert seen == ["req GET", "resp 200"]


def test_async_hooks(server, arun) -> None:
    async def main() -> list[str]:
        seen: list[str] = []

        async def on_response(r: requestx.Response) -> None:
            seen.append(str(r.status_code))

        async with requestx.AsyncClient(event_hooks={"response": [on_response]}) as c:
            await c.get(server.url + "/small")
        return seen

    assert arun(main) == ["200"]


def test_build_request_and_send(server) -> None:
    with requestx.Client() as c:
        request = c.build_request("POST", server.url + "/echo", json={"a": 1}, headers={"X-A": "b"})
        assert request.headers["content-type"] == "application/json"
        assert request.content == b'{"a":1}'
        r = c.send(request)
        assert r.request is request
        assert json.loads(r.json()["body"]) == {"a": 1}


def test_cookies_persist_within_client(server) -> None:
    with requestx.Client() as c:
        c.get(server.url + "/set-cookie", params={"name": "session", "value": "abc"})
        assert c.get(server.url + "/cookies").json()["cookie"] == "session=abc"
    with requestx.Client() as other:
        assert other.get(server.url + "/cookies").json()["cookie"] == ""


def test_closed_client_refuses(server) -> None:
    c = requestx.Client()
    c.close()
    assert c.is_closed
    with pytest.raises(RuntimeError, match="client has been closed"):
        c.get(server.url + "/small")


def test_timeout_and_limits_models() -> None:
    assert requestx.Timeout(5.0).as_dict() == {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}
    assert requestx.Timeout(5.0, connect=1.0).connect == 1.0
    assert requestx.Timeout(None).read is None
    assert requestx.Timeout((1, 2, 3, 4)).pool == 4.0
    assert requestx.Timeout(requestx.Timeout(2)) == requestx.Timeout(2)
    with pytest.raises(ValueError):
        requestx.Timeout()
    with pytest.raises(ValueError):
        requestx.Timeout(-1)
    with pytest.raises(TypeError):
        requestx.Timeout("5")  # type: ignore[arg-type]
    assert requestx.Limits(max_connections=5).max_connections == 5
    with pytest.raises(ValueError):
        requestx.Limits(max_connections=-1)


def test_codes() -> None:
    assert requestx.codes.OK == 200
    assert requestx.codes.not_found == 404
    assert requestx.codes.get_reason_phrase(418) == "I'm a Teapot"


def test_settings_changed_after_construction_apply(server) -> None:
    with requestx.Client() as c:
        assert c.get(server.url + "/echo").json()["query"] == ""
        c.params = {"p": "1"}
        assert c.get(server.url + "/echo").json()["query"] == "p=1"
        c.params = {}
        c.base_url = server.url
        assert c.get("/echo").json()["path"] == "/echo"
        c.auth = ("a", "b")
        assert dict(c.get("/echo").json()["headers"])["authorization"].startswith("Basic ")
        c.auth = None
        seen: list[int] = []
        c.event_hooks = {"response": [lambda r: seen.append(r.status_code)]}
        c.get("/small")
        assert seen == [200]
        c.headers["X-Late"] = "yes"
        c.event_hooks = {}
        assert dict(c.get("/echo").json()["headers"])["x-late"] == "yes"


def test_cookie_jar(server) -> None:
    with requestx.Client(cookies={"preset": "1"}) as c:
        assert c.get(server.url + "/cookies").json()["cookie"] == "preset=1"
        r = c.get(server.url + "/set-cookie", params={"name": "session", "value": "abc"})
        assert r.cookies["session"] == "abc"
        assert c.cookies["session"] == "abc" and c.cookies.get("preset") == "1"
        assert c.get(server.url + "/cookies").json()["cookie"] in ("preset=1; session=abc", "session=abc; preset=1")
        with pytest.warns(DeprecationWarning, match="per-request cookies"):  # as httpx warns
            once = c.get(server.url + "/cookies", cookies={"extra": "x"}).json()["cookie"]
        assert "extra=x" in once and "session=abc" in once
        assert "extra" not in c.cookies
        del c.cookies["session"]
        assert c.get(server.url + "/cookies").json()["cookie"] == "preset=1"
        # Scoped by host: a cookie set by 127.0.0.1 is not sent to localhost.
        c.get(server.url + "/set-cookie", params={"name": "scoped", "value": "y"})
        other = server.url.replace("127.0.0.1", "localhost")
        assert "scoped" not in c.get(other + "/cookies").json()["cookie"]


def test_cookie_jar_async_and_redirects(server, arun) -> None:
    async def main() -> str:
        async with requestx.AsyncClient(follow_redirects=True) as c:
            await c.get(server.url + "/set-cookie", params={"name": "a", "value": "1"})
            r = await c.get(server.url + "/redirect-to", params={"url": server.url + "/cookies"})
            return str(r.json()["cookie"])

    assert arun(main) == "a=1"


def test_cookies_model() -> None:
    cookies = requestx.Cookies()
    cookies.set("n", "1", domain="a.example")
    cookies.set("n", "2", domain="b.example")
    with pytest.raises(requestx.CookieConflict):
        cookies.get("n")
    assert cookies.get("n", domain="b.example") == "2"
    cookies.delete("n", domain="a.example")
    assert cookies["n"] == "2" and len(cookies) == 1
    cookies.clear()
    assert not cookies
