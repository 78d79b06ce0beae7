"""Sequence classification and labeling (``task: classify``, ``task: label``)."""
