"""The protocol core alone: scripted inputs in, exact commands out. No Redis, no SimPy."""

import subprocess
import sys

import pytest

from trustchain_lab.protocol import (
    Action,
    Close,
    Final,
    Kind,
    MemoryClaims,
    Note,
    Pop,
    ReadLength,
    Reason,
    SetTimer,
    Timer,
    register,
    variant,
    variant_names,
    variants,
)


def make(name: str, **kw):
    return variant(name)(**{"probe_window": 0.5, "deadline": 2.0, **kw})


def received(worker):
    return Note(Kind.PARTIAL_RECEIVED, None, worker)


def test_seed_pops_once_per_reply_and_answers_when_the_list_is_empty():
    c = make("seed")
    assert c.published(3) == [SetTimer(Timer.PROBE, 0.5), SetTimer(Timer.DEADLINE, 2.0)]
    assert c.partial("a", "A") == [received("a"), Pop("a", seal=False)]
    assert c.partial("b", "B") == []  # a pop is in flight: the reply waits
    assert c.counted(1) == [Note(Kind.POP, 1), received("b"), Pop("b", seal=False)]
    assert c.counted(0) == [
        Note(Kind.POP, 0),
        Final(Reason.CLAIMS_DRAINED),
        Close(),
    ]
    assert c.done and c.reason is Reason.CLAIMS_DRAINED and c.accepted == ["A", "B"]
    assert c.partial("c") == [Note(Kind.PARTIAL_LATE, None, "c")]
    assert c.timer(Timer.DEADLINE) == []  # a timer after the answer does nothing


def test_seed_answers_empty_when_the_probe_reads_zero():
    c = make("seed")
    c.published(1)
    assert c.timer(Timer.PROBE) == [ReadLength(Kind.PROBE, seal=False)]
    assert c.counted(0) == [
        Note(Kind.PROBE, 0),
        Final(Reason.PROBE_EMPTY),
        Close(),
    ]


def test_a_probe_that_reads_claims_keeps_waiting_and_is_not_repeated():
    c = make("seed")
    c.published(1)
    c.timer(Timer.PROBE)
    assert c.counted(2) == [Note(Kind.PROBE, 2)]
    assert not c.done and c.timer(Timer.PROBE) == []


def test_timers_that_fire_during_a_round_trip_wait_for_its_answer_replies_first():
    c = make("seed")
    c.published(2)
    c.partial("a")
    assert c.timer(Timer.PROBE) == [] and c.timer(Timer.DEADLINE) == []
    c.partial("b")
    # the pop answered: the queued reply is taken first, its pop goes out
    assert c.counted(1) == [Note(Kind.POP, 1), received("b"), Pop("b", seal=False)]
    # then the deadline that came due meanwhile ends the request
    assert c.counted(1) == [Note(Kind.POP, 1), Final(Reason.DEADLINE), Close()]


def test_a_probe_due_during_a_round_trip_runs_after_it():
    c = make("seed")
    c.published(2)
    c.partial("a")
    assert c.timer(Timer.PROBE) == []
    assert c.counted(1) == [Note(Kind.POP, 1), ReadLength(Kind.PROBE, seal=False)]


def test_replies_before_the_broadcast_returned_wait_for_it():
    c = make("seed")
    assert c.partial("a", "A") == []
    assert c.published(1) == [
        SetTimer(Timer.PROBE, 0.5),
        SetTimer(Timer.DEADLINE, 2.0),
        received("a"),
        Pop("a", seal=False),
    ]


def test_a_second_reply_of_one_worker_is_dropped_in_every_variant():
    for name in variant_names():
        c = make(name, expect=3) if variant(name).needs_expect else make(name)
        c.published(3)
        c.partial("a")
        assert c.partial("a") == [Note(Kind.PARTIAL_DUPLICATE, None, "a")], name
        assert len(c.accepted) == 1


def test_sealed_seals_with_the_read_that_ends_the_request():
    c = make("sealed")
    c.published(1)
    assert c.partial("a") == [received("a"), Pop("a", seal=True)]
    assert c.counted(0) == [Note(Kind.POP, 0), Final(Reason.CLAIMS_DRAINED)]  # no DEL needed
    p = make("sealed")
    p.published(1)
    assert p.timer(Timer.PROBE) == [ReadLength(Kind.PROBE, seal=True)]
    assert p.counted(0) == [Note(Kind.PROBE, 0), Final(Reason.PROBE_EMPTY)]


def test_sealed_deletes_and_seals_at_the_deadline():
    c = make("sealed")
    c.published(1)
    assert c.timer(Timer.DEADLINE) == [Close(), Final(Reason.DEADLINE)]  # closed first


