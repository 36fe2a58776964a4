"""The lineage page in the Airflow UI: a FastAPI app the plugin mounts under ``/lineage``.

The app is built on its first request (:class:`LazyApp`), so importing the plugin in a
task process never imports FastAPI. See :mod:`airflow_lineage.ui.app` for the routes and
the authorisation rules.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["URL_PREFIX", "LazyApp", "lineage_app"]

URL_PREFIX = "/lineage"
"""Where the plugin mounts the app in the Airflow API server."""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LazyApp:
    """An ASGI app that builds :func:`airflow_lineage.ui.app.create_app` on first use."""

    def __init__(self) -> None:
        self._app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        self._lock = threading.Lock()

    def get(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """Return the FastAPI app, building it once."""
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from airflow_lineage.ui.app import create_app

                    self._app = create_app()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.get()(scope, receive, send)

    def __repr__(self) -> str:
        return "airflow_lineage.ui.app"


lineage_app = LazyApp()
"""The app the plugin mounts."""
