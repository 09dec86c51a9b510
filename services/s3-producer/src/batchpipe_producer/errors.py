"""Why a run stops: the object cannot be read as its contract says, it makes no progress, or
the service stops."""

from __future__ import annotations


class UnreadableSource(Exception):
    """The object cannot be read as its contract says (the run fails, no manifest)."""


class RunCancelled(Exception):
    """The run was asked to stop (service shutdown)."""


class RunStalled(Exception):
    """The run made no progress (bytes read, rows parsed, chunks sent) for too long."""
