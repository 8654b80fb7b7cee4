"""Checks that several test files share."""

from __future__ import annotations


def one_line(exc_info, *needles) -> str:
    """The message of a raised error (``pytest.raises``' ``exc_info``), checked to be one line
    that holds every one of ``needles``."""
    msg = str(exc_info.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg
