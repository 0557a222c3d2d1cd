"""`Timeout`, `Limits` and the client defaults (requestx/_config.py), shaped as httpx's.

No server: the module is pure. requestx validates more than httpx 0.28 does (a negative, NaN or
non-numeric timeout, a negative or fractional limit are refused at construction rather than when
used); where it accepts less than httpx for no such reason, the test asserts httpx's behaviour and
is marked xfail (strict).
"""

from __future__ import annotations

import math
import typing

import httpx
import httpx2
import pytest

import requestx
from requestx import Limits, Timeout
from requestx._config import DEFAULT_LIMITS, DEFAULT_MAX_REDIRECTS, DEFAULT_TIMEOUT_CONFIG, UseClientDefault

# --- Timeout -------------------------------------------------------------------------------------


def _phases(t: Timeout) -> tuple[float | None, ...]:
    return (t.connect, t.read, t.write, t.pool)


@pytest.mark.parametrize(
    ("args", "kwargs", "phases"),
    [
        ((5,), {}, (5.0, 5.0, 5.0, 5.0)),
        ((None,), {}, (None, None, None, None)),
        ((0,), {}, (0.0, 0.0, 0.0, 0.0)),
        ((math.inf,), {}, (math.inf,) * 4),
        ((), {"timeout": 3}, (3.0, 3.0, 3.0, 3.0)),
        ((5,), {"connect": 1}, (1.0, 5.0, 5.0, 5.0)),
        ((5,), {"pool": None}, (5.0, 5.0, 5.0, None)),
        ((None,), {"read": 2}, (None, 2.0, None, None)),
        ((), {"connect": 1, "read": 2, "write": 3, "pool": 4}, (1.0, 2.0, 3.0, 4.0)),
        ((), {"connect": None, "read": None, "write": None, "pool": None}, (None, None, None, None)),
        (((1, 2, 3, 4),), {}, (1.0, 2.0, 3.0, 4.0)),
        (((None, 2, None, 4),), {}, (None, 2.0, None, 4.0)),
    ],
)
def test_timeout_forms(args: tuple[typing.Any, ...], kwargs: dict[str, typing.Any], phases: tuple[object, ...]) -> None:
    t = Timeout(*args, **kwargs)
    assert _phases(t) == phases
    assert t.as_dict() == dict(zip(("connect", "read", "write", "pool"), phases, strict=True))
    assert all(p is None or type(p) is float for p in _phases(t))


@pytest.mark.parametrize("library", [requestx, httpx, httpx2])
def test_timeout_from_a_timeout(library: typing.Any) -> None:
    assert _phases(Timeout(library.Timeout(1, read=9))) == (1.0, 9.0, 1.0, 1.0)


def test_timeout_from_anything_timeout_shaped() -> None:
    class Shaped:
        connect, read, write, pool = 1, 2, None, 4

        def as_dict(self) -> dict[str, typing.Any]:
            return {}

    assert _phases(Timeout(Shaped())) == (1.0, 2.0, None, 4.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),
        ((), {"connect": 1, "read": 2}),  # neither a default nor all four
        ((Timeout(1),), {"read": 3}),
        (((1, 2, 3, 4, 5),), {}),
    ],
)
def test_timeout_refuses_incomplete_or_ambiguous_settings(
    args: tuple[typing.Any, ...], kwargs: dict[str, typing.Any]
) -> None:
    with pytest.raises(ValueError):
        Timeout(*args, **kwargs)


