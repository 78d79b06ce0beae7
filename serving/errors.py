"""The error a request ends in: an HTTP status and a one-line message sent as ``{"error": ...}``."""


class RequestError(Exception):
    """A request the server refuses or cannot answer; ``status`` is the HTTP status code."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
