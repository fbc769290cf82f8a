"""Scrub secrets out of URLs and free text before they reach a log line or an exception.

Tokens normally travel in headers, which this package never logs. Some providers still put
secrets in the query string (Google API ``key=``, Azure SAS ``sig=``, OAuth ``code=``), and
error bodies or exception texts sometimes echo the request URL back, so both URLs and
arbitrary text are redacted.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import unquote_plus, urlsplit, urlunsplit

REDACTED = "REDACTED"

# Substrings that mark a parameter name as secret wherever they occur ("access_token",
# "client_secret", "x-amz-signature"), and short words that only count as a whole word
# ("key" but not "monkey", "sig" but not "design").
_SECRET_SUBSTRINGS = ("token", "secret", "password", "passwd", "signature", "credential", "apikey")
_SECRET_WORDS = frozenset({"key", "sig", "code", "pwd", "auth", "sas"})
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# name=value pairs inside free text (an echoed URL, a requests exception message).
_TEXT_PAIR = re.compile(r"(?P<name>[A-Za-z0-9_.$\-]+)(?P<eq>=|%3D)(?P<value>[^&\s'\"<>#;,)]+)")
# https://user:password@host
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^/@\s:]*):[^/@\s]*@")
# "Bearer abc..." / "SSWS abc..." that a provider or library might echo back.
# Only credential-like words (16+ chars with a digit), so "Basic authentication" survives.
_AUTH_SCHEME = re.compile(
    r"\b(?P<scheme>Bearer|SSWS|Basic)\s+(?=[A-Za-z0-9._~+/=\-]*\d)[A-Za-z0-9._~+/=\-]{16,}",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Return True if a query parameter called ``name`` probably carries a secret."""
    lowered = name.lower()
    if any(part in lowered for part in _SECRET_SUBSTRINGS):
        return True
    words = _WORD_SPLIT.split(_CAMEL.sub("_", name).lower())
    return any(word in _SECRET_WORDS for word in words)


def redact_url(url: str) -> str:
    """Return ``url`` with secret query values and any userinfo password replaced.

    The rest of the query is kept byte for byte (no re-encoding), so the result still
    reads like the URL that was sent.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_pair(pair: str) -> str:
    name, sep, _value = pair.partition("=")
    if sep and is_secret_name(unquote_plus(name)):
        return f"{name}={REDACTED}"
    return pair


def redact_text(text: str) -> str:
    """Redact secret-looking ``name=value`` pairs, URL passwords and auth schemes in free text."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m['scheme']} {REDACTED}", text)

    def _pair(match: re.Match[str]) -> str:
        if is_secret_name(unquote_plus(match["name"])):
            return f"{match['name']}{match['eq']}{REDACTED}"
        return match.group(0)

    return _TEXT_PAIR.sub(_pair, text)


class RedactingFilter(logging.Filter):
    """Logging filter that redacts a record's rendered message in place.

    urllib3 logs every request line ("GET /path?query") at DEBUG, so a run with debug
    logging would otherwise write query-string secrets to the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's problem, not ours
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg = redacted
            record.args = ()
        return True


_installed_lock = threading.Lock()
_installed: set[str] = set()


def install_log_redaction(logger_names: tuple[str, ...] = ("urllib3.connectionpool",)) -> None:
    """Attach a :class:`RedactingFilter` to third-party loggers that print request URLs (idempotent)."""
    with _installed_lock:
        for name in logger_names:
            if name not in _installed:
                logging.getLogger(name).addFilter(RedactingFilter())
                _installed.add(name)
