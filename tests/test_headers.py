"""`Headers` (requestx/_headers.py): case-insensitive, multi-valued, order-preserving, as httpx's.

No server: the module is pure. Where requestx differs from httpx 0.28 the test asserts httpx's
behaviour and is marked xfail (strict), naming the difference.
"""

from __future__ import annotations

import typing

import httpx
import httpx2
import pytest

from requestx import Headers
from requestx._headers import foreign_library

MULTI = [("A", "1"), ("B", "2"), ("a", "3")]

# --- building ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "raw"),
    [
        (None, []),
        ({}, []),
        ({"A": "1", "b": "2"}, [(b"A", b"1"), (b"b", b"2")]),
        ({b"A": b"1"}, [(b"A", b"1")]),
        ([("A", "1"), ("a", "2")], [(b"A", b"1"), (b"a", b"2")]),
        ((("a", "1"),), [(b"a", b"1")]),
        ([(b"X", "mixed")], [(b"X", b"mixed")]),
        ({"a": " spaced "}, [(b"a", b" spaced ")]),
        ({"Non-Ascii": "é".encode()}, [(b"Non-Ascii", "é".encode())]),  # bytes are taken as given
    ],
)
def test_built_from(given: typing.Any, raw: list[tuple[bytes, bytes]]) -> None:
    assert Headers(given).raw == raw


@pytest.mark.parametrize("given", [{"a": "é"}, {"é": "a"}, [("a", "☃")]])
def test_a_non_ascii_str_needs_an_encoding(given: typing.Any) -> None:
    """As httpx: str names and values are encoded as ASCII unless the Headers are given an encoding."""
    with pytest.raises(UnicodeEncodeError):
        Headers(given)
    with pytest.raises(UnicodeEncodeError):
        httpx.Headers(given)


@pytest.mark.parametrize(("encoding", "raw"), [("utf-8", "é".encode()), ("latin-1", b"\xe9")])
def test_a_given_encoding_encodes_str(encoding: str, raw: bytes) -> None:
    h = Headers({"a": "é"}, encoding=encoding)
    assert (h.raw, h["a"], h.encoding) == ([(b"a", raw)], "é", encoding)
    assert h.raw == httpx.Headers({"a": "é"}, encoding=encoding).raw


@pytest.mark.parametrize("library", [httpx, httpx2])
def test_built_from_httpx_headers_keeps_every_value_in_order(library: typing.Any) -> None:
    assert Headers(library.Headers(MULTI)).raw == [(b"A", b"1"), (b"B", b"2"), (b"a", b"3")]


def test_built_from_headers_is_a_copy() -> None:
    original = Headers(MULTI)
    copy = Headers(original)
    copy["A"] = "9"
    assert original.raw == [(b"A", b"1"), (b"B", b"2"), (b"a", b"3")]
    assert original.copy() == original and original.copy() is not original


@pytest.mark.parametrize(("given", "what"), [({"a": 1}, "value"), ({1: "a"}, "name"), ([("a", None)], "value")])
def test_names_and_values_are_text_or_bytes(given: typing.Any, what: str) -> None:
    with pytest.raises(TypeError, match=f"Header {what} must be str or bytes"):
        Headers(given)


@pytest.mark.parametrize("value", [None, 1, 1.5, ["a"]])
def test_a_bad_value_is_httpx_s_type_error(value: object) -> None:
    expected = f"Header value must be str or bytes, not {type(value)}"
    with pytest.raises(TypeError) as ours:
        Headers({"a": value})  # type: ignore[dict-item]
    with pytest.raises(TypeError) as theirs:
        httpx.Headers({"a": value})  # type: ignore[dict-item]
    assert str(ours.value) == str(theirs.value) == expected
    with pytest.raises(TypeError, match="Header value must be str or bytes"):
        Headers()["a"] = value  # type: ignore[assignment]


# --- reading -------------------------------------------------------------------------------------


def test_lookup_ignores_case_and_joins_repeated_values() -> None:
    h = Headers(MULTI)
    assert h["a"] == h["A"] == h[b"a"] == "1, 3"  # type: ignore[index]
    assert h.get("b") == "2"
    assert (h.get("missing"), h.get("missing", "d")) == (None, "d")
    with pytest.raises(KeyError):
        h["missing"]


def test_views_have_one_entry_per_name_lower_cased() -> None:
    h = Headers(MULTI)
    assert list(h) == list(h.keys()) == ["a", "b"]
    assert list(h.values()) == ["1, 3", "2"]
    assert list(h.items()) == [("a", "1, 3"), ("b", "2")]
    assert h.multi_items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert len(h) == 2  # httpx 0.28 counts header lines (3) but iterates names (2)
    assert (bool(h), bool(Headers())) == (True, False)


