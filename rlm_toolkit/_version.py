"""The package's version, in a module of its own so that submodules can name it without a cycle."""

from __future__ import annotations

__version__ = "0.1.0"
