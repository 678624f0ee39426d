"""The BentoML internals this project reaches into still exist in the installed release.

pyproject.toml caps bentoml below the next minor release; this test is what fails loudly,
naming the hook, when an upgrade moves or renames one of them.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

# (module, attribute, what relies on it)
HOOKS = [
    ("bentoml._internal.context", "trace_context", "serving.service: the request id"),
    ("bentoml._internal.context", "server_context", "serving.service: the bento's tag"),
    ("bentoml._internal.marshal.dispatcher", "CorkDispatcher", "serving.batching"),
    ("bentoml._internal.server.http.traffic", "TimeoutMiddleware", "serving.middleware"),
    ("bentoml._internal.bento", "BentoStore", "tests: a private BentoML home"),
    ("bentoml._internal.models", "ModelStore", "tests: a private BentoML home"),
    (
        "bentoml._internal.configuration.containers",
        "BentoMLContainer",
        "tests: a private BentoML home",
    ),
]


@pytest.mark.parametrize(("module", "name", "user"), HOOKS)
def test_bentoml_private_hook_exists(module: str, name: str, user: str) -> None:
    found = getattr(importlib.import_module(module), name, None)
    assert found is not None, f"bentoml no longer has {module}.{name}, which {user} uses"


def test_cork_dispatcher_still_learns_through_log_outbound() -> None:
    from bentoml._internal.marshal.dispatcher import CorkDispatcher

    source = inspect.getsource(CorkDispatcher)
    assert "optimizer" in source and "log_outbound" in source, (
        "serving.batching patches CorkDispatcher.optimizer.log_outbound; it is gone"
    )


def test_trace_context_has_request_id() -> None:
    from bentoml._internal.context import trace_context

    assert hasattr(trace_context, "request_id"), "serving.service reads trace_context.request_id"


def test_timeout_middleware_is_looked_up_by_name_when_the_app_is_built() -> None:
    from bentoml._internal.server import base_app

    source = inspect.getsource(base_app)
    assert "from .http.traffic import TimeoutMiddleware" in source, (
        "serving.middleware.install swaps traffic.TimeoutMiddleware; the app no longer uses it"
    )


def test_uvicorn_protocol_has_what_the_header_timeout_wraps() -> None:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    for method in ("connection_made", "on_response_complete", "connection_lost"):
        assert callable(getattr(H11Protocol, method, None)), f"uvicorn lost {method}"
    source = inspect.getsource(H11Protocol)
    assert "self.cycle = " in source and "self.loop" in source and "self.transport" in source, (
        "serving.middleware.install_header_timeout reads the protocol's cycle, loop, transport"
    )
