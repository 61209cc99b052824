"""The benchmark script's own arithmetic (the timings themselves are not tested)."""
from lmfit_core import bench


def _medians(scale):
    medians = {name: scale * then for name, then in bench.TARGETS_MACHINE_PEERS.items()}
    for name in ("Cython API", "leastsq + LowLevelCallable"):
        medians[f"{name}, lmdif"] = 20e-6
        medians[f"{name}, lmder"] = 12e-6
    return medians


def test_compiled_fit_scaled_to_the_targets_machine(capsys):
    bench._on_targets_machine(_medians(2.0))
    out = capsys.readouterr().out
    assert "the peers took 2.00x" in out
    assert "Cython API: lmdif 10.0 µs, lmder 6.0 µs" in out
    assert "leastsq + LowLevelCallable: lmdif 10.0 µs, lmder 6.0 µs" in out


def test_scale_is_the_median_peer_ratio(capsys):
    medians = _medians(1.5)
    medians["cminpack-numba lmder (numba cfunc)"] *= 10    # one outlier
    bench._on_targets_machine(medians)
    assert "the peers took 1.50x" in capsys.readouterr().out


def test_nothing_scaled_without_the_peers(capsys):
    medians = _medians(1.0)
    for name in bench.TARGETS_MACHINE_PEERS:
        del medians[name]
    bench._on_targets_machine(medians)
    assert capsys.readouterr().out == ""
