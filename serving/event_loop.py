"""The event-loop HTTP front end: every connection on one thread (asyncio), model calls in workers.

The standard library's threading server spends a thread per connection: at 16 clients most of
the server's CPU went to system calls, thread switches and the interpreter lock between them.
Here one thread reads, parses and answers all connections (HTTP/1.1 keep-alive, pipelining) and
hands predict requests to ``seqline.serving.loop_calls``, which batches them and runs the model in
worker threads. Requests are read and answered byte for byte as by the threading server
(``seqline.serving.http1``; ``tests/test_serving_front_ends.py`` compares the two), with the same
routes (``seqline.serving.routes``), access log, metrics and timeouts: a connection idle (or a
request head stalled, or an answer unread) for ``request_timeout`` seconds is closed, a body
that stops arriving gets 408.
"""
from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

from seqline.serving import http1, metrics, payload, routes
from seqline.serving.batching import BatchOptions
from seqline.serving.loop_calls import LoopCalls

READ_AHEAD = 256 * 1024     # bytes buffered beyond what the request being read needs
LINE, HEADERS, BODY, ANSWERING, CLOSED = range(5)


class EventLoopServer:
    """``serve_forever``/``shutdown``/``server_close`` as ``socketserver``'s servers; the socket
    is bound and listening once constructed (``server_address`` holds the port)."""

    request_queue_size = 128

    def __init__(self, address: tuple, registry, limits: payload.Limits, access_log,
                 request_timeout: float = 60, batching: BatchOptions | None = None,
                 server_version: str = "seqline-serve"):
        self.registry, self.limits, self.access_log = registry, limits, access_log
        self.request_timeout, self.batching = request_timeout, batching
        self.metrics = metrics.Metrics(registry)
        self.head = http1.ResponseHead(server_version)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(self.request_queue_size)
        except OSError:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()
        self.connections: set = set()
        self.model_calls: LoopCalls | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until ``shutdown`` (checked every ``poll_interval`` seconds) or an interrupt."""
        self._stopped.clear()
        self.loop = asyncio.new_event_loop()
        self.model_calls = LoopCalls(self.batching, self.metrics.model_call, self.loop)
        try:
            self.loop.run_until_complete(self._serve(poll_interval))
        finally:
            for connection in list(self.connections):
                connection.abort()
            self.model_calls.close()
            self.loop.close()
            self._stopped.set()

    async def _serve(self, poll_interval: float) -> None:
        server = await self.loop.create_server(lambda: Connection(self), sock=self.socket)
        try:
            while not self._stop.is_set():
                await asyncio.sleep(poll_interval)
        finally:
            server.close()

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (from another thread) and wait until it has returned."""
        self._stop.set()
        self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()
        self.access_log.close()


