"""The ``dld`` command line: ``dld serve`` runs the daemon; the other commands talk to it over HTTP."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
