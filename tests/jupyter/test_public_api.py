"""rlm_jupyter's public names, and that loading the extension stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import rlm_jupyter

EXPECTED = {"load_ipython_extension", "unload_ipython_extension", "display_stream", "adisplay_stream",
            "StreamView", "display_agent", "TimelineView", "replay", "fork"}


def test_exported_names_are_pinned_and_resolve():
    assert set(rlm_jupyter.__all__) == EXPECTED
    for name in EXPECTED:
        assert callable(getattr(rlm_jupyter, name)), name


def test_load_ext_imports_no_widget_markdown_or_provider_code():
    probe = (
        "import sys, json\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'rlm_jupyter')\n"
        "heavy = ('anywidget', 'ipywidgets', 'markdown_it', 'nh3', 'httpx', 'openai', 'llama_cpp',\n"
        "         'rlm_toolkit.rlm')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
