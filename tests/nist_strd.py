"""The 27 NIST StRD nonlinear regression data sets, for parity tests.

Each ``data/nist_strd/<Name>.dat`` is NIST's file (public domain): a header
with the two starting points, the certified parameters and residual sum of
squares, and the lines that hold the data, then the data (response first).
:data:`MODELS` writes out each data set's model as the header states it, and
:func:`load` returns a :class:`NistProblem` ready for ``leastsq``.
"""
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).parent / "data" / "nist_strd"


def _rational(x, num, den):
    # (num[0] + num[1] x + ...) / (1 + den[0] x + den[1] x^2 + ...)
    top = sum(c * x**k for k, c in enumerate(num))
    bottom = 1.0 + sum(c * x**(k + 1) for k, c in enumerate(den))
    return top / bottom


def _gauss(b, x):
    return (b[0] * np.exp(-b[1] * x) + b[2] * np.exp(-(x - b[3])**2 / b[4]**2)
            + b[5] * np.exp(-(x - b[6])**2 / b[7]**2))


def _lanczos(b, x):
    return b[0] * np.exp(-b[1] * x) + b[2] * np.exp(-b[3] * x) + b[4] * np.exp(-b[5] * x)


def _enso(b, x):
    w = 2.0 * np.pi * x
    return (b[0] + b[1] * np.cos(w / 12) + b[2] * np.sin(w / 12)
            + b[4] * np.cos(w / b[3]) + b[5] * np.sin(w / b[3])
            + b[7] * np.cos(w / b[6]) + b[8] * np.sin(w / b[6]))


def _exponential_decay(b, x):
    return b[0] * (1.0 - np.exp(-b[1] * x))


def _chwirut(b, x):
    return np.exp(-b[0] * x) / (b[1] + b[2] * x)


#: Model of each data set: ``model(b, x)`` (Nelson's x has two rows, and its
#: response is ``log(y)``).
MODELS = {
    "Bennett5": lambda b, x: b[0] * (b[1] + x)**(-1.0 / b[2]),
    "BoxBOD": _exponential_decay,
    "Chwirut1": _chwirut,
    "Chwirut2": _chwirut,
    "DanWood": lambda b, x: b[0] * x**b[1],
    "ENSO": _enso,
    "Eckerle4": lambda b, x: (b[0] / b[1]) * np.exp(-0.5 * ((x - b[2]) / b[1])**2),
    "Gauss1": _gauss,
    "Gauss2": _gauss,
    "Gauss3": _gauss,
    "Hahn1": lambda b, x: _rational(x, b[:4], b[4:]),
    "Kirby2": lambda b, x: _rational(x, b[:3], b[3:]),
    "Lanczos1": _lanczos,
    "Lanczos2": _lanczos,
    "Lanczos3": _lanczos,
    "MGH09": lambda b, x: b[0] * (x**2 + x * b[1]) / (x**2 + x * b[2] + b[3]),
    "MGH10": lambda b, x: b[0] * np.exp(b[1] / (x + b[2])),
    "MGH17": lambda b, x: b[0] + b[1] * np.exp(-x * b[3]) + b[2] * np.exp(-x * b[4]),
    "Misra1a": _exponential_decay,
    "Misra1b": lambda b, x: b[0] * (1.0 - (1.0 + b[1] * x / 2)**(-2)),
    "Misra1c": lambda b, x: b[0] * (1.0 - (1.0 + 2 * b[1] * x)**(-0.5)),
    "Misra1d": lambda b, x: b[0] * b[1] * x * (1.0 + b[1] * x)**(-1),
    "Nelson": lambda b, x: b[0] - b[1] * x[0] * np.exp(-b[2] * x[1]),
    "Rat42": lambda b, x: b[0] / (1.0 + np.exp(b[1] - b[2] * x)),
    "Rat43": lambda b, x: b[0] / (1.0 + np.exp(b[1] - b[2] * x))**(1.0 / b[3]),
    "Roszman1": lambda b, x: b[0] - b[1] * x - np.arctan(b[2] / (x - b[3])) / np.pi,
    "Thurber": lambda b, x: _rational(x, b[:4], b[4:]),
}

NAMES = sorted(MODELS)


@dataclass
class NistProblem:
    name: str
    y: np.ndarray               # the response (log(y) for Nelson)
    x: np.ndarray               # the predictor (two rows for Nelson)
    starts: tuple               # Start 1 and Start 2
    certified: np.ndarray
    certified_rss: float

    def fcn(self, b):
        with np.errstate(all="ignore"):
            return self.y - MODELS[self.name](b, self.x)


def load(name):
    """The data set `name` (a key of MODELS) from its NIST file."""
    lines = (DATA_DIR / f"{name}.dat").read_text().splitlines()
    first, last = map(int, re.search(r"Data\s+\(lines (\d+) to (\d+)\)",
                                     "\n".join(lines[:30])).groups())
    data = np.array([[float(v) for v in line.split()] for line in lines[first - 1:last]])
    params = [line.split() for line in lines if re.match(r"\s*b\d+\s*=", line)]
    # "b1 = start1 start2 certified sd"
    starts = (np.array([float(p[2]) for p in params]), np.array([float(p[3]) for p in params]))
    certified = np.array([float(p[4]) for p in params])
    rss = float(next(line.split(":")[1] for line in lines
                     if line.startswith("Residual Sum of Squares")))
    y, x = data[:, 0], (data[:, 1:].T if data.shape[1] > 2 else data[:, 1])
    if name == "Nelson":
        y = np.log(y)
    return NistProblem(name, y, x, starts, certified, rss)
