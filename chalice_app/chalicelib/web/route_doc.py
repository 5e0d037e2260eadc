"""What a route answers, declared beside it in app.py, and its path parameters validated.

``@describe`` sits under ``@api.endpoint``: the API document (chalicelib/web/openapi.py) reads
these facts from the route table, and path parameters are parsed with the same id types as
bodies and query strings before the route's function runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.models import RequestModel, ResponseModel
from chalicelib.web.validation import validate


@dataclass(frozen=True)
class RouteDoc:
    # success status -> the ``data`` of the envelope
    responses: dict[int, type[ResponseModel]]
    # error codes decided by the use case (the models, authentication and idempotency
    # contribute their own codes; the document adds them)
    errors: tuple[str, ...] = ()
    path: type[RequestModel] | None = None


def describe(
    *,
    responses: dict[int, type[ResponseModel]],
    errors: tuple[str, ...] = (),
    path: type[RequestModel] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach a ``RouteDoc``; with ``path``, call ``fn(call, <validated path model>)``."""
    doc = RouteDoc(responses, errors, path)

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        if path is None:
            wrapped = fn
        else:

            @functools.wraps(fn)
            def wrapped(call: Any) -> Any:
                return fn(call, validate(path, call.params))

        # A function attribute: the doc travels with the view that chalice registers.
        wrapped.route_doc = doc  # type: ignore[attr-defined]
        return wrapped

    return decorator


def doc_of(view: Callable[..., Any]) -> RouteDoc:
    doc = getattr(view, "route_doc", None)
    if not isinstance(doc, RouteDoc):
        raise LookupError(f"route {view.__name__} has no @describe")
    return doc
