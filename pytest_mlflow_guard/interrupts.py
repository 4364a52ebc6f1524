"""Short stretches that Ctrl-C must not cut in half: ending a run. Standard library only.

A run whose "end" request was interrupted stays RUNNING for ever (MLG601). Inside
:func:`deferred`, a SIGINT is remembered instead of raised, and re-raised as ``KeyboardInterrupt``
as soon as the block is done, so the run ends with a final status and the interrupt still
interrupts. Signal handlers belong to the main thread; elsewhere the block runs as it is.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["deferred"]


@contextmanager
def deferred() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    try:
        previous = signal.signal(signal.SIGINT, remember)
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if not caught:
        return
    if callable(previous) and previous is not signal.default_int_handler:
        previous(signal.SIGINT, None)  # someone else's handler: let it decide
    elif previous != signal.SIG_IGN:
        raise KeyboardInterrupt
