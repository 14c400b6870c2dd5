"""The throughput benchmark runs, counts every chunk on both sides, and keeps its ratio."""

from __future__ import annotations

import pytest


def test_benchmark_small_run(capsys):
    pytest.importorskip("openai")
    from benchmarks import openai_stream

    figures = openai_stream.main(["--chunks", "3000", "--repeat", "1"])
    assert figures["ratio"] >= 0.95, figures
    out = capsys.readouterr().out
    assert "| bulk |" in out and "| per-event |" in out
