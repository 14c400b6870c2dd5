"""``%%rlm --schema`` through a real ipykernel: the JSON streams into the widget as any answer
does, and ``-o`` holds the validated object (issue 24)."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(120)]

WIDGET = "application/vnd.jupyter.widget-view+json"
PEOPLE = [{"name": "Ada", "age": 36}, {"name": "Alan", "age": 41}]

SETUP = f"""
%load_ext rlm_jupyter
from pydantic import BaseModel
from rlm_toolkit import RLM, ScriptedProvider
class Person(BaseModel):
    name: str
    age: int
typed = RLM(ScriptedProvider(list({json.dumps(json.dumps({"value": PEOPLE}))}), delay=0.002))
"""


def test_schema_streams_the_json_in_the_widget_and_out_holds_the_objects(ipy_kernel):
    assert ipy_kernel.execute(SETUP).ok
    run = ipy_kernel.execute("%%rlm -m typed --schema 'list[Person]' -o people\nExtract the people.")
    assert run.ok, run.errors
    assert WIDGET in run.of("display_data")[0]["content"]["data"]
    sent = "".join(m["d"] for m in run.comm_msgs() if "d" in m)
    assert sent == json.dumps({"value": PEOPLE})
    assert ipy_kernel.value("all(isinstance(p, Person) for p in people)") is True
    assert ipy_kernel.value("[p.model_dump() for p in people]") == PEOPLE
