"""Errors that the CLI turns into a one-line message and an exit code instead of a traceback."""


class SeqlineError(Exception):
    """Base class: a problem the user can fix, described in one line."""

    exit_code = 1


class ConfigError(SeqlineError):
    """The YAML config is invalid (unknown key, wrong type, missing file or column)."""

    exit_code = 2


class DataError(SeqlineError):
    """The input data cannot be used (too many bad rows, empty file, ...)."""

    exit_code = 3