def test_raw_keeps_the_names_as_given_and_is_a_copy() -> None:
    h = Headers({"X-Custom": "v"})
    h.raw.append((b"x", b"y"))
    assert h.raw == [(b"X-Custom", b"v")]


@pytest.mark.parametrize(
    ("split_commas", "expected"),
    [(False, ["1, 2", "3"]), (True, ["1", "2", "3"])],
)
def test_get_list(split_commas: bool, expected: list[str]) -> None:
    h = Headers([("Accept", "1, 2"), ("accept", "3"), ("Other", "x")])
    assert h.get_list("ACCEPT", split_commas=split_commas) == expected
    assert h.get_list("missing", split_commas=split_commas) == []


@pytest.mark.parametrize(("key", "found"), [("a", True), ("A", True), ("b", False), (b"a", False), (1, False)])
def test_contains(key: object, found: bool) -> None:
    assert (key in Headers({"A": "1"})) is found


# --- changing ------------------------------------------------------------------------------------


def test_setitem_replaces_every_value_in_the_first_one_s_place() -> None:
    h = Headers(MULTI)
    h["a"] = "9"
    assert h.raw == [(b"a", b"9"), (b"B", b"2")]
    h["New"] = "v"
    h[b"Raw"] = b"bytes"  # type: ignore[index]
    assert h.raw == [(b"a", b"9"), (b"B", b"2"), (b"New", b"v"), (b"Raw", b"bytes")]


def test_setitem_encodes_str_as_utf_8_unless_an_encoding_is_known() -> None:
    """As httpx: a str set is encoded with the Headers' encoding once it is given or found, else UTF-8."""
    h = Headers()
    h["a"] = "é"
    assert (h.raw, h.encoding) == ([(b"a", "é".encode())], "utf-8")
    latin = Headers(encoding="latin-1")
    latin["a"] = "é"
    assert latin.raw == [(b"a", b"\xe9")]
    found = Headers({"a": "1"})
    assert found.encoding == "ascii"  # found: from now on a str is encoded as ASCII
    with pytest.raises(UnicodeEncodeError):
        found["b"] = "é"


def test_delitem_removes_every_value() -> None:
    h = Headers(MULTI)
    del h["A"]
    assert h.raw == [(b"B", b"2")]
    with pytest.raises(KeyError):
        del h["a"]


def test_pop_and_setdefault() -> None:
    h = Headers({"A": "1"})
    assert (h.setdefault("a", "z"), h.setdefault("b", "z")) == ("1", "z")
    assert (h.pop("a"), h.pop("a", None)) == ("1", None)
    assert h.raw == [(b"b", b"z")]


@pytest.mark.parametrize(
    ("other", "raw"),
    [
        ({"a": "x", "C": "y"}, [(b"B", b"2"), (b"a", b"x"), (b"C", b"y")]),
        ([("b", "1"), ("b", "2")], [(b"A", b"1"), (b"a", b"3"), (b"b", b"1"), (b"b", b"2")]),
        (Headers({"B": "9"}), [(b"A", b"1"), (b"a", b"3"), (b"B", b"9")]),
        (None, [(b"A", b"1"), (b"B", b"2"), (b"a", b"3")]),
    ],
)
def test_update_replaces_the_names_it_brings(other: typing.Any, raw: list[tuple[bytes, bytes]]) -> None:
    h = Headers(MULTI)
    h.update(other)
    assert h.raw == raw


def test_update_does_not_drop_keywords_silently() -> None:
    with pytest.raises(TypeError):
        Headers({"A": "1"}).update(b="2")


def test_a_change_installs_a_new_list() -> None:
    """The list behind a Headers is never changed in place, so a request may share its client's."""
    h = Headers(MULTI)
    shared = h._list
    snapshot = list(shared)
    h["a"] = "9"
    h.update({"c": "1"})
    del h["b"]
    assert h._list is not shared and shared == snapshot


# --- comparing and showing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("other", "equal"),
    [
        (Headers([("b", "2"), ("A", "1")]), True),  # order of names does not matter
        ({"a": "1", "B": "2"}, True),
        ([("a", "1"), ("b", "2")], True),
        (Headers({"a": "1"}), False),
        (Headers({"a": "1", "b": "X"}), False),  # values compare exactly
        (None, False),
        (1, False),
    ],
)
def test_equality(other: object, equal: bool) -> None:
    assert (Headers({"A": "1", "b": "2"}) == other) is equal


