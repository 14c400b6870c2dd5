"""Stop latency: a Stop click on a streaming ``%%rlm`` answer → its last text frame, the HTTP
connection closed, and the settled ("stopped") display, in a real ipykernel.

The click is sent as the page sends it (a comm message on a kernel subshell, JupyterLab ≥ 4.4),
while the answer streams from the loopback OpenAI-compatible server of the tests; foreground
(the cell is still running) and ``--bg`` (the kernel's main thread runs ``time.sleep``).
Times come from the kernel's message headers and the server's own clock (one machine, one
clock)::

    python -m benchmarks.stop_latency [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.kernel import Kernel, sent_at  # noqa: E402
from tests.fixtures.openai_server import OpenAIServer, Stream  # noqa: E402


def one(kernel: Kernel, server: OpenAIServer, subshell: str, mode: str) -> dict[str, float]:
    server.script(Stream(" ".join(f"t{i}" for i in range(20000)), delay=0.005))
    server.disconnected.clear()
    closed: list[float] = []
    threading.Thread(target=lambda: closed.append(time.time()) if server.disconnected.wait(10) else None,
                     daemon=True).start()
    kernel.backlog.clear()
    if mode == "fg":
        msg_id = kernel.start("%%rlm -m remote\ngo")
    else:
        run = kernel.execute("%%rlm --bg -m remote\ngo")
        assert run.ok, run.errors
        kernel.backlog.extend(run.messages)
        msg_id = kernel.start("time.sleep(3)")
    comm, display = kernel.widget(30)
    time.sleep(1.0)
    clicked = time.time()
    kernel.send_comm(comm, {"type": "stop"}, subshell=subshell)
    ran = kernel.until_idle(msg_id, timeout=30)
    messages = ran.messages + list(kernel.backlog) + kernel.collect(2.0)
    frames = [
        sent_at(m)
        for m in messages
        if m["msg_type"] == "comm_msg"
        and m["content"].get("comm_id") == comm
        and "d" in m["content"]["data"].get("content", {})
    ]
    settled = [sent_at(m) for m in messages if m["msg_type"] == "update_display_data"
               and m["content"]["transient"]["display_id"] == display
               and not m["content"]["metadata"]["rlm"].get("partial")]
    return {"last_frame": max(0.0, max(frames) - clicked) * 1000,
            "socket_closed": (closed[0] - clicked) * 1000 if closed else float("nan"),
            "settled": (min(settled) - clicked) * 1000 if settled else float("nan")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    server = OpenAIServer()
    kernel = Kernel()
    try:
        setup = (
            f"%load_ext rlm_jupyter\nimport time\nfrom rlm_toolkit import RLM\n"
            f"remote = RLM.from_openai('gpt-4o', base_url={server.base_url!r}, api_key={server.api_key!r})"
        )
        assert kernel.execute(setup).ok
        subshell = kernel.subshell()
        print("| stream | click → last text frame | click → socket closed | click → settled display |")
        print("|---|---|---|---|")
        for mode in ("fg", "bg"):
            rows = [one(kernel, server, subshell, mode) for _ in range(args.runs)]
            cells = [f"{statistics.median(r[k] for r in rows):.1f} ms (max {max(r[k] for r in rows):.1f})"
                     for k in ("last_frame", "socket_closed", "settled")]
            label = "foreground %%rlm" if mode == "fg" else "--bg, main thread asleep"
            print(f"| {label} | " + " | ".join(cells) + " |")
        print(f"\nmedian of {args.runs} runs each, 200 chunks/s from the loopback server")
    finally:
        kernel.shutdown()
        server.close()


if __name__ == "__main__":
    main(sys.argv[1:])
