"""HTTP/1.1 request heads read from bytes exactly as the standard library's server reads them.

``http.server.BaseHTTPRequestHandler`` (Python 3.11) decides what a request line means, when the
connection stays open, and which malformed requests get which error; the event-loop front end must
answer every request as it did, so these functions follow its code step by step: lines of at most
65,536 bytes (414 for a longer request line, 431 "Line too long" for a header line), at most 100
header lines counting the blank one (431 "Too many headers"), HTTP/0.9 for a request line of two
words (answered without a status line or headers), "Bad request version", "Invalid HTTP version",
"Bad request syntax" and "Bad HTTP/0.9 request type" errors. Headers are parsed by the ``email``
package as ``http.client.parse_headers`` does, except plain ``Name: value`` lines, read directly
(the same values, a tenth of the time).
"""
from __future__ import annotations

import email.parser
import http.client
import re
import time
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler

MAX_LINE = 65536            # http.client._MAXLINE and the request line's limit in http.server
MAX_HEADERS = 100           # http.client._MAXHEADERS
HTTP_09 = "HTTP/0.9"
END_OF_HEADERS = (b"\r\n", b"\n", b"")
PLAIN_HEADER = re.compile(rb"([!-9;-~]+):[ \t]*([\t -~]*)\r?\n")   # the email parser's reading
PHRASES = {code: phrase for code, (phrase, _) in BaseHTTPRequestHandler.responses.items()}


@dataclass
class RequestLine:
    """A parsed request line. ``version``: what the answer is framed by (``HTTP/0.9``: no status
    line); ``close``: whether the connection closes after the answer; ``error``: ``(status,
    message)`` to answer instead; ``blank``: an empty line, after which the connection closes."""

    command: str | None = None
    path: str | None = None
    version: str = HTTP_09
    close: bool = True
    error: tuple | None = None
    blank: bool = False


def request_line(raw: bytes) -> RequestLine:
    """``BaseHTTPRequestHandler.parse_request``'s reading of the request line ``raw``."""
    line = RequestLine()
    text = str(raw, "iso-8859-1").rstrip("\r\n")
    words = text.split()
    if not words:
        line.blank = True
        return line
    if len(words) >= 3:
        version = words[-1]
        try:
            if not version.startswith("HTTP/"):
                raise ValueError
            base = version.split("/", 1)[1]
            numbers = base.split(".")
            if len(numbers) != 2 or any(not n.isdigit() or len(n) > 10 for n in numbers):
                raise ValueError
            number = int(numbers[0]), int(numbers[1])
        except (ValueError, IndexError):
            line.error = (400, "Bad request version (%r)" % version)
            return line
        if number >= (1, 1):
            line.close = False
        if number >= (2, 0):
            line.error = (505, "Invalid HTTP version (%s)" % base)
            return line
        line.version = version
    if not 2 <= len(words) <= 3:
        line.error = (400, "Bad request syntax (%r)" % text)
        return line
    command, path = words[:2]
    if len(words) == 2:
        line.close = True
        if command != "GET":
            line.error = (400, "Bad HTTP/0.9 request type (%r)" % command)
            return line
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    line.command, line.path = command, path
    return line


class PlainHeaders:
    """Headers of plain ``Name: value`` lines: ``get`` as ``email.message.Message.get`` (first
    occurrence, any case)."""

    def __init__(self, pairs: list):
        self._values: dict = {}
        for name, value in pairs:
            self._values.setdefault(name.lower(), value)

    def get(self, name: str, default=None):
        return self._values.get(name.lower(), default)


def headers(lines: list):
    """The headers of ``lines`` (each with its line end; the last is the blank line or ``b""``)."""
    pairs = []
    for line in lines[:-1]:
        match = PLAIN_HEADER.fullmatch(line)
        if match is None:
            return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(
                b"".join(lines).decode("iso-8859-1"))
        pairs.append((match[1].decode("ascii"), match[2].decode("ascii")))
    return PlainHeaders(pairs)


class ResponseHead:
    """Status line and headers as ``send_response`` and ``end_headers`` write them."""

    def __init__(self, server_version: str, protocol: str = "HTTP/1.1"):
        self.server = f"{server_version} {BaseHTTPRequestHandler.sys_version}"
        self.protocol = protocol
        self._second, self._date = None, ""

    def __call__(self, version: str, status: int, content_type: str, length: int,
                 close: bool) -> bytes:
        if version == HTTP_09:
            return b""
        now = time.time()
        if int(now) != self._second:
            self._second, self._date = int(now), formatdate(now, usegmt=True)
        connection = "Connection: close\r\n" if close else ""
        return (f"{self.protocol} {status} {PHRASES.get(status, '')}\r\nServer: {self.server}\r\n"
                f"Date: {self._date}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {length}\r\n{connection}\r\n").encode("latin-1")

    def continue_100(self) -> bytes:
        """``handle_expect_100``'s interim answer."""
        return f"{self.protocol} 100 Continue\r\n\r\n".encode()
