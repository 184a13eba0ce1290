"""calibrate repeats its measurement, takes the medians, and warns when they disagree."""

import pytest

import trustchain_lab as tl
from trustchain_lab import calibration
from trustchain_lab.calibration import Calibration, combine, measure
from trustchain_lab.sim import Network


def run(one_way: float, rtt: float) -> Calibration:
    return Calibration(Network(one_way=one_way), {"backend": "redis", "ping_rtt_p50": rtt})


def test_the_network_takes_the_median_of_the_repeats():
    cal = combine([run(1e-4, 3e-4), run(3e-4, 5e-4), run(2e-4, 4e-4)])
    assert cal.network.one_way == pytest.approx(2e-4)
    assert cal.measured["ping_rtt_p50"] == pytest.approx(4e-4)
    assert cal.measured["spread"]["ping_rtt_p50"] == pytest.approx(0.5)
    assert cal.measured["repeats"] == 3


def test_repeats_that_disagree_give_a_warning_naming_the_figure(monkeypatch):
    runs = iter([run(1e-4, 3e-4), run(3e-4, 5e-4), run(2e-4, 4e-4)])

    async def measured_once(*_args):
        return next(runs)

    monkeypatch.setattr(calibration, "_measure", measured_once)
    with pytest.warns(tl.CalibrationWarning, match=r"3 repeats disagree .* ping_rtt_p50 50%"):
        measure("fakeredis", repeats=3)
    quiet = combine([run(1e-4, 4.0e-4), run(1e-4, 4.1e-4)])  # 2.5 %
    assert calibration.spread_warning(quiet) is None


def test_a_real_calibration_reports_its_repeats_and_spread():
    cal = measure("fakeredis", repeats=2)
    assert cal.measured["repeats"] == 2
    assert set(cal.measured["spread"]) >= {"ping_rtt_p50", "client_seconds_per_ping"}
    with pytest.raises(ValueError, match="repeats must be an int >= 1"):
        measure("fakeredis", repeats=0)
