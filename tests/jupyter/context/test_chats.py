"""The chat store (rlm_jupyter/context/chats.py): names, files created whole and grown by whole lines,
hostile files read back with what is readable kept, never another file written or deleted, the
window rule."""

from __future__ import annotations

import json
import multiprocessing
import os
import time

import pytest

from rlm_jupyter.context.chats import (
    MAX_CHAT_BYTES,
    MAX_LINES,
    MAX_PROBLEMS,
    MAX_TEXT_CHARS,
    VERSION,
    ChatStore,
    Turn,
    check_name,
    fit,
)
from rlm_toolkit.errors import UsageError
from tests.fixtures.openai_server import TEST_KEY


def turn(n: int, model: str = "openai:gpt-4o") -> Turn:
    return Turn.new(model, f"question {n}", f"answer {n}")


@pytest.fixture
def store(tmp_path):
    return ChatStore(tmp_path / ".rlm" / "chats")


def test_turns_are_saved_and_read_back_by_a_new_store(store):
    store.append("trip", Turn.new("openai:gpt-4o", "Plan a day.", "Walk.", "Be brief.",
                                  {"prompt_tokens": 9, "completion_tokens": 2, "junk": "x"}))
    store.append("trip", turn(2, "local:smollm2"))
    chat = ChatStore(store.folder).load("trip")  # another kernel, or this one after a restart
    assert [(t.model, t.user, t.assistant) for t in chat.turns] == [
        ("openai:gpt-4o", "Plan a day.", "Walk."), ("local:smollm2", "question 2", "answer 2")]
    assert chat.turns[0].system == "Be brief." and chat.turns[0].usage == {"prompt_tokens": 9,
                                                                         "completion_tokens": 2}
    assert chat.models() == ["openai:gpt-4o", "local:smollm2"] and chat.problems == []
    assert chat.messages()[:2] == [{"role": "user", "content": "Plan a day."},
                                   {"role": "assistant", "content": "Walk."}]
    header = json.loads(chat.path.read_text().splitlines()[0])
    assert header["type"] == "rlm-chat" and header["version"] == VERSION and header["name"] == "trip"
    assert oct(store.folder.stat().st_mode & 0o777) == "0o700"
    assert oct(chat.path.stat().st_mode & 0o777) == "0o600"


def test_reading_goes_on_from_where_it_was(store):
    for n in range(3):
        store.append("a", turn(n))
    assert len(store.load("a").turns) == 3
    path = store.path("a")
    with open(path, "r+b") as file:  # spoil line 2 in place: a store that reads on never sees it
        file.seek(len(path.read_bytes().split(b"\n")[0]) + 1)
        file.write(b"#")
    store.append("a", turn(3))
    chat = store.load("a")
    assert [t.user for t in chat.turns] == [f"question {n}" for n in range(4)] and chat.problems == []
    assert chat._offset == path.stat().st_size
    fresh = ChatStore(store.folder).load("a")  # one that reads from the start does
    assert len(fresh.turns) == 3 and fresh.problems[0].startswith(f"{path} line 2: not JSON")


@pytest.mark.parametrize("name", ["../etc", "a/b", ".hidden", "", "a" * 65, "x.jsonl", "名前", "-x", "a b"])
def test_a_name_that_could_leave_the_folder_is_refused(store, name):
    with pytest.raises(UsageError, match="a chat's name is 1 to 64 letters"):
        store.append(name, turn(1))
    assert not store.folder.exists()


def test_names_that_are_fine():
    assert [check_name(n) for n in ("trip", "Trip-2", "a_b", "7")] == ["trip", "Trip-2", "a_b", "7"]


def test_keys_are_never_written_and_huge_texts_are_cut(store):
    store.append("k", Turn.new("openai:gpt-4o", f"my key is {TEST_KEY}", "x" * (MAX_TEXT_CHARS + 10)))
    text = store.path("k").read_text()
    assert TEST_KEY not in text and "my key is sk-***" in text
    assert "[10 more characters not kept in the chat]" in text


