"""The composition root hands the web layer use cases only, built lazily."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from typing import get_type_hints

import chalicelib.services
from chalicelib.container import Container, Services
from chalicelib.settings import get_settings
from payments_admin.stack import APP_DIR


def _service_classes() -> dict[str, type]:
    """Every class defined in chalicelib.services, by name."""
    classes: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(chalicelib.services.__path__):
        module = importlib.import_module(f"chalicelib.services.{module_info.name}")
        classes.update(
            (name, value)
            for name, value in vars(module).items()
            if isinstance(value, type) and value.__module__ == module.__name__
        )
    return classes


def test_services_expose_use_cases_only(in_process_aws: None) -> None:
    container = Container(get_settings())
    services = container.services
    names = [name for name in dir(Services) if not name.startswith("_")]
    assert {"charges", "refunds", "tokens"} <= set(names)
    classes = _service_classes()
    for name in names:
        attribute = inspect.getattr_static(Services, name)
        assert isinstance(attribute, property), name
        declared = get_type_hints(attribute.fget, localns=classes)["return"]
        assert declared.__module__.startswith("chalicelib.services."), (name, declared)
        assert isinstance(getattr(services, name), declared), name
    # No instance attributes: nothing but the properties above is reachable from a route.
    assert not hasattr(services, "__dict__")
    # One pipeline wiring, sharing the authorizer's Authenticator (its reuse cache).
    assert container.pipeline_deps is container.pipeline_deps
    assert container.pipeline_deps.authenticator is container.authenticator


def test_the_web_wiring_loads_no_bank_or_kms_code() -> None:
    """What every request builds (the pipeline's dependencies and the facade) imports
    neither the bank client nor the card vault: the authorizer's cold start stays small."""
    code = (
        "import sys\n"
        "from chalicelib.container import Container\n"
        "c = Container()\n"
        "c.pipeline_deps, c.services\n"
        "print(sorted(m for m in sys.modules if m.endswith(('bank_client', 'card_vault'))))\n"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=APP_DIR, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