class Connection(asyncio.Protocol):
    """One client connection: reads requests in order, answers each before reading the next."""

    def __init__(self, server: EventLoopServer):
        self.server = server
        self.buffer = bytearray()
        self.state = LINE
        self.eof = self.writing_paused = self.reading_paused = False
        self.path = None          # kept from the last request line, as the threading server does
        self.timer = None

    # asyncio callbacks

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.client = transport.get_extra_info("peername")[0]
        self.server.connections.add(self)
        self.last = time.monotonic()
        self._arm(self.last + self.server.request_timeout)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.last = time.monotonic()
        self._advance()

    def eof_received(self) -> bool:
        self.eof = True
        self._advance()
        return True               # keep the connection open to finish the answer

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.last = time.monotonic()
        self._advance()

    def connection_lost(self, exc) -> None:
        self.state = CLOSED
        self.server.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()

    def abort(self) -> None:
        self.state = CLOSED
        self.transport.abort()

    # reading requests

    def _advance(self) -> None:
        """Read and answer what the buffer holds, until a request needs more bytes or a model."""
        while not self.writing_paused:
            if self.state == LINE:
                if not self._read_request_line():
                    break
            elif self.state == HEADERS:
                if not self._read_header_line():
                    break
            elif self.state == BODY:
                if not self._read_body():
                    break
            else:
                break
        wanted = (self.size if self.state == BODY else http1.MAX_LINE) + READ_AHEAD
        if len(self.buffer) > wanted and not self.reading_paused and self.state != CLOSED:
            self.reading_paused = True
            self.transport.pause_reading()
        elif self.reading_paused and len(self.buffer) <= wanted and self.state != CLOSED:
            self.reading_paused = False
            self.transport.resume_reading()

    def _line(self) -> bytes | None:
        """``rfile.readline(65537)``: a line, at most 65,537 bytes, ``b""`` at the end, or None."""
        end = self.buffer.find(b"\n", 0, http1.MAX_LINE + 1)
        if end < 0 and len(self.buffer) <= http1.MAX_LINE and not self.eof:
            return None
        size = end + 1 if end >= 0 else min(len(self.buffer), http1.MAX_LINE + 1)
        line = bytes(self.buffer[:size])
        del self.buffer[:size]
        return line

    def _read_request_line(self) -> bool:
        raw = self._line()
        if raw is None:
            return False
        self.command = None
        if len(raw) > http1.MAX_LINE:
            self.version, self.command = "", ""
            self._refuse(414, None)
            return False
        if not raw:
            self._close()
            return False
        line = http1.request_line(raw)
        self.version, self.close = line.version, line.close
        if line.blank:
            self._close()
            return False
        if line.error:
            self._refuse(*line.error)
            return False
        self.command, self.path = line.command, line.path
        self.lines = []
        self.state = HEADERS
        return True

    def _read_header_line(self) -> bool:
        line = self._line()
        if line is None:
            return False
        if len(line) > http1.MAX_LINE:
            self._refuse(431, "Line too long")
            return False
        self.lines.append(line)
        if len(self.lines) > http1.MAX_HEADERS:
            self._refuse(431, "Too many headers")
            return False
        if line not in http1.END_OF_HEADERS:
            return True
        self.headers = http1.headers(self.lines)
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close = True
        elif connection == "keep-alive":
            self.close = False
        if (self.headers.get("Expect", "").lower() == "100-continue"
                and self.version >= "HTTP/1.1"):
            self.transport.write(self.server.head.continue_100())
        if self.command not in ("GET", "POST"):
            self._refuse(501, "Unsupported method (%r)" % self.command)
            return False
        self.start = time.perf_counter()
        self.record = routes.record(self.client, self.command, self.path)
        try:
            self.size = routes.body_length(self.headers, self.command, self.server.limits,
                                           self.record)
        except Exception as exc:
            self._failed(exc)
            return self.state != CLOSED
        self.size = self.size or 0
        self.state = BODY
        return True

    def _read_body(self) -> bool:
        if len(self.buffer) < self.size and not self.eof:
            return False
        body = bytes(self.buffer[:self.size])
        del self.buffer[:self.size]
        self.state = ANSWERING
        try:
            if len(body) < self.size:
                raise routes.body_short(len(body), self.size)
            answer = routes.route(self.server, self.command, self.path.split("?", 1)[0],
                                  self.headers, body, self.record)
        except Exception as exc:
            self._failed(exc)
            return self.state != CLOSED
        if isinstance(answer, routes.Predict):
            self.server.model_calls.submit(answer.model, answer.version, answer.signature,
                                           answer.request.inputs,
                                           lambda result: self._predicted(answer, result))
            return False
        self._answer(*answer)
        return self.state != CLOSED

    # answering

    def _predicted(self, predict: routes.Predict, result) -> None:
        try:
            if isinstance(result, BaseException):
                raise result
            answer = routes.predicted(predict, result)
        except Exception as exc:
            self._failed(exc)
        else:
            self._answer(*answer)
        self._advance()

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, routes.BodyRefused):
            self.close = True
        self._answer(*routes.failure(exc, self.record), routes.JSON)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        """Log and count, then send (the log line is written before the client can read the
        answer, as by the threading server, whose answer leaves when the request is done)."""
        routes.finish(self.server, self.record, status, body, time.perf_counter() - self.start)
        self._send(status, body, content_type)

    def _refuse(self, status: int, message: str | None) -> None:
        """``send_error``: a malformed request, answered and logged; the connection closes."""
        self.close = True
        record = routes.record(self.client, self.command, self.path)
        record.update(status=status, error=message)
        self.server.access_log.write(record)
        self._send(status, routes.error(message or f"HTTP {status}"), routes.JSON)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        """Send the answer (unless the client has gone), then read on or close."""
        if self.state == CLOSED:
            return
        head = self.server.head(self.version, status, content_type, len(body), self.close)
        self.transport.write(head + body)
        self.last = time.monotonic()
        if self.close:
            self._close()
        else:
            self.state = LINE

    def _close(self) -> None:
        self.state = CLOSED
        self.transport.close()

    # timeouts

    def _arm(self, when: float) -> None:
        self.timer = self.server.loop.call_later(max(0.0, when - time.monotonic()), self._check)

    def _check(self) -> None:
        """Close a connection quiet for ``request_timeout`` (408 if a body stopped arriving)."""
        self.timer = None
        if self.state == CLOSED:
            return
        timeout, now = self.server.request_timeout, time.monotonic()
        if self.state == ANSWERING:        # waiting for its model call: no limit
            self._arm(now + timeout)
            return
        if now < self.last + timeout:
            self._arm(self.last + timeout)
            return
        if self.state == BODY:
            self.state = ANSWERING
            self._failed(routes.body_stalled(timeout, self.size))
            return
        sys.stderr.write(f"{self.client} - - [{_log_time()}] Request timed out: "
                         f"{TimeoutError('timed out')!r}\n")
        if self.writing_paused:
            self.abort()                   # the unread answer cannot be delivered
        else:
            self._close()


def _log_time() -> str:
    """``BaseHTTPRequestHandler.log_date_time_string``."""
    year, month, day, hh, mm, ss, *_ = time.localtime()
    return "%02d/%3s/%04d %02d:%02d:%02d" % (day, BaseHTTPRequestHandler.monthname[month], year,
                                            hh, mm, ss)