def test_a_hostile_file_keeps_what_is_readable_and_names_each_bad_line(store):
    store.append("h", turn(1))
    path = store.path("h")
    with open(path, "ab") as file:
        file.write(b"not json\n")
        file.write(b"[" * 5000 + b"]" * 5000 + b"\n")
        file.write(b'{"type": "turn", "model": 1, "user": "u", "assistant": "a"}\n')
        file.write(b'"a string"\n')
        file.write(turn(2).line())
        file.write(b'{"type": "turn", "model": "m", "user": "half-written')  # no newline: still being written
    chat = ChatStore(store.folder).load("h")
    assert [t.user for t in chat.turns] == ["question 1", "question 2"]
    assert [p.split(": ", 1)[0] for p in chat.problems] == [f"{path} line {n}" for n in (3, 4, 5, 6)]
    assert "not JSON" in chat.problems[0] and "nested deeper than 4 levels" in chat.problems[1]
    assert "model, user and assistant as text" in chat.problems[2]


def test_many_bad_or_blank_lines_keep_a_bounded_list_of_problems(store):
    store.append("many", turn(1))
    with open(store.path("many"), "ab") as file:
        file.write(b"x\n" * 100_000 + b"\n" * 100_000 + turn(2).line())
    started = time.perf_counter()
    chat = ChatStore(store.folder).load("many")
    assert time.perf_counter() - started < 20  # linear: about a second here, on a loaded machine
    assert [t.user for t in chat.turns] == ["question 1", "question 2"]
    assert len(chat.problems) == MAX_PROBLEMS and chat.more_problems == 100_000 - MAX_PROBLEMS


def test_a_file_of_millions_of_tiny_lines_is_refused_at_the_line_limit(store):
    store.append("tiny", turn(1))
    store.load("tiny")  # read once: the refusal must not leave it half read either
    size = store.path("tiny").stat().st_size
    with open(store.path("tiny"), "ab") as file:
        file.write(b"{\n" * 5_000_000)
    started = time.perf_counter()
    with pytest.raises(UsageError, match=f"has over {MAX_LINES:,} lines, more than rlm reads for a chat"):
        store.load("tiny")
    assert time.perf_counter() - started < 20  # the limit, not the 5,000,000 lines, bounds the work
    os.truncate(store.path("tiny"), size)  # moved away: what was read before is read again, once
    chat = store.load("tiny")
    assert len(chat.turns) == 1 and chat.problems == []


def test_a_chat_of_another_version_is_read_but_not_written(store):
    path = store.path("v")
    store.folder.mkdir(parents=True)
    path.write_bytes(b'{"type": "rlm-chat", "version": 99}\n' + turn(1).line())
    chat = store.load("v")
    assert len(chat.turns) == 1 and f"{path} line 1: a chat of format version 99" in chat.problems[0]
    with pytest.raises(UsageError, match="format version 99; this rlm writes version 1"):
        store.append("v", turn(2))
    path.write_bytes(b'{"type": "rlm-chat", "version": "' + b"9" * 100_000 + b'"}\n')
    (problem,) = ChatStore(store.folder).load("v").problems
    assert problem.startswith(f"{path} line 1: a chat of format version '999") and len(problem) < 300
    assert store.fork("v", None, "v2").turns == chat.turns  # the way on: a fork in this version


@pytest.mark.parametrize("content", [b"name,score\nada,3\n", b"", b'{"type": "header", "kind": "stream"}\n'])
def test_a_file_that_is_not_a_chat_is_never_written_or_deleted(store, content):
    store.folder.mkdir(parents=True)
    path = store.path("notes")
    path.write_bytes(content)
    for act in (lambda: store.append("notes", turn(1)), lambda: store.forget("notes")):
        with pytest.raises(UsageError, match="not an rlm chat file; rlm never writes or deletes another"):
            act()
    assert path.read_bytes() == content


def test_a_link_a_fifo_or_a_folder_at_a_chats_name_is_refused(store, tmp_path):
    store.folder.mkdir(parents=True)
    target = tmp_path / "precious.txt"
    target.write_text("mine")
    os.symlink(target, store.path("link"))
    os.mkfifo(store.path("fifo"))
    store.path("dir").mkdir()
    for name, message in (("link", "not an rlm chat file"), ("fifo", "is a FIFO"), ("dir", "is a folder")):
        with pytest.raises(UsageError, match=message):
            store.append(name, turn(1))
    os.unlink(store.path("link"))
    os.symlink(tmp_path / "nowhere", store.path("link"))  # a dangling link: not followed, not created
    with pytest.raises(UsageError):
        store.append("link", turn(1))
    assert target.read_text() == "mine" and not (tmp_path / "nowhere").exists()
    assert store.names() == ([], 0)  # none of them is listed as a chat