def test_grace_waits_and_looks_again_before_answering():
    c = make("seed", grace=0.05)
    c.published(2)
    c.partial("a")
    assert c.counted(0) == [Note(Kind.POP, 0), SetTimer(Timer.GRACE, 0.05, 1)]
    assert c.timer(Timer.GRACE, 1) == [ReadLength(Kind.RECHECK, seal=False)]
    # a late claimer showed up in time: keep waiting for its reply
    assert c.counted(1) == [Note(Kind.RECHECK, 1)]
    assert c.partial("b") == [received("b"), Pop("b", seal=False)]
    assert c.counted(0) == [Note(Kind.POP, 0), SetTimer(Timer.GRACE, 0.05, 2)]
    assert c.timer(Timer.GRACE, 1) == []  # the first period's timer is stale
    assert c.timer(Timer.GRACE, 2) == [ReadLength(Kind.RECHECK, seal=False)]
    assert c.counted(0) == [
        Note(Kind.RECHECK, 0),
        Final(Reason.CLAIMS_DRAINED),
        Close(),
    ]


def test_a_reply_during_the_grace_period_cancels_it():
    c = make("seed", grace=0.05)
    c.published(2)
    c.partial("a")
    c.counted(0)
    assert c.partial("b") == [received("b"), Pop("b", seal=False)]
    assert c.timer(Timer.GRACE, 1) == []
    assert c.timer(Timer.PROBE) == []  # pop in flight: the probe waits
    assert c.counted(0) == [Note(Kind.POP, 0), SetTimer(Timer.GRACE, 0.05, 2)]


def test_the_probe_is_skipped_during_a_grace_period_and_sealed_seals_at_the_recheck():
    c = make("sealed", grace=0.05)
    c.published(1)
    assert c.partial("a") == [received("a"), Pop("a", seal=False)]  # with grace, the pop can't seal
    c.counted(0)
    assert c.timer(Timer.PROBE) == []
    assert c.timer(Timer.GRACE, 1) == [ReadLength(Kind.RECHECK, seal=True)]
    assert c.counted(0) == [Note(Kind.RECHECK, 0), Final(Reason.CLAIMS_DRAINED)]


def test_known_waits_for_the_expected_replies_declines_included():
    c = make("known", expect=2)
    assert c.published(7) == [SetTimer(Timer.DEADLINE, 2.0)]  # no probe; receivers ignored
    assert c.partial("a", "decline") == [received("a")]
    assert c.partial("b", "B") == [received("b"), Final(Reason.ALL_REPLIED)]
    assert c.accepted == ["decline", "B"]


def test_ack_expects_the_receivers_the_bus_reported():
    c = make("ack")
    assert c.published(2) == [SetTimer(Timer.DEADLINE, 2.0)]
    assert c.partial("a") == [received("a")]
    assert c.timer(Timer.PROBE) == []  # ack never set one
    assert c.partial("b") == [received("b"), Final(Reason.ALL_REPLIED)]
    nobody = make("ack")
    assert nobody.published(0) == [Final(Reason.NO_RECEIVERS)]
    silent = make("ack")
    silent.published(1)
    assert silent.timer(Timer.DEADLINE) == [Final(Reason.DEADLINE)]


def test_replies_queued_at_the_answer_are_late():
    c = make("seed")
    c.published(3)
    c.partial("a")
    c.partial("b")  # waits: a's pop is in flight
    assert c.counted(0) == [  # a's pop emptied the list: b's claim came after it
        Note(Kind.POP, 0),
        Final(Reason.CLAIMS_DRAINED),
        Note(Kind.PARTIAL_LATE, None, "b"),
        Close(),
    ]


def test_a_reply_in_hand_when_the_grace_recheck_reads_zero_is_taken_not_dropped():
    c = make("seed", grace=0.05)
    c.published(2)
    c.partial("a", "A")
    c.counted(0)
    assert c.timer(Timer.GRACE, 1) == [ReadLength(Kind.RECHECK, seal=False)]
    assert c.partial("b", "B") == []  # arrives while the recheck is in flight
    assert c.counted(0) == [Note(Kind.RECHECK, 0), received("b"), Pop("b", seal=False)]
    assert c.accepted == ["A", "B"] and not c.done


@pytest.mark.parametrize(
    ("name", "yes", "no", "seals"),
    [
        ("seed", Action.CLAIM, Action.NOTHING, False),
        ("known", Action.WORK, Action.DECLINE, False),
        ("sealed", Action.CLAIM, Action.NOTHING, True),
        ("ack", Action.WORK, Action.DECLINE, False),
    ],
)
def test_worker_side_rules(name, yes, no, seals):
    kind = variant(name)
    assert (kind.on_interest(True), kind.on_interest(False), kind.seals) == (yes, no, seals)


def test_the_registry_lists_every_variant_with_its_guarantee():
    listed = variants()
    assert [v.name for v in listed] == ["seed", "known", "sealed", "ack"]
    assert all(v.guarantee for v in listed)
    assert {v.name for v in listed if v.grace} == {"seed", "sealed"}
    with pytest.raises(ValueError, match="unknown variant 'nope'; choose from seed, known"):
        variant("nope")
    with pytest.raises(ValueError, match="taken"):
        register(variant("seed"))


