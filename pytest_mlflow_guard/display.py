"""Strings from a tracking store, made safe to show a person. Standard library only.

Run, experiment and model names, tag values and error messages come from whoever can write to
the store. Every human-facing output (the text report, pytest's terminal and teardown errors,
warnings, CLI messages, the reproduce report) passes them through :func:`clean`, so that

* no control or invisible formatting character reaches a terminal: ESC and OSC sequences,
  carriage returns, bidi overrides and zero-width characters are shown as ``\\x1b``-style
  escapes;
* a store string is always one line: a newline cannot start a line of its own, say with
  ``::error::`` that a CI runner would read as a command;
* GitHub's legacy ``##[command]`` form, accepted anywhere in a line, and a ``::`` at the start
  of a line are neutralised (``#\\x23[`` and ``\\x3a:``);
* credentials are masked (:mod:`.redact`).

Applying it twice changes nothing.
"""

from __future__ import annotations

from pytest_mlflow_guard.redact import redact_text

__all__ = ["clean", "one_line", "printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: str, keep: str = "") -> str:
    """``text`` with every character that is not printable (controls, format characters, line
    separators) escaped, except those in ``keep``."""
    if text.isprintable():  # the fast path: C speed for the usual, plain string
        return text
    return "".join(c if c == " " or c in keep or c.isprintable() else _escape(c) for c in text)


def one_line(text: str) -> str:
    """``text`` printable on one line, with CI workflow commands neutralised."""
    text = printable(text)
    if "##[" in text:
        text = text.replace("##[", "#\\x23[")
    stripped = text.lstrip()
    if stripped.startswith("::"):
        text = text[: len(text) - len(stripped)] + "\\x3a" + stripped[1:]
    return text


def clean(value: object) -> str:
    """A store string (or anything with a ``str``) as it may be shown: redacted, one line."""
    return one_line(redact_text(str(value)))
