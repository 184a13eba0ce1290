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


def test_client_cpu_is_priced_so_the_model_spends_what_the_real_clients_spent():
    """The fit on the repeats' median CPU figures: the model, run on the two calibration
    scenarios with the fitted prices, uses the CPU per request that was measured."""
    from trustchain_lab.sim_runner import run_sim

    measured = {
        "backend": "redis",
        "client_cpu_per_request_saturated": 800e-6,
        "client_cpu_per_request_sequential": 1900e-6,
    }
    fitted = calibration._fit_client_cpu(Calibration(Network(), measured))
    net = fitted.network
    assert net.client_cost == fitted.measured["client_seconds_per_op_by_cpu"] > 0
    assert net.wake == fitted.measured["client_seconds_per_wake"] > 0
    for sc, name in zip(calibration._cpu_scenarios(), ("saturated", "sequential"), strict=True):
        ops, wakes = calibration._counts(run_sim(sc, net, progress=False))
        model_cpu = (ops * net.client_cost + wakes * net.wake) / sc.requests
        assert model_cpu == pytest.approx(measured[f"client_cpu_per_request_{name}"], rel=0.02)


def test_client_cpu_prices_that_spread_over_the_repeats_are_warned_about():
    def priced(wake: float, saturated: float) -> Calibration:
        return Calibration(
            Network(),
            {
                "ping_rtt_p50": 1e-4,
                "client_seconds_per_op_by_cpu": 50e-6,
                "client_seconds_per_wake": wake,
                "client_seconds_per_ping": 1e-4 * wake / 200e-6,  # not a price here
                "client_cpu_per_request_saturated": saturated,
            },
        )

    noisy = combine([priced(140e-6, 7e-4), priced(260e-6, 9e-4), priced(200e-6, 8e-4)])
    warning = calibration.spread_warning(noisy)
    assert "client_seconds_per_wake 60%" in warning  # (260 - 140) / 200
    assert "client_seconds_per_ping" not in warning and "saturated" not in warning
    steady = combine([priced(200e-6, 7e-4), priced(205e-6, 9e-4)])  # raw CPU: not a price
    assert calibration.spread_warning(steady) is None
