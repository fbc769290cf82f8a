"""Public entry point of the shared HTTP client: ``from agent.http import HttpClient, HttpError``.

The implementation lives in :mod:`agent.httpclient`; this module only re-exports its public names.
"""

from agent.httpclient import *  # noqa: F403
from agent.httpclient import __all__  # noqa: F401
