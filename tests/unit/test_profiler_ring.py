"""The profiler's ring of layer times, cut into inferences at the host's marks."""

from __future__ import annotations

from trt_agent.sources.profiler import LayerTimeRing, split_iterations


def test_inferences_are_cut_at_the_hosts_marks() -> None:
    ring = LayerTimeRing(capacity=16)
    for first, second in ((1.0, 2.0), (3.0, 4.0)):
        ring.append(("a", first))
        ring.append(("b", second))
        ring.end_inference()
    ring.append(("a", 5.0))  # the next inference, still being reported
    done, tail = split_iterations(ring.drain())
    assert done == [[("a", 1.0), ("b", 2.0)], [("a", 3.0), ("b", 4.0)]] and tail == [("a", 5.0)]
    # an engine swapped between inferences reports other names: still cut right
    ring.append(("b", 6.0))
    ring.end_inference()
    ring.append(("v2/x", 7.0))
    ring.end_inference()
    done, tail = split_iterations([*tail, *ring.drain()])
    assert done == [[("a", 5.0), ("b", 6.0)], [("v2/x", 7.0)]] and tail == []
