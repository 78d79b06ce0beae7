"""Tie every sink of a Beam pipeline to its last transform, so that every runner runs them all."""
from __future__ import annotations

import apache_beam as beam


def every_output(*sinks):
    """Apply last: one Flatten of the ``sinks``' output PCollections (what they wrote).

    Beam's DaskRunner computes only the pipeline's last transform and what it reads; a sink on
    another branch does not run, and the pipeline still reports success.
    """
    return sinks | "EveryOutput" >> beam.Flatten()
