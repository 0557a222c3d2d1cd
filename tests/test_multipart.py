"""`files=` multipart bodies against a real server: fields, filenames, content types, file objects
streamed without reading them whole."""

from __future__ import annotations

import email
import email.policy
import io

import requestx


def parts_of(echo: dict) -> list[tuple[str | None, str | None, str, bytes]]:
    headers = dict(echo["headers"])
    raw = f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + echo["body"].encode("latin-1")
    message = email.message_from_bytes(raw, policy=email.policy.HTTP)
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]


def test_files_and_fields(server, tmp_path) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(b"a,b\n1,2\n" * 20_000)  # 160 KB: streamed in 64 KiB reads
    with requestx.Client() as c, open(path, "rb") as f:
        r = c.post(
            server.url + "/echo",
            data={"title": "hello", "tags": ["x", "y"]},
            files={"report": f, "raw": ("data.bin", b"\x00\x01", "application/x-raw"), "note": ("note.txt", "text é")},
        )
    parts = parts_of(r.json())
    assert parts[0] == ("title", None, "text/plain", b"hello")
    assert [p[3] for p in parts[1:3]] == [b"x", b"y"]
    assert parts[3][:3] == ("report", "report.csv", "text/csv") and parts[3][3] == path.read_bytes()
    assert parts[4] == ("raw", "data.bin", "application/x-raw", b"\x00\x01")
    assert parts[5] == ("note", "note.txt", "text/plain", "text é".encode())
    # Every part's size is known (a file's from the file system): a length, as httpx sends.
    assert int(dict(r.json()["headers"])["content-length"]) == len(r.json()["body"].encode("latin-1"))


def test_in_memory_files_have_a_length(server) -> None:
    with requestx.Client() as c:
        r = c.post(server.url + "/echo", files=[("a", ("a.json", b"{}")), ("a", ("b.json", io.BytesIO(b"[]").read()))])
    headers = dict(r.json()["headers"])
    assert int(headers["content-length"]) == len(r.json()["body"].encode("latin-1"))
    assert [(p[1], p[2], p[3]) for p in parts_of(r.json())] == [
        ("a.json", "application/json", b"{}"),
        ("b.json", "application/json", b"[]"),
    ]


def test_async_files(server, arun) -> None:
    async def main() -> None:
        async with requestx.AsyncClient() as c:
            r = await c.post(server.url + "/echo", files={"f": ("x.txt", io.BytesIO(b"async file"))})
            assert parts_of(r.json())[0][3] == b"async file"

    arun(main)


def test_field_names_are_escaped() -> None:
    request = requestx.Request("POST", "http://x/", files={'we"ird\nname': ("f\r.txt", b"")})
    body = b"".join(request.stream) if request.stream is not None else request.content
    assert b'name="we%22ird%0Aname"; filename="f%0D.txt"' in body
