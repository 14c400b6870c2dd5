"""Fixtures shared by the jupyter tests."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture
def shell():
    """An in-process IPython shell with ``rlm_jupyter`` loaded (IPython's own way to test magics)."""
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "rlm_jupyter")
    yield ip
    ip.run_line_magic("unload_ext", "rlm_jupyter")
    InteractiveShell.clear_instance()
