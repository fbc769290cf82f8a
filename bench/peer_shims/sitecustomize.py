"""Moto shims for the peer benchmark, loaded by every scanner (Annexa included) through PYTHONPATH.

Two workarounds, both for emulator artefacts and not for anything a real AWS account does:

1. S3 Control (account-level public access block) is addressed at `<account-id>.<endpoint host>`;
   with the emulator on 127.0.0.1 that name does not resolve. `<12 digits>.127.0.0.1` is resolved to
   127.0.0.1, as a private hosts-file entry would.
2. ScoutSuite asks EC2 DescribeRegions with an `opt-in-status` filter, which moto ignores (it omits
   `OptInStatus` from the answer); ScoutSuite then drops every region as "not opted in" and scans no
   regional service. When `ANNEXA_SHIM_OPTIN=1`, regions without `OptInStatus` in a DescribeRegions
   answer get `opt-in-not-required` (what AWS says for the default regions), so ScoutSuite keeps them.

Loaded only when the benchmark puts this directory on PYTHONPATH; nothing in Annexa imports it.
"""

from __future__ import annotations

import os
import re
import socket

_ACCOUNT_HOST = re.compile(r"^\d{12}\.(127\.0\.0\.1)$")
_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    match = _ACCOUNT_HOST.match(host) if isinstance(host, str) else None
    return _real_getaddrinfo(match.group(1) if match else host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo


def _add_opt_in(parsed=None, model=None, **_):  # type: ignore[no-untyped-def]
    if getattr(model, "name", "") != "DescribeRegions" or not isinstance(parsed, dict):
        return
    for region in parsed.get("Regions") or []:
        region.setdefault("OptInStatus", "opt-in-not-required")


if os.environ.get("ANNEXA_SHIM_OPTIN") == "1":
    try:
        import botocore.session as _bs

        _original_init = _bs.Session.__init__

        def _init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            _original_init(self, *args, **kwargs)
            self.register("after-call.ec2.DescribeRegions", _add_opt_in)

        _bs.Session.__init__ = _init
    except ImportError:  # a peer without botocore: nothing to patch
        pass