def test_a_file_over_the_limit_is_refused_before_it_is_read(store):
    store.append("big", turn(1))
    with open(store.path("big"), "ab") as file:
        file.truncate(MAX_CHAT_BYTES + 1)
    with pytest.raises(UsageError, match="over 32 MB, more than rlm reads for a chat"):
        ChatStore(store.folder).load("big")
    with pytest.raises(UsageError, match="would be over 32 MB"):
        store.append("big", turn(2))
    assert store.forget("big") is None and not store.path("big").exists()  # too large is no reason to keep it


def test_a_file_system_without_hard_links_still_never_replaces(store, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    store.append("fat", turn(1))
    store.append("fat", turn(2))
    assert [t.user for t in ChatStore(store.folder).load("fat").turns] == ["question 1", "question 2"]
    before = store.path("fat").read_bytes()
    with pytest.raises(FileExistsError):  # another kernel made it meanwhile: O_EXCL, not replaced
        store._create(store.path("fat"), b"theirs\n")
    assert store.path("fat").read_bytes() == before
    assert sorted(p.name for p in store.folder.iterdir()) == ["fat.jsonl"]  # nothing left aside


def test_a_folder_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "chats").write_text("x")
    with pytest.raises(UsageError, match="cannot keep chats in .*: it is not a folder"):
        ChatStore(tmp_path / "chats").append("a", turn(1))


def _append_many(folder: str, who: str, count: int) -> None:
    store = ChatStore(folder)  # type: ignore[arg-type]
    for n in range(count):
        store.append("shared", Turn.new(f"model-{who}", f"{who} {n} " + "x" * 20_000, f"answer {who} {n}"))


def test_two_processes_appending_to_one_chat_lose_and_tear_nothing(store):
    store.folder.mkdir(parents=True)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(store.folder), who, 40)) for who in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    chat = store.load("shared")
    assert chat.problems == []
    for who in "ab":
        mine = [t.user.split()[1] for t in chat.turns if t.model == f"model-{who}"]
        assert mine == [str(n) for n in range(40)]
    assert list(store.folder.iterdir()) == [store.path("shared")]  # no file left aside


def test_fork_and_forget(store):
    for n in range(1, 4):
        store.append("main", turn(n))
    branch = store.fork("main", 2, "branch")
    assert [t.user for t in branch.turns] == ["question 1", "question 2"]
    assert branch.parent == {"name": "main", "at": 2}
    for at, message in ((0, "--at 0: the chat 'main' has turns 1 to 3"), (4, "--at 4")):
        with pytest.raises(UsageError, match=message):
            store.fork("main", at, "other")
    with pytest.raises(UsageError, match="a chat 'branch' exists already"):
        store.fork("main", 1, "branch")
    with pytest.raises(UsageError, match="no turns to fork"):
        store.fork("nothing", None, "x")
    time.sleep(0.01)
    store.append("main", turn(4))
    assert store.names() == (["main", "branch"], 0)  # the most recently changed first
    assert store.forget("branch") == 2 and not store.path("branch").exists()
    with pytest.raises(UsageError, match="no chat 'branch'"):
        store.forget("branch")
    assert [t.user for t in store.load("main").turns][-1] == "question 4"


def test_the_window_rule_keeps_the_newest_whole_turns():
    assert fit([500, 500, 500], prompt_tokens=100, window=2048, reserve=512) == (2, 1000)
    assert fit([10, 10, 10], prompt_tokens=100, window=2048, reserve=512) == (3, 30)
    assert fit([10, 5000, 10], prompt_tokens=100, window=2048, reserve=512) == (1, 10)  # never past a gap
    assert fit([10], prompt_tokens=5000, window=2048, reserve=512) == (0, 0)  # the prompt alone is over
    assert fit([], prompt_tokens=1, window=10, reserve=1) == (0, 0)


def test_the_window_rule_reads_sizes_only_as_far_as_they_fit():
    counted = []

    def sizes():
        for n in range(1_000_000):  # newest first, counted lazily
            counted.append(n)
            yield 100

    assert fit(sizes(), prompt_tokens=48, window=2048, reserve=500) == (15, 1500)
    assert len(counted) == 16
