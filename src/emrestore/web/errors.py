"""The error the web app answers with: plain words, what to do, and an HTTP status."""

from __future__ import annotations

from ..errors import EMRestoreError


class WebError(EMRestoreError):
    """An error the web app reports to the client with an HTTP status.

    Parameters
    ----------
    status : int
        HTTP status code (4xx for what the client can fix).
    cause, fix : str
        As for :class:`~emrestore.errors.EMRestoreError`.
    headers : dict, optional
        Extra response headers (e.g. ``Retry-After``).
    """

    def __init__(self, status: int, cause: str, fix: str = "", *,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(cause, fix)
        self.status = status
        self.headers = dict(headers or {})
