"""The progress tracker and its displays (mipnet.progress): events from launch, the best incumbent and bound, the floor
rule, plain lines off a terminal and a live rich line on one; the estimators' ``verbose=`` and ``callback=``."""

from __future__ import annotations

import io
import math

import pytest

from mipnet.progress import (
    OBJECTIVE_FLOOR,
    LineDisplay,
    LiveDisplay,
    Phase,
    ProgressEvent,
    TrainProgress,
    chain,
    describe,
    make_display,
)
from mipnet.solvers import Progress


def test_tracker_keeps_the_best_incumbent_and_bound_and_clips_to_the_floor() -> None:
    events: list[ProgressEvent] = []
    t = TrainProgress(events.append)
    assert t.bound == OBJECTIVE_FLOOR and t.incumbent == math.inf
    t.enter(Phase.WARM_START)
    t.found(0.5)
    t.found(0.7)                       # worse: no event, no change
    assert t.incumbent == 0.5 and len(events) == 2 and events[-1].improved
    t.set_bound(-6.1e-15)              # below the floor: stays at the floor
    assert t.bound == 0.0
    t.set_bound(0.2)
    t.set_bound(0.1)                   # a weaker bound never lowers the best one
    assert t.bound == 0.2 and events[-1].gap == pytest.approx(0.6)
    t.set_bound(0.9)                   # never above the incumbent
    assert t.bound == 0.5
    assert t.clip(math.nan) == 0.0 and t.clip(-math.inf) == 0.0


def test_solver_events_become_progress_events_of_the_phase() -> None:
    events: list[ProgressEvent] = []
    t = TrainProgress(events.append)
    t.enter(Phase.SOLVE, pattern=2)
    cb = t.solver_callback(on_bound=lambda b: min(b, 0.3))   # e.g. the smallest over the patterns
    cb(Progress(1.0, 0.8, 0.4, 0.5, 10))
    e = events[-1]
    assert (e.phase, e.pattern, e.incumbent, e.bound, e.nodes, e.improved) == (Phase.SOLVE, 2, 0.8, 0.3, 10, True)
    cb(Progress(2.0, math.inf, -math.inf, math.inf, 20))   # no solution, no bound: the known ones stay
    assert events[-1].incumbent == 0.8 and events[-1].bound == 0.3 and not events[-1].improved
    assert e.time == e.elapsed >= 0


def test_line_display_prints_phase_changes_better_incumbents_and_a_line_now_and_then() -> None:
    lines: list[str] = []
    show = LineDisplay(lines.append, every=1e9)
    ev = ProgressEvent(Phase.SOLVE, 1.5, 0.25, 0.125, 0.5, pattern=1, nodes=7)
    show(ev)
    show(ev)                                   # nothing new: no line
    show(ProgressEvent(Phase.SOLVE, 2.0, 0.2, 0.125, 0.375, pattern=1, nodes=9, improved=True))
    show(ProgressEvent(Phase.SOLVE, 2.5, 0.2, 0.125, 0.375, pattern=2))
    assert len(lines) == 3
    assert "solve k=1" in lines[0] and "1.5s" in lines[0] and "incumbent        0.25" in lines[0]
    assert "bound       0.125" in lines[0] and "50.00%" in lines[0] and "nodes 7" in lines[0]
    assert lines[1].lstrip().startswith("*") and "solve k=2" in lines[2]


def test_describe_says_none_for_a_missing_incumbent() -> None:
    text = describe(ProgressEvent(Phase.WARM_START, 0.0, math.inf, 0.0, math.inf))
    assert "incumbent           -" in text and "gap        -" in text and "nodes" not in text


def test_make_display_is_plain_off_a_terminal_and_live_on_one() -> None:
    from rich.console import Console

    buf = io.StringIO()
    plain = make_display(stream=buf)
    assert isinstance(plain, LineDisplay)
    plain(ProgressEvent(Phase.BUILD, 0.1, math.inf, 0.0, math.inf, pattern=0))
    assert "build k=0" in buf.getvalue()
    assert isinstance(make_display(Console(file=io.StringIO(), force_terminal=False)), LineDisplay)
    out = io.StringIO()
    live = make_display(Console(file=out, force_terminal=True, width=150))
    assert isinstance(live, LiveDisplay)
    with live:
        live(ProgressEvent(Phase.WARM_START, 0.1, 0.5, 0.0, 1.0, pattern=0, improved=True))
        live(ProgressEvent(Phase.SOLVE, 0.2, 0.4, 0.1, 0.75, pattern=0, nodes=3))
        assert "solve k=0" in str(live.__rich__())          # the status line shows the last event
    text = out.getvalue()
    assert "warm start k=0" in text and "solve k=0" in text   # each phase change left a permanent line


def test_chain_calls_both() -> None:
    seen: list[tuple[str, int]] = []
    both = chain(lambda e: seen.append(("a", e)), lambda e: seen.append(("b", e)))
    both(1)
    assert seen == [("a", 1), ("b", 1)]
    assert chain(None, None) is None


def test_estimator_callback_gets_typed_events_and_verbose_prints_plain_lines(bc_subset, capsys) -> None:
    from mipnet.estimators import MIPNetClassifier

    X, y = bc_subset(30, 4, 0)
    events: list[ProgressEvent] = []
    clf = MIPNetClassifier(hidden=(2,), l1=0.01, time_limit=60, callback=events.append, verbose=True).fit(X, y)
    assert events and all(isinstance(e, ProgressEvent) for e in events)
    assert events[0].phase == Phase.WARM_START and events[-1].phase == Phase.DONE
    assert events[-1].incumbent == pytest.approx(clf.report_.objective)
    assert all(e.bound >= 0.0 for e in events)
    out = capsys.readouterr().out
    assert "warm start k=0" in out and "done" in out     # stdout is not a terminal under pytest: plain lines
    MIPNetClassifier(hidden=(2,), l1=0.01, time_limit=60).fit(X, y)
    assert capsys.readouterr().out == ""                 # silent by default