@pytest.mark.parametrize(
    ("name", "kw", "message"),
    [
        ("seed", {"probe_window": 0}, "probe_window must be"),
        ("seed", {"deadline": float("inf")}, "deadline must be"),
        ("seed", {"deadline": 86_401}, "deadline must be at most 86400 seconds"),
        ("seed", {"grace": -1}, "grace must be"),
        ("known", {"grace": 0.1, "expect": 1}, "grace does not apply"),
        ("ack", {"grace": 0.1}, "grace does not apply"),
        ("known", {}, "needs expect >= 1"),
        ("known", {"expect": 0}, "needs expect >= 1"),
        ("seed", {"expect": 3}, "takes no expect"),
    ],
)
def test_bad_timing_is_refused_with_one_line(name, kw, message):
    with pytest.raises(ValueError, match=message):
        make(name, **kw)


def test_an_answer_with_nothing_in_flight_is_a_bug_not_an_input():
    c = make("seed")
    c.published(1)
    with pytest.raises(RuntimeError, match="no claim-list command in flight"):
        c.counted(0)


def test_memory_claims_follow_the_scripts_semantics():
    m = MemoryClaims()
    assert not m.claim("r", "a", check_open=True)  # not broadcast yet: refused
    m.open("r")
    assert m.claim("r", "a", check_open=True) and m.claim("r", "b", check_open=True)
    assert m.claim("r", "b", check_open=True) and m.lists["r"] == ["a", "b"]  # once each
    assert m.pop("r", "b", seal=True) == 1  # the replier's own claim goes
    assert m.pop("r", "b", seal=True) == -1  # not there (twice, or never claimed)
    assert m.pop("r", "a", seal=True) == 0 and "r" not in m.opened and "r" not in m.lists
    assert not m.claim("r", "c", check_open=True)  # refused: sealed
    assert m.claim("r", "c", check_open=False)  # the seed ignores it: the list is recreated
    assert m.length("r", seal=False) == -1  # closed: whatever the list says, it is not ours
    m.open("q")
    assert m.length("q", seal=True) == 0 and "q" not in m.opened
    m.open("d")
    m.claim("d", "x", check_open=False)
    m.claim("d", "y", check_open=False)
    assert m.close("d") == ["x", "y"] and "d" not in m.opened and "d" not in m.lists


def test_a_vanished_claim_list_ends_the_request_with_lost_claims():
    for name in ("seed", "sealed"):
        c = make(name)
        c.published(1)
        c.partial("a")
        out = c.counted(-1)
        assert out[0] == Note(Kind.POP, -1) and Final(Reason.LOST_CLAIMS) in out
        assert c.done and c.reason is Reason.LOST_CLAIMS
        assert out.index(Close()) == (2 if name == "seed" else 1)  # sealed closes first
        p = make(name)
        p.published(1)
        p.timer(Timer.PROBE)
        assert Final(Reason.LOST_CLAIMS) in p.counted(-1)  # never "probe_empty"


def test_a_round_trip_abandoned_at_the_deadline_answers_with_what_is_in():
    c = make("sealed")
    c.published(2)
    c.partial("a", "A")
    assert c.abandon() == [Close(), Final(Reason.DEADLINE)]
    assert c.accepted == ["A"]
    with pytest.raises(RuntimeError, match="no claim-list command in flight"):
        make("seed").abandon()


def test_the_core_and_the_chain_load_no_heavy_dependency():
    code = (
        "import sys, importlib; importlib.import_module(sys.argv[1]); "
        "print(' '.join(m for m in ('redis', 'simpy', 'numpy', 'pandas', 'tqdm', "
        "'matplotlib', 'fakeredis') if m in sys.modules))"
    )

    def loaded(module: str) -> set[str]:
        out = subprocess.run(
            [sys.executable, "-c", code, module], capture_output=True, text=True, check=True
        )
        return set(out.stdout.split())

    assert loaded("trustchain_lab.protocol") == set()
    assert loaded("trustchain_lab.chain") == {"redis"}
    assert "redis" not in loaded("trustchain_lab.sim")  # the model runs the core, not chain/


def test_no_module_of_the_package_shadows_an_exported_name():
    import pkgutil

    import trustchain_lab

    modules = {m.name for m in pkgutil.iter_modules(trustchain_lab.__path__)}
    assert modules & set(trustchain_lab.__all__) == set()
    assert trustchain_lab.analytic.harmonic(1) == 1  # public submodules load on first use


def test_a_broadcast_that_reached_fewer_listeners_than_usual_is_not_trusted():
    c = make("seed")
    c.published(1, usual=3)  # two usual listeners did not get this task
    c.timer(Timer.PROBE)
    assert Final(Reason.MISSED_BROADCAST) in c.counted(0)  # not "probe_empty"
    d = make("ack")
    d.published(2, usual=3)
    d.partial("a")
    assert d.partial("b") == [received("b"), Final(Reason.MISSED_BROADCAST)]
    late = make("seed")
    late.published(1, usual=3)
    assert late.timer(Timer.DEADLINE)[-2] == Final(Reason.DEADLINE)  # a timeout stays one
    fine = make("seed")
    fine.published(3, usual=3)
    fine.timer(Timer.PROBE)
    assert Final(Reason.PROBE_EMPTY) in fine.counted(0)
