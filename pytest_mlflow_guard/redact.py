"""The one redaction policy: what is masked before anything leaves the process. Standard library.

Every output goes through here: run tags and params, logged artifacts, every report format,
pytest's terminal, error messages. One policy, three rules:

1. **URLs** lose their user info (``https://user:token@host`` -> ``https://host``) and the values
   of secret-looking query parameters (``?sig=...`` -> ``?sig=***``). Works on any text, so a URL
   inside an exception message is cleaned too, and never raises on a malformed URL.
2. **Secret-looking names** mask their value: ``--password X``, ``--password=X``,
   ``--password:X``, ``db.password=X`` (Hydra-style overrides), a param or tag called
   ``api_key``, an ``Authorization:`` header. A name is secret-looking when one of its words
   (split at ``-``, ``_``, ``.``, ``/`` and lower-to-upper case changes) is one of
   :data:`SECRET_WORDS`, contains one of :data:`SECRET_PARTS` or ends in ``token``. Masking a
   value by mistake is the safe mistake, but it costs a replay its argument, so names that
   merely mention tokens (``tokenizer``, ``max_tokens``) or keys (``keyword``) keep theirs.
3. **Environment variables** are never recorded at all (nothing here reads them).

What is masked becomes ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = [
    "MASK",
    "SECRET_PARTS",
    "SECRET_SUFFIXES",
    "SECRET_WORDS",
    "is_secret_name",
    "redact_args",
    "redact_mapping",
    "redact_text",
]

MASK = "***"

#: a name with one of these words (in any case) names a secret
SECRET_WORDS = frozenset(
    {
        "auth",
        "authorization",
        "bearer",
        "cookie",
        "key",
        "oauth",
        "pass",
        "passcode",
        "passwd",
        "pat",
        "pwd",
        "sig",
        "token",
    }
)
#: ...and so does a word containing one of these (``dbpassword``, ``clientsecret``, ``apikey``)
SECRET_PARTS = ("passw", "passphrase", "secret", "credential", "apikey", "privatekey")
#: ...or ending in one (``hftoken``, ``accesstoken``); ``tokenizer`` and ``max_tokens`` are not
SECRET_SUFFIXES = ("token",)

_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def is_secret_name(name: str) -> bool:
    """Whether ``name`` (an option, param, tag or query key) names a secret."""
    for word in _WORD_SPLIT.split(name):
        lowered = word.lower()
        if (
            lowered in SECRET_WORDS
            or any(part in lowered for part in SECRET_PARTS)
            or lowered.endswith(SECRET_SUFFIXES)
        ):
            return True
    return False


# scheme://userinfo@ : userinfo is anything up to an '@' before the host part ends
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")
# ?key=value or &key=value inside a URL
_QUERY_ITEM = re.compile(r"(?P<lead>[?&;])(?P<key>[^=&#;\s?]+)=(?P<value>[^&#;\s]*)")
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://\S+")
# "Authorization: Bearer abc" / "authorization=Basic xyz" in a message
_AUTH_HEADER = re.compile(
    r"(?i)\b(?P<key>(?:proxy-)?authorization|x-[a-z-]*token|cookie)(?P<sep>\s*[:=]\s*)"
    r"(?:(?P<scheme>bearer|basic|token|digest)\s+)?(?P<value>[^\s,;'\")\]}]+)"
)
_BEARER = re.compile(r"(?i)\b(?P<scheme>bearer)\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})")
# name=value inside free text (DSN fragments, "password=..." in an error message)
_ASSIGNMENT = re.compile(r"(?P<key>[A-Za-z_][\w.-]*)(?P<sep>=)(?P<value>[^\s&;,'\"]+)")


def _mask_query(url: str) -> str:
    def item(match: re.Match[str]) -> str:
        if is_secret_name(match["key"]) and match["value"]:
            return f"{match['lead']}{match['key']}={MASK}"
        return match[0]

    return _QUERY_ITEM.sub(item, url) if "?" in url else url


def redact_text(text: str) -> str:
    """``text`` with credentials removed from every URL in it and secret values masked.

    Never raises, whatever the input (a malformed ``http://u:p@[::1`` included).
    """
    if not text:
        return text
    text = _USERINFO.sub(r"\g<scheme>", text)
    if "?" in text:
        text = _URL.sub(lambda m: _mask_query(m[0]), text)
    text = _AUTH_HEADER.sub(
        lambda m: f"{m['key']}{m['sep']}{m['scheme'] + ' ' if m['scheme'] else ''}{MASK}", text
    )
    text = _BEARER.sub(lambda m: f"{m['scheme']} {MASK}", text)
    if "=" in text:
        text = _ASSIGNMENT.sub(
            lambda m: (
                f"{m['key']}={MASK}" if is_secret_name(m["key"]) and m["value"] != MASK else m[0]
            ),
            text,
        )
    return text


# --name=value, --name:value, -name=value; name=value, +name=value, ++name=value, ~name=value
_OPTION_WITH_VALUE = re.compile(r"^(?P<key>-{1,2}[^=:\s]+)(?P<sep>[=:])(?P<value>.*)$", re.S)
_OVERRIDE = re.compile(r"^(?P<key>[+~]{0,2}[A-Za-z_][\w./-]*)(?P<sep>=)(?P<value>.*)$", re.S)
_BARE_OPTION = re.compile(r"^-{1,2}[A-Za-z][\w.-]*$")


def redact_args(args: Iterable[str]) -> list[str]:
    """A command line with secret values masked (rule 2) and URLs cleaned (rule 1).

    ``--password X`` masks ``X`` unless it is itself an option (``--password --epochs 3`` is a
    switch followed by another option).
    """
    out: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            hide_next = False
            if not arg.startswith("--"):
                out.append(MASK)
                continue
        match = _OPTION_WITH_VALUE.match(arg) or _OVERRIDE.match(arg)
        if match is not None and is_secret_name(match["key"]):
            out.append(f"{match['key']}{match['sep']}{MASK}")
            continue
        if _BARE_OPTION.match(arg) and is_secret_name(arg):
            hide_next = True
            out.append(arg)
            continue
        out.append(redact_text(arg))
    return out


def redact_mapping(values: Mapping[str, str]) -> dict[str, str]:
    """Tags or params as they may be recorded: a secret-looking key keeps its name, not its
    value; every value is cleaned of URL credentials."""
    return {
        key: MASK if is_secret_name(key) and value else redact_text(value)
        for key, value in values.items()
    }
