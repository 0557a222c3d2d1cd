"""`codes`: HTTP status codes as an IntEnum with httpx's helpers."""

from __future__ import annotations

import enum
from http import HTTPStatus

__all__ = ["REDIRECT_CODES", "codes", "reason_bytes"]

#: The statuses that redirect (with a Location header): the one set every part of requestx uses.
REDIRECT_CODES = frozenset((301, 302, 303, 307, 308))


class _Codes(enum.IntEnum):
    @classmethod
    def get_reason_phrase(cls, value: int) -> str:
        try:
            return HTTPStatus(value).phrase
        except ValueError:
            return ""

    @classmethod
    def is_informational(cls, value: int) -> bool:
        return 100 <= value <= 199

    @classmethod
    def is_success(cls, value: int) -> bool:
        return 200 <= value <= 299

    @classmethod
    def is_redirect(cls, value: int) -> bool:
        return 300 <= value <= 399

    @classmethod
    def is_client_error(cls, value: int) -> bool:
        return 400 <= value <= 499

    @classmethod
    def is_server_error(cls, value: int) -> bool:
        return 500 <= value <= 599

    @classmethod
    def is_error(cls, value: int) -> bool:
        return 400 <= value <= 599

    def __str__(self) -> str:
        return str(self.value)


# Upper-case names as in http.HTTPStatus, plus httpx's lower-case aliases (codes.ok, codes.not_found).
_members = {s.name: s.value for s in HTTPStatus}
_members.update({s.name.lower(): s.value for s in HTTPStatus})
codes = _Codes("codes", _members)  # type: ignore[call-arg, arg-type]


def reason_bytes(status: int, sent: bytes | None) -> bytes:
    """A response's `extensions["reason_phrase"]`, as httpcore sets it: the server's own phrase
    (`sent`; None when the server sent the standard one), else the standard phrase of the status."""
    return codes.get_reason_phrase(status).encode("ascii") if sent is None else sent