def test_equality_of_repeated_values_ignores_their_order() -> None:
    assert Headers([("a", "1"), ("a", "2")]) == Headers([("a", "2"), ("a", "1")])


@pytest.mark.parametrize(
    ("given", "text"),
    [
        ({"A": "1"}, "Headers({'a': '1'})"),
        ([("A", "1"), ("a", "2")], "Headers([('a', '1'), ('a', '2')])"),
    ],
)
def test_repr(given: typing.Any, text: str) -> None:
    assert repr(Headers(given)) == text


def test_repr_hides_credentials() -> None:
    h = Headers({"Authorization": "Bearer secret", "Proxy-Authorization": "Basic c2VjcmV0", "X": "shown"})
    assert repr(h) == "Headers({'authorization': '[secure]', 'proxy-authorization': '[secure]', 'x': 'shown'})"
    assert h["Authorization"] == "Bearer secret"  # only the repr hides it


@pytest.mark.parametrize(
    "given",
    [
        {"Authorization": "Bearer secret", "Proxy-Authorization": "Basic c2VjcmV0"},
        [("authorization", "one"), ("AUTHORIZATION", "two"), ("x-authorization", "not sensitive")],
        [(b"Proxy-Authorization", b"raw"), (b"Accept", b"*/*")],
        {b"Authorization": "s3kr3t ☃".encode()},
        {b"custom": "example ☃".encode()},
        [(b"a", b"\xe9"), (b"a", b"b")],
        {"a": "1"},
        [],
    ],
)
def test_repr_is_httpx_s(given: typing.Any) -> None:
    assert repr(Headers(given)) == repr(httpx.Headers(given))
    assert str(Headers(given)) == str(httpx.Headers(given))


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        (Headers({b"custom": "example ☃".encode()}), "Headers({'custom': 'example ☃'}, encoding='utf-8')"),
        (Headers([(b"a", b"\xe9"), (b"a", b"b")]), "Headers([('a', 'é'), ('a', 'b')], encoding='iso-8859-1')"),
        (Headers({"a": "b"}, encoding="utf-8"), "Headers({'a': 'b'}, encoding='utf-8')"),  # given, so shown
        (Headers({"a": "b"}), "Headers({'a': 'b'})"),
    ],
)
def test_repr_names_an_encoding_other_than_ascii(headers: Headers, text: str) -> None:
    assert repr(headers) == text


def test_repr_of_a_subclass_uses_its_name() -> None:
    class Mine(Headers):
        pass

    assert repr(Mine({"Authorization": "x"})) == "Mine({'authorization': '[secure]'})"


# --- encoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoding", "value"),
    [
        ([(b"a", b"plain")], "ascii", "plain"),
        ([(b"a", "é".encode())], "utf-8", "é"),
        ([(b"a", b"\xe9")], "iso-8859-1", "é"),  # not UTF-8: Latin-1, which decodes anything
    ],
)
def test_encoding_is_the_first_codec_that_decodes_everything(
    raw: list[tuple[bytes, bytes]], encoding: str, value: str
) -> None:
    h = Headers(raw)
    assert (h.encoding, h["a"]) == (encoding, value)


def test_encoding_can_be_set() -> None:
    h = Headers([(b"a", "é".encode())])
    h.encoding = "iso-8859-1"
    assert h["a"] == "Ã©"
    assert Headers([(b"a", b"\xe9")], encoding="latin-1")["a"] == "é"


# --- foreign_library -----------------------------------------------------------------------------


class _HttpxSubclass(httpx.Headers):
    pass


@pytest.mark.parametrize(
    ("obj", "library"),
    [
        (httpx.URL("http://a"), "httpx"),
        (httpx.Headers(), "httpx"),
        (_HttpxSubclass(), "httpx"),
        (httpx2.URL("http://a"), "httpx2"),
        (Headers(), None),
        ("http://a", None),
        (None, None),
    ],
)
def test_foreign_library(obj: object, library: str | None) -> None:
    assert foreign_library(obj) == library


# --- found by fuzz/test_parsers.py (nox -s fuzz) ---------------------------------------------------


def test_a_name_beyond_ascii_is_found_as_keys_show_it() -> None:
    headers = Headers([(b"\xc0", b"v")])
    assert dict(headers) == {"\u00c0": "v"} and headers["\u00c0"] == "v" and "\u00c0" in headers


def test_bytes_beyond_ascii_set_after_the_encoding_was_found_still_decode() -> None:
    headers = Headers({"a": "1"})
    assert headers.encoding == "ascii"
    headers["cookie"] = "caf\u00e9=1".encode()
    assert headers["cookie"] == "caf\u00e9=1"
