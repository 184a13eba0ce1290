"""``python -m benchmarks``: run suites, write data, figures and a report to a run folder."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

SUITES = {  # name -> module; each module has TITLE, DESCRIPTION and run(ctx) -> SuiteOutput
    "probe": "benchmarks.probe",
    "races": "benchmarks.races",
    "fanout": "benchmarks.fanout",
    "latency": "benchmarks.latency",
    "throughput": "benchmarks.throughput",
    "overhead": "benchmarks.overhead",
    "variants": "benchmarks.variants",
    "faults": "benchmarks.faults",
    "gateway": "benchmarks.gateway",
    "fidelity": "benchmarks.fidelity",
    "notebooks": "benchmarks.notebooks",
}
ON_REQUEST = ("fidelity", "notebooks")  # run only when named: long (notebooks: an extra)


def _descriptions() -> str:
    lines = []
    for name, module in SUITES.items():
        lines.append(f"  {name:<11} {importlib.import_module(module).DESCRIPTION}")
    return "suites:\n" + "\n".join(lines)


COMMANDS = ("run", "compare")


def build_parser() -> argparse.ArgumentParser:
    """``run`` (the default command: ``python -m benchmarks [SUITE ...]``) and ``compare``."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure Trust Chain on real Redis and in the SimPy model.",
    )
    commands = p.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    run = commands.add_parser(
        "run",
        prog="python -m benchmarks [run]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="run suites (the default command)",
        description="Measure Trust Chain on real Redis and in the SimPy model.",
        epilog=_descriptions()
        + "\n\nalso: python -m benchmarks compare OLD_DIR NEW_DIR (what changed between "
        "two runs; a change inside either run's 95 % interval is marked 'within noise')",
    )
    run.add_argument(
        "suites",
        nargs="*",
        metavar="SUITE",
        help="suites to run (default: all but fidelity and notebooks)",
    )
    run.add_argument("--quick", action="store_true", help="small sizes: about three minutes in all")
    from trustchain_lab.protocol import variant_names

    run.add_argument(
        "--backend",
        choices=("sim", "redis", "both"),
        default="both",
        help="the SimPy model, real Redis, or both side by side (default: both)",
    )
    run.add_argument(
        "--variant",
        choices=variant_names(),
        default="seed",
        help="the protocol variant of the suites that run one (default: seed); "
        "'variants', 'overhead' and 'throughput' compare them all",
    )
    run.add_argument(
        "--placement",
        choices=("inline", "processes", "hosts"),
        default="inline",
        help="where the real workers of 'fanout' and 'throughput' run: in this process, "
        "each in its own process, or each in its own network namespace (root); the model "
        "is calibrated to match (default: inline)",
    )
    run.add_argument(
        "--redis-url",
        help="a Redis to use (default: REDIS_URL, else a private redis-server, else fakeredis)",
    )
    run.add_argument("--out", type=Path, default=Path("results"), help="parent folder of runs")
    run.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")
    compare = commands.add_parser(
        "compare",
        prog="python -m benchmarks compare",
        help="what changed between two runs, figure by figure",
        description="What changed between two runs, figure by figure; a change is real only "
        "when each run's value lies outside the other run's 95 % interval, else 'within noise'.",
    )
    compare.add_argument("old", type=Path, help="an earlier run folder")
    compare.add_argument("new", type=Path, help="a later run folder")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line; with no command, ``run`` (and ``--help`` shows run's options)."""
    if not argv or argv[0] not in COMMANDS:
        argv = ["run", *argv]
    p = build_parser()
    args = p.parse_args(argv)
    if args.command == "run":
        unknown = [s for s in args.suites if s not in SUITES]
        if unknown:
            p.error(f"unknown suite(s): {', '.join(unknown)}; choose from {', '.join(SUITES)}")
        if args.seed < 0:
            p.error("--seed must be >= 0")
    return args


def compare_main(args: argparse.Namespace) -> int:
    from .compare import RunFolderError, compare

    try:
        print(compare(args.old, args.new))
    except RunFolderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.command == "compare":
        return compare_main(args)
    from redis.exceptions import RedisError

    from trustchain_lab.target import FakeRedisWarning, NoRedisError, redis_target

    from . import machine
    from .core import Context, Report, run_metadata

    names = args.suites or [s for s in SUITES if s not in ON_REQUEST]
    backends = ("sim", "redis") if args.backend == "both" else (args.backend,)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    label = "-".join(names) if args.suites else "all"
    out = args.out / f"{stamp}-{label}"
    for k in range(2, 1000):  # two runs in one second get distinct folders
        if not out.exists():
            break
        out = args.out / f"{stamp}-{label}-{k}"
    if args.placement == "hosts":
        from trustchain_lab.netns import NamespaceError, check_namespaces

        try:
            check_namespaces()
        except NamespaceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    out.mkdir(parents=True)
    ctx = Context(
        quick=args.quick,
        backends=backends,
        out=out,
        seed=args.seed,
        variant=args.variant,
        placement=args.placement,
    )
    with ExitStack() as stack:
        if "redis" in backends:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FakeRedisWarning)
                try:
                    target = stack.enter_context(
                        redis_target(args.redis_url, require_real=args.backend == "redis")
                    )
                except NoRedisError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    out.rmdir()  # nothing was written to it
                    return 2
            ctx.redis_url, ctx.redis_backend = target.url, target.backend
            if args.placement != "inline" and target.backend != "redis":
                print(
                    f"error: --placement {args.placement} needs a real Redis (fakeredis lives "
                    "in one process): install redis-server or pass --redis-url",
                    file=sys.stderr,
                )
                stack.close()
                out.rmdir()
                return 2
            if target.backend == "fakeredis":
                print(
                    "note: no Redis found (REDIS_URL, --redis-url, redis-server on PATH): the "
                    "real runs use fakeredis, whose timings are not Redis timings",
                    file=sys.stderr,
                )
        meta = run_metadata(ctx, argv)
        if ctx.redis_backend:
            meta["redis"] = {
                "source": target.source,
                **target.info,
                "server_version": target.server_version(),
            }
        meta["machine"] = {"start": machine.probe(ctx.redis_url)}
        report = Report(ctx, meta)
        report.write()
        print(f"writing to {out}/", file=sys.stderr)
        try:
            for name in names:
                module = importlib.import_module(SUITES[name])
                print(f"[{name}] {module.TITLE}", file=sys.stderr)
                t = time.perf_counter()
                ctx.suite = name
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FakeRedisWarning)
                    output = module.run(ctx)
                report.add(output, time.perf_counter() - t)
        except KeyboardInterrupt:
            report.status = f"interrupted during suite {name!r}; suites before it are complete"
            report.write()
            print(f"\ninterrupted: partial report in {out}/report.md", file=sys.stderr)
            return 130
        except (NoRedisError, ConnectionError, RedisError) as exc:  # Redis went away
            report.status = f"failed during suite {name!r}: {type(exc).__name__}: {exc}"
            report.write()
            print(f"error: suite {name!r} failed: {exc} (report: {out}/report.md)", file=sys.stderr)
            return 2
        except Exception:
            report.status = f"failed during suite {name!r} (a bug: see the traceback)"
            report.write()
            raise
        meta["machine"]["end"] = machine.probe(ctx.redis_url)
        report.status = "complete"
        report.write()
    print(f"report: {out}/report.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
