"""Corpora that seqline generates offline (no downloads), e.g. ``spoken_digits``."""
