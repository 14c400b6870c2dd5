"""Values rendered for a model: one registry, every rendering capped with a visible note."""

from __future__ import annotations

import sys
import time

import numpy
import pytest

from rlm_jupyter.context import Limits, register_renderer, render_value
from rlm_jupyter.context import values as values_module


def test_plain_values_read_as_str_does():
    assert render_value(42) == "42"
    assert render_value("hello") == "hello"
    assert render_value([1, "a", None]) == "[1, 'a', None]"
    assert render_value({"a": 1}) == "{'a': 1}"
    assert render_value((1, 2)) == "(1, 2)"


def test_a_long_string_is_cut_with_a_note():
    text = render_value("x" * 10_000_000, Limits(chars=100))
    assert text == "x" * 100 + "… [10,000,000 characters; first 100 shown]"


def test_a_long_container_reads_only_its_head():
    text = render_value(list(range(10_000)), Limits(items=5))
    assert text == "[0, 1, 2, 3, 4, …] [10,000 items; first 5 shown]"
    text = render_value({i: str(i) for i in range(100)}, Limits(items=2))
    assert text == "{0: '0', 1: '1', …} [100 keys; first 2 shown]"
    # an item inside a container is one line, cut
    assert "characters; first" in render_value(["y" * 500], Limits(cell_chars=20))


def test_bytes_are_cut():
    text = render_value(b"ab" * 1000, Limits(chars=100))
    assert text == "b'" + "ab" * 10 + "' [2,000 bytes; first 20 shown]"


def test_numpy_array_shape_dtype_and_edges():
    text = render_value(numpy.arange(1_000_000).reshape(1000, 1000))
    assert text.startswith("numpy.ndarray shape (1000, 1000), dtype int64\n")
    assert "..." in text and "[1,000,000 elements; the first and last 3 of each axis shown]" in text
    assert len(text) < 1000
    assert render_value(numpy.array([1.5, 2.5])) == "numpy.ndarray shape (2,), dtype float64\n[1.5 2.5]"


def test_repr_llm_and_registered_renderers_win(monkeypatch):
    class Molecule:
        def _repr_llm_(self):
            return "Molecule H2O"

    class Point:
        pass

    class Point3(Point):
        pass

    monkeypatch.setattr(values_module, "_BY_TYPE", dict(values_module._BY_TYPE))
    register_renderer(Point, lambda p, limits: f"a point (rows={limits.rows})")
    assert render_value(Molecule()) == "Molecule H2O"
    assert render_value(Point3(), Limits(rows=3)) == "a point (rows=3)"  # by the MRO
    with pytest.raises(TypeError):
        register_renderer(3, str)  # type: ignore[arg-type]


def test_a_renderer_that_raises_names_the_type_and_error_and_does_not_fail():
    class Broken:
        def _repr_llm_(self):
            raise ValueError("no")

    class NotText:
        def _repr_llm_(self):
            return 3

    assert render_value(Broken()).endswith("Broken: rendering failed: ValueError: no>")
    assert "rendering failed: TypeError: the renderer returned int, not str" in render_value(NotText())


def test_pandas_is_not_imported_to_render_other_values():
    if "pandas" in sys.modules:
        pytest.skip("pandas was imported by an earlier test")
    render_value({"a": [1, 2]})
    assert "pandas" not in sys.modules


def test_a_dataframe_of_a_million_rows_is_shape_dtypes_and_a_head_fast():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"id": numpy.arange(1_000_000), "name": ["a|b"] * 1_000_000,
                              "score": numpy.linspace(0, 1, 1_000_000)})
    started = time.perf_counter()
    text = render_value(frame, Limits(chars=4000, rows=5))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, elapsed
    lines = text.splitlines()
    assert lines[0] == "pandas.DataFrame: 1,000,000 rows × 3 columns"
    assert lines[1].startswith("dtypes: id: int64, name: ") and lines[1].endswith(", score: float64")
    assert lines[2] == "|  | id | name | score |" and lines[3] == "|---|---|---|---|"
    assert lines[4] == "| 0 | 0 | a\\|b | 0.0 |"  # a | inside a cell is escaped
    assert len(lines) == 10 and lines[-1] == "[1,000,000 rows; first 5 shown]"
    series = render_value(frame["id"], Limits(rows=2))
    assert series.splitlines()[0] == "pandas.Series 'id': 1,000,000 values, dtype int64"
    assert series.splitlines()[-1] == "[1,000,000 rows; first 2 shown]"


def test_a_wide_dataframe_names_the_columns_cut():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({f"c{i}": [i] for i in range(50)})
    text = render_value(frame, Limits(columns=3))
    assert "| c0 | c1 | c2 |" in text and "c3" not in text.split("\n", 2)[2]
    assert text.endswith("[50 columns; first 3 shown]")


def test_a_polars_dataframe_and_series_are_shape_dtypes_and_a_head():
    polars = pytest.importorskip("polars")
    frame = polars.DataFrame({"id": list(range(100_000)), "name": ["x"] * 100_000})
    text = render_value(frame, Limits(rows=2))
    assert text.splitlines() == ["polars.DataFrame: 100,000 rows × 2 columns",
                                 "dtypes: id: Int64, name: String", "| id | name |", "|---|---|",
                                 "| 0 | x |", "| 1 | x |", "[100,000 rows; first 2 shown]"]
    series = render_value(frame["id"], Limits(rows=1))
    assert series.splitlines() == ["polars.Series 'id': 100,000 values, dtype Int64", "| id |", "|---|",
                                   "| 0 |", "[100,000 rows; first 1 shown]"]