@pytest.mark.parametrize(
    ("timeout", "phases"),
    [((1, 2), (1, 2, None, None)), ((1, 2, 3), (1, 2, 3, None))],
)
def test_timeout_short_tuple(timeout: tuple[float, ...], phases: tuple[object, ...]) -> None:
    assert _phases(Timeout(timeout)) == phases  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "phase"),
    [
        ((-1,), {}, ValueError, "default"),
        ((math.nan,), {}, ValueError, "default"),
        (("5",), {}, TypeError, "default"),
        ((True,), {}, TypeError, "default"),
        ((5,), {"read": -0.5}, ValueError, "read"),
        ((5,), {"write": "x"}, TypeError, "write"),
        ((), {"connect": 1, "read": 1, "write": 1, "pool": -1}, ValueError, "pool"),
        (((1, 2, -3, 4),), {}, ValueError, "write"),
    ],
)
def test_timeout_values_are_validated(
    args: tuple[typing.Any, ...], kwargs: dict[str, typing.Any], error: type[Exception], phase: str
) -> None:
    with pytest.raises(error, match=f"^{phase} timeout"):
        Timeout(*args, **kwargs)


def test_timeout_equality_and_hash() -> None:
    assert Timeout(5) == Timeout(5.0) == Timeout(connect=5, read=5, write=5, pool=5)
    assert Timeout(5) != Timeout(5, read=1)
    assert Timeout(5) != 5 and Timeout(None) != None  # noqa: E711
    assert len({Timeout(5), Timeout(5.0), Timeout(None)}) == 2


@pytest.mark.parametrize(
    ("timeout", "text"),
    [
        (Timeout(5), "Timeout(timeout=5.0)"),
        (Timeout(None), "Timeout(timeout=None)"),
        (Timeout(5, read=1), "Timeout(connect=5.0, read=1.0, write=5.0, pool=5.0)"),
    ],
)
def test_timeout_repr(timeout: Timeout, text: str) -> None:
    assert repr(timeout) == text


# --- Limits --------------------------------------------------------------------------------------


def test_limits_defaults_and_settings() -> None:
    assert (Limits().max_connections, Limits().max_keepalive_connections, Limits().keepalive_expiry) == (
        None,
        None,
        5.0,
    )
    limits = Limits(max_connections=10, max_keepalive_connections=0, keepalive_expiry=None)
    assert (limits.max_connections, limits.max_keepalive_connections, limits.keepalive_expiry) == (10, 0, None)
    assert Limits(keepalive_expiry=3).keepalive_expiry == 3.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_connections": -1},
        {"max_connections": 0},  # no connection at all: every request would wait for the pool
        {"max_connections": 1.5},
        {"max_connections": True},
        {"max_keepalive_connections": -1},
        {"max_keepalive_connections": "2"},
        {"keepalive_expiry": -1},
        {"keepalive_expiry": math.nan},
    ],
)
def test_limits_are_validated(kwargs: dict[str, typing.Any]) -> None:
    with pytest.raises(ValueError):
        Limits(**kwargs)


def test_limits_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Limits(10)  # type: ignore[misc]


def test_a_limit_beyond_what_the_engine_holds_is_refused() -> None:
    with pytest.raises(ValueError):
        requestx.Client(limits=Limits(max_connections=2**62))


def test_limits_equality_and_repr() -> None:
    assert Limits(max_connections=10) == Limits(max_connections=10)
    assert Limits(max_connections=10) != Limits(max_connections=11)
    assert Limits(keepalive_expiry=1) != Limits(keepalive_expiry=2)
    assert Limits() != 1
    assert repr(Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=1)) == (
        "Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=1.0)"
    )


# --- defaults ------------------------------------------------------------------------------------


def test_defaults_are_httpx_s() -> None:
    assert DEFAULT_TIMEOUT_CONFIG == Timeout(httpx._config.DEFAULT_TIMEOUT_CONFIG) == Timeout(5.0)
    limits = httpx._config.DEFAULT_LIMITS
    assert DEFAULT_LIMITS == Limits(
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
    )
    assert DEFAULT_MAX_REDIRECTS == httpx._config.DEFAULT_MAX_REDIRECTS == 20


def test_use_client_default_is_a_named_sentinel() -> None:
    assert isinstance(requestx.USE_CLIENT_DEFAULT, UseClientDefault)
    assert repr(requestx.USE_CLIENT_DEFAULT) == "USE_CLIENT_DEFAULT"
    assert requestx.USE_CLIENT_DEFAULT is not None
