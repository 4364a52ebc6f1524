"""The suite's own harness: a forked pytester session is the process pytester would start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prefork import Zygote

FACTS = """
import inspect, json, os, random, sys, sysconfig

def test_facts():
    stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"])
    code_below = [f.filename for f in inspect.stack()
                  if not f.filename.startswith(("<", *stdlib)) and f.filename != __file__]
    facts = {"path": sys.path, "argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ),
             "stdin": sys.stdin.read(), "code_below": code_below, "random": random.random(),
             "pid": os.getpid()}
    with open(os.environ["FACTS_FILE"], "w") as out:
        json.dump(facts, out)
    assert os.environ.get("FAIL") != "1"
"""


def _run(
    pytester: pytest.Pytester, start: Any, name: str, **env: str
) -> tuple[int, dict[str, Any]]:
    facts = pytester.path / f"{name}.json"
    environment = {**os.environ, "PYTHONPATH": str(pytester.path), "FACTS_FILE": str(facts), **env}
    args = (sys.executable, "-mpytest", "-s", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    with (pytester.path / f"{name}.out").open("w") as out:
        process = start(args, environment, out)
        code = process.wait(timeout=120)
    return code, json.loads(facts.read_text())


def test_a_forked_session_is_the_process_pytester_would_start(
    pytester: pytest.Pytester, _zygote: Zygote
) -> None:
    pytester.makepyfile(test_facts=FACTS)

    def fresh(args: tuple[str, ...], env: dict[str, str], out: Any) -> Any:
        return subprocess.Popen(args, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)

    def forked(args: tuple[str, ...], env: dict[str, str], out: Any) -> Any:
        return _zygote.spawn(args, env, out, out)

    fresh_code, expected = _run(pytester, fresh, "fresh", FAIL="1")
    forked_code, seen = _run(pytester, forked, "forked", FAIL="1")
    _, again = _run(pytester, forked, "again")
    assert (forked_code, fresh_code) == (1, 1)
    for key in ("path", "argv", "cwd", "stdin", "code_below"):
        assert seen[key] == expected[key], key
    assert {k: v for k, v in seen["env"].items() if k != "FACTS_FILE"} == {
        k: v for k, v in expected["env"].items() if k != "FACTS_FILE"
    }
    # each session is its own process, with its own random state
    assert len({seen["pid"], again["pid"], os.getpid()}) == 3
    assert seen["random"] != again["random"]


def test_a_forked_session_reports_signals_and_times_out(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_ends="""
        import os, signal, time

        def test_ends():
            if os.environ.get("END") == "signal":
                os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(60)
        """
    )
    with monkeypatch.context() as patch:
        patch.setenv("END", "signal")
        assert pytester.runpytest_subprocess(timeout=60).ret == -15
    with pytest.raises(pytester.TimeoutExpired):
        pytester.runpytest_subprocess(timeout=3)


def test_a_zygote_that_cannot_start_sends_sessions_to_a_new_interpreter(tmp_path: Path) -> None:
    zygote = Zygote(tmp_path, heavy=("no_such_module_anywhere",))
    with (tmp_path / "out").open("w") as out:
        assert zygote.spawn((sys.executable, "-mpytest"), dict(os.environ), out, out) is None
    zygote.close()
    assert "No module named 'no_such_module_anywhere'" in (tmp_path / "zygote.log").read_text()
