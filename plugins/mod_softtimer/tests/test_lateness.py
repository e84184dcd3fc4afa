"""The clock loop's lateness statistics: a preallocated ring that reads as a bounded deque
(bench/timers.py reads it), without one int object per wake-up."""

from __future__ import annotations

from collections import deque

from hypothesis import given
from hypothesis import strategies as st

from mod_softtimer.engine import Lateness


@given(st.integers(1, 8), st.lists(st.integers(-(2**62), 2**62), max_size=40),
       st.integers(0, 40))
def test_lateness_reads_as_a_deque_with_maxlen(size, values, clear_at):
    ring, ref = Lateness(size), deque(maxlen=size)
    for i, v in enumerate(values):
        if i == clear_at:
            ring.clear()
            ref.clear()
        ring.append(v)
        ref.append(v)
        assert len(ring) == len(ref)
        assert list(ring) == list(ref)
