"""The examples of the docstrings and of the usage guide run and print what they show."""
import doctest
from pathlib import Path

import pytest

import lmfit_core._leastsq
import lmfit_core._patch
import lmfit_core._problems
import lmfit_core.batch
import lmfit_core.dask

DOCS = Path(__file__).resolve().parent.parent / "docs"
FLAGS = doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("module", [lmfit_core._leastsq, lmfit_core.batch, lmfit_core.dask,
                                    lmfit_core._patch, lmfit_core._problems],
                         ids=lambda module: module.__name__)
def test_docstring_examples(module):
    failures, tried = doctest.testmod(module, optionflags=FLAGS)
    assert tried > 0
    assert failures == 0


def test_usage_guide_examples():
    failures, tried = doctest.testfile(str(DOCS / "usage.rst"), module_relative=False,
                                       optionflags=FLAGS)
    assert tried > 0
    assert failures == 0
