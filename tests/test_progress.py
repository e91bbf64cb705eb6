"""Progress bars in a real terminal: the lines printed while a bar shows stay on screen (a pty replayed through
the pyte terminal emulator, 80x50), one ETA per bar, sane ETAs, and nothing on stderr when it is not a terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import textwrap

import pytest

from amc.train.progress import EpochProgress

pyte = pytest.importorskip("pyte")

SCRIPT = textwrap.dedent("""
    import time
    from amc.cli.common import say
    from amc.progress import Bar
    from amc.train.progress import EpochProgress
    bar = EpochProgress(True, 3, 5)
    with bar:
        for e in range(3):
            bar.start_epoch(e)
            for s in range(5):
                time.sleep(0.04)
                bar.advance(1.0, 10)
            bar.finish_epoch(e + 1)
            say(f"epoch {e + 1}/3 summary line")
            time.sleep(0.25)  # several redraws after the line
    with Bar("synth", 4, "frames") as b:
        for i in range(4):
            time.sleep(0.1)
            b.advance()
            say(f"block {i} written")
            time.sleep(0.15)
    with Bar("export onnx fp32", None):
        say("built")
        time.sleep(0.3)
    say("done")
""")


def _screen(script: str) -> list[str]:
    """Run a Python script on a pty (stdout and stderr: the terminal) and return the 80x50 screen it leaves."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "50"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=follower, stdout=follower, stderr=follower,
                            env=env, close_fds=True)
    os.close(follower)
    screen = pyte.Screen(80, 50)
    stream = pyte.ByteStream(screen)
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            proc.kill()
            pytest.fail("the script hung")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower closed: the script ended
            break
        if not chunk:
            break
        stream.feed(chunk)
    proc.wait(timeout=30)
    os.close(leader)
    assert proc.returncode == 0
    return [line.rstrip() for line in screen.display]


def test_lines_printed_under_a_live_bar_stay_on_the_terminal_and_bars_do_not_stack():
    lines = [ln for ln in _screen(SCRIPT) if ln]
    assert lines == ["epoch 1/3 summary line", "epoch 2/3 summary line", "epoch 3/3 summary line",
                     "block 0 written", "block 1 written", "block 2 written", "block 3 written", "built", "done"]


def test_one_eta_per_bar_and_run_eta_never_below_epoch_eta(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("amc.train.progress.time.perf_counter", lambda: now[0])
    p = EpochProgress(True, epochs=4, steps=10)
    p.start_epoch(2)  # a resumed run: two epochs done by an earlier process
    assert p.eta() == (None, None) and "run -:--" in p.status()  # not `0:00` before anything was timed
    now[0] = 3.0
    p.advance(1.0, 64)
    epoch_left, run_left = p.eta()
    assert epoch_left == pytest.approx(27.0) and run_left == pytest.approx(27.0 + 30.0)
    for _ in range(9):
        now[0] += 3.0
        p.advance(1.0, 64)
    now[0] += 10.0  # evaluation and checkpoint
    p.finish_epoch(3)
    p.start_epoch(3)
    now[0] += 1.0  # the last epoch runs fast: the run ETA is still the epoch's, not less
    p.advance(1.0, 64)
    epoch_left, run_left = p.eta()
    assert epoch_left == pytest.approx(9.0) and run_left == pytest.approx(epoch_left)
    tasks = {t.description: t.fields["info"] for t in p.progress.tasks}
    assert [info.count("ETA") for info in tasks.values()] == [1, 1], tasks
    assert len(p.progress.columns) == 4  # description, bar, count, info: no second time-remaining column


def test_progress_writes_nothing_to_stderr_when_it_is_not_a_terminal(tmp_path):
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.splitlines()[0] == "epoch 1/3 summary line"


def test_a_bar_with_unknown_total_shows_a_spinner_and_elapsed_time_only():
    from rich.progress import MofNCompleteColumn, SpinnerColumn, TimeElapsedColumn, TimeRemainingColumn

    from amc.progress import Bar

    unknown = Bar("export onnx fp32", None).progress.columns
    assert any(isinstance(c, SpinnerColumn) for c in unknown) and any(isinstance(c, TimeElapsedColumn) for c in unknown)
    assert not any(isinstance(c, (MofNCompleteColumn, TimeRemainingColumn)) for c in unknown)  # no `0/?`, no ETA
    known = Bar("synth", 10).progress.columns
    assert sum(isinstance(c, TimeRemainingColumn) for c in known) == 1
