"""The ipykernel internals rlm_jupyter reaches (rlm_jupyter/live/_ipykernel.py) are where we expect.

The code itself falls back to doing nothing when one is missing, so that a notebook keeps
working; these tests are what fails, loudly, when an ipykernel release moves one.
"""

from __future__ import annotations

import inspect

from rlm_jupyter.live import _ipykernel


def test_every_private_attribute_reached_is_in_the_installed_ipykernel():
    assert _ipykernel.missing() == []


def test_the_kernel_still_routes_comm_messages_through_the_comm_and_saves_its_sigint_handler():
    from ipykernel.kernelbase import Kernel

    assert "_reply_subshell_for" in inspect.getsource(Kernel.shell_channel_thread_main)
    assert "self.saved_sigint_handler" in inspect.getsource(Kernel.pre_handler_hook)
    assert "self.saved_sigint_handler" in inspect.getsource(Kernel.post_handler_hook)
    assert "_parent_ident" in Kernel.__annotations__  # kept by ipykernel 7 for backward compatibility


def test_answer_where_sent_replaces_the_comms_router():
    from ipykernel.comm.comm import BaseComm

    comm = BaseComm.__new__(BaseComm)  # no kernel needed to check the routing rule
    _ipykernel.answer_where_sent(comm)
    assert comm._reply_subshell_for({"content": {"id": "x"}}, "the-subshell-the-page-chose") == \
        "the-subshell-the-page-chose"


def test_outside_a_kernel_nothing_is_touched():
    assert _ipykernel.kernel() is None
    assert _ipykernel.input_request(__import__("threading").Event()) is None
    class Hook:
        def __init__(self, saved: object) -> None:
            self.saved = saved

    assert _ipykernel.hook_idle_interrupt(Hook, Hook) is False
