"""Fixtures for the security tests: the integration fixtures (redis_server,
start_worker, worker, jobs, prefix) and helpers (Worker, Jobs, wait_until,
...), loaded from tests/integration/conftest.py under their own module
name, sandq_integration_conftest, and re-exported here. Whichever of the
two conftest modules pytest last imported as `conftest`, `from conftest
import X` works for both directories; the security tests themselves import
from sandq_integration_conftest and canaries.py, never from `conftest`.

Environment: SANDQ_BUILD and TEST_PREFIX, as for the integration tests.
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), "integration")


def _load_integration_conftest():
    name = "sandq_integration_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(INTEGRATION, "conftest.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_load_integration_conftest()
# The fixtures (pytest finds them in this module's namespace) and helpers.
from sandq_integration_conftest import *  # noqa: E402,F401,F403
