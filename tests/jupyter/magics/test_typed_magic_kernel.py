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


def test_agent_schema_retries_in_the_timeline_and_out_holds_the_object(ipy_kernel, tmp_path):
    trace = tmp_path / "run.jsonl"
    setup = """
from rlm_toolkit import ScriptedTurn
agent_model = RLM(ScriptedProvider(turns=['{"name": "Ada", "age": "old"}', '{"name": "Ada", "age": 36}'],
                                   delay=0.002))
"""
    assert ipy_kernel.execute(SETUP + setup).ok
    run = ipy_kernel.execute(f"%%rlm -m agent_model --agent --schema Person -o who --record {trace}\nWho?")
    assert run.ok, run.errors
    assert WIDGET in run.of("display_data")[0]["content"]["data"]
    assert ipy_kernel.value("who.model_dump()") == {"name": "Ada", "age": 36}
    assert ipy_kernel.value("type(who).__name__") == "Person"
    sent = json.dumps(run.comm_msgs())  # the timeline's operations: the retry is a row of step 1
    assert "does not fit the schema Person: age" in sent and "(retry 1 of 1)" in sent
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert lines[0]["schema"]["name"] == "Person"
    events = [line["event"] for line in lines if line["type"] == "event"]
    assert [e["outcome"] for e in events if e["type"] == "error"] == ["retry"]
    assert events[-1]["output"] == {"name": "Ada", "age": 36}


def test_schema_answer_is_a_tree_live_and_settles_into_a_readable_saved_copy(ipy_kernel):
    assert ipy_kernel.execute(SETUP).ok
    run = ipy_kernel.execute("%%rlm -m typed --schema 'list[Person]' -o people\nExtract the people.")
    assert run.ok, run.errors
    opened = [m for m in run.of("comm_open") if m["content"]["data"]["state"].get("fmt")]
    assert opened and opened[0]["content"]["data"]["state"]["fmt"] == "object"
    assert opened[0]["content"]["data"]["state"]["unwrap"] is True  # list[Person] goes as {"value": …}
    [saved] = run.of("update_display_data")[-1:]
    html = saved["content"]["data"]["text/html"]
    assert html.count('<li class="rlm-obj-item">') == 2 and ">Alan</span>" in html
    assert '<details class="rlm-obj-raw">' in html
    assert saved["content"]["data"]["text/markdown"].startswith("```json\n")
