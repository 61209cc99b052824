"""Shared pytest configuration for the kernel tests.

* Hypothesis profiles: ``ci`` (the default: deterministic, no deadline, 60
  examples) and ``dev`` (more, randomised examples for local bug hunting).
  Select one with the ``HYPOTHESIS_PROFILE`` environment variable.
* The tests directory goes on ``sys.path`` so that, under
  ``--import-mode=importlib`` and without a ``tests/__init__.py``, the test
  modules can ``from kernel_helpers import ...``.
"""
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=60,
    derandomize=True,
    print_blob=True,
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=500,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    """A fixed-seed NumPy generator, fresh for every test."""
    return np.random.default_rng(12345)
