"""`python -m bench` (or `make bench`): measure connectmail and its references; print a table
and write it as JSON.

    python -m bench                      # everything, SQLite and PostgreSQL, medians of 3
    python -m bench --smoke              # a few seconds of each, to keep the suite honest
    python -m bench --soak 300           # add a 5-minute RSS run
    python -m bench --skip instructions  # all but the callgrind counts (the slowest part)

Scenarios (`--only`, `--skip`): references, raw, processes, template, instructions, delivery,
latency, history, soak. `processes` is RAW again with `--processes` API processes
(`connectmail serve --workers N`), against the bare endpoint with as many. `instructions`
counts the API process's instructions per send under callgrind (`bench.instructions`): RAW,
TEMPLATE, RAW with the history stored, and per email delivered. `latency` is
accept-to-arrival at a fixed rate, with delivery in the server process and again in a
`connectmail worker` beside `serve --no-deliver`. `--smoke` runs on SQLite unless
`--backends` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import instructions, scenarios
from bench.scenarios import Options

RESULTS = Path(__file__).with_name("results")
SCENARIOS = (
    "references",
    "raw",
    "processes",
    "template",
    "instructions",
    "delivery",
    "latency",
    "history",
    "soak",
)


def _scenarios(text: str) -> set[str]:
    """A comma-separated list of scenario names."""
    names = set(filter(None, text.split(",")))
    unknown = names - set(SCENARIOS)
    if unknown:
        known = ", ".join(SCENARIOS)
        raise argparse.ArgumentTypeError(f"no scenario {', '.join(sorted(unknown))} ({known})")
    return names


def parse() -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backends", help="comma-separated (default: sqlite,postgresql; sqlite with --smoke)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="API processes, every scenario")
    parser.add_argument(
        "--processes",
        type=int,
        default=max(2, os.cpu_count() or 1),
        help="API processes of the `processes` scenario (default: the CPUs, at least 2)",
    )
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of RSS soak (0: skip)")
    parser.add_argument("--soak-rate", type=float, default=1_000.0, help="sends/s in the soak")
    parser.add_argument(
        "--only", type=_scenarios, default=set(), help="comma-separated scenario names"
    )
    parser.add_argument(
        "--skip", type=_scenarios, default=set(), help="scenarios to leave out, comma-separated"
    )
    parser.add_argument("--smoke", action="store_true", help="a few seconds of everything")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    options = Options(
        runs=args.runs,
        seconds=args.seconds,
        connections=args.connections,
        history=args.history,
        workers=args.workers,
        processes=args.processes,
        soak_seconds=args.soak,
        soak_rate=args.soak_rate,
    )
    if args.backends is None:
        args.backends = "sqlite" if args.smoke else "sqlite,postgresql"
    if args.smoke:
        options = Options(
            runs=1,
            seconds=1.0,
            connections=8,
            expected_rate=1500,
            history=5_000,
            delivery_messages=100,
            latency_rate=50,
            latency_seconds=1.0,
            workers=args.workers,
            processes=2,
            soak_seconds=2.0,
            soak_rate=50.0,
            counted_requests=40,
            counted_warmup=10,
        )
    return args, options


def main() -> None:
    args, options = parse()
    wanted, skipped = args.only, args.skip
    work = scenarios.temporary_directory()
    report: dict[str, Any] = {
        "command": "python -m bench " + " ".join(os.sys.argv[1:]),  # type: ignore[attr-defined]
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "options": vars(options) | {"per_run": options.per_run},
        "backends": {},
    }

    def want(name: str) -> bool:
        return (not wanted or name in wanted) and name not in skipped

    try:
        several = replace(options, workers=options.processes)
        if want("references"):
            anything = _any_requests(options, work)
            report["bare_asgi"] = scenarios.bare_asgi_rate(options, work, anything)
            report["bare_starlette"] = scenarios.bare_asgi_rate(
                options, work, anything, app="starlette"
            )
            if want("processes") and options.processes != options.workers:
                report["bare_asgi_processes"] = scenarios.bare_asgi_rate(several, work, anything)
            report["moto_sesv2"] = scenarios.moto_rate(options, work)
        for backend in args.backends.split(","):
            results: dict[str, Any] = {}
            if want("raw"):
                results["accept_raw"] = scenarios.accept_rate(backend, options, work)
            if want("processes") and options.processes != options.workers:
                results["accept_raw_processes"] = scenarios.accept_rate(backend, several, work)
            if want("template"):
                results["accept_template"] = scenarios.accept_rate(
                    backend, options, work, source="TEMPLATE"
                )
            if want("instructions"):
                results["instructions"] = _instructions(backend, options, work, args.out.parent)
            if want("delivery"):
                results["delivery"] = scenarios.delivery_rate(backend, options, work)
            if want("latency"):
                results["arrival_latency"] = scenarios.arrival_latency(backend, options, work)
                results["arrival_latency_worker"] = scenarios.arrival_latency(
                    backend, options, work, separate_worker=True
                )
            # After delivery and latency: writing back its million rows disturbs what follows.
            if want("history"):
                results["accept_raw_with_history"] = scenarios.accept_rate(
                    backend, options, work, history=options.history
                )
                os.sync()  # and its dirty pages written out before the next measurement
            if options.soak_seconds and want("soak"):
                results["soak"] = scenarios.soak(backend, options, work)
            report["backends"][backend] = results
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _ratios(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(render(report))
    print(f"\nwritten to {args.out}")


def _instructions(backend: str, options: Options, work: Path, keep: Path) -> dict[str, Any]:
    """Instructions per request, RAW and TEMPLATE, RAW with `options.history` contacts stored,
    and per email delivered; each callgrind file kept beside the JSON."""
    counted = {}
    keep.mkdir(parents=True, exist_ok=True)
    for source, measured in instructions.count_each(
        backend,
        ("RAW", "TEMPLATE", "HISTORY", "DELIVERY"),
        options.counted_requests,
        options.counted_warmup,
        options.connections,
        work / "instructions",
        options.history,
    ):
        kept = keep / f"callgrind-{backend}-{source}.out"
        shutil.copyfile(measured["callgrind_file"], kept)
        counted[source] = measured | {"callgrind_file": str(kept)}
    return counted


def _history_instructions(results: dict[str, Any]) -> str:
    """RAW's instructions per send with the history stored, and against the empty store."""
    counted = results["instructions"]
    stored, empty = counted["HISTORY"]["per_request"], counted["RAW"]["per_request"]
    return f"{stored:,} ({stored / empty:.0%} of empty)"


def _any_requests(options: Options, work: Path) -> list[Any]:
    """Requests for the bare endpoint: realistic bytes; their signatures are never checked."""
    from botocore.credentials import Credentials

    from bench.signing import raw_message, signed_sends

    count = int(options.expected_rate * 2 * (options.seconds + 1))
    payloads = (
        raw_message(f"{n:08d}-0000-0000-0000-000000000000", "i", "s@example.com")
        for n in range(count)
    )
    return list(signed_sends("http://127.0.0.1", Credentials("A", "B"), "us-east-1", payloads))


def _ratios(report: dict[str, Any]) -> None:
    bare = report.get("bare_asgi", {}).get("rate")
    starlette = report.get("bare_starlette", {}).get("rate")
    bare_processes = report.get("bare_asgi_processes", {}).get("rate")
    moto = report.get("moto_sesv2", {}).get("rate")
    for results in report["backends"].values():
        raw = results.get("accept_raw", {}).get("rate")
        if raw and bare:
            results["ratio_to_bare_asgi"] = round(raw / bare, 2)
        if raw and starlette:
            results["ratio_to_starlette"] = round(raw / starlette, 2)
        if raw and moto:
            results["ratio_to_moto"] = round(raw / moto, 1)
        processes = results.get("accept_raw_processes", {}).get("rate")
        if processes and bare_processes:
            results["processes_ratio_to_bare_asgi"] = round(processes / bare_processes, 2)
        if processes and moto:
            results["processes_ratio_to_moto"] = round(processes / moto, 1)
        history = results.get("accept_raw_with_history", {}).get("rate")
        if raw and history:
            results["history_ratio"] = round(history / raw, 2)


def render(report: dict[str, Any]) -> str:
    lines = [
        "| measurement | " + " | ".join(report["backends"]) + " |",
        "| --- |" + " --- |" * len(report["backends"]),
    ]

    def row(label: str, pick: Any) -> None:
        cells = []
        for results in report["backends"].values():
            try:
                cells.append(str(pick(results)))
            except (KeyError, TypeError):
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    def accepted(label: str, key: str) -> None:
        """An accept-rate measurement: its rate, and its latency on the line below."""
        row(label, lambda r: f"{r[key]['rate']:,.0f}")
        row("  p50 / p99 latency (ms)", lambda r: f"{r[key]['p50_ms']} / {r[key]['p99_ms']}")
        row("  CPU µs per request: server / database", lambda r: _cpu_cell(r[key]))
        row(
            "  PostgreSQL checkpoints in the runs: requested / timed",
            lambda r: (
                f"{'+'.join(map(str, r[key]['checkpoints_requested_runs']))} / "
                f"{'+'.join(map(str, r[key]['checkpoints_timed_runs']))}"
            ),
        )
        row(
            "  PostgreSQL WAL KB per request; WAL files added in the runs",
            lambda r: (
                f"{r[key]['wal_kb_per_request']}; "
                f"{'+'.join(map(str, r[key]['wal_files_added_runs']))}"
            ),
        )

    accepted("StartOutboundEmailContact RAW, accepted/s", "accept_raw")
    row("  non-2xx answers", lambda r: r["accept_raw"]["non_2xx"])
    processes = report["options"]["processes"]
    accepted(f"RAW with {processes} API processes, accepted/s", "accept_raw_processes")
    accepted("StartOutboundEmailContact TEMPLATE, accepted/s", "accept_template")
    row(
        "API process instructions per request (callgrind): RAW / TEMPLATE",
        lambda r: (
            f"{r['instructions']['RAW']['per_request']:,} / "
            f"{r['instructions']['TEMPLATE']['per_request']:,}"
        ),
    )
    row(
        "RAW with history stored, accepted/s",
        lambda r: (
            f"{r['accept_raw_with_history']['rate']:,.0f}"
            + (f" ({r['history_ratio']:.0%} of empty)" if "history_ratio" in r else "")
        ),
    )
    row("  its instructions per request (callgrind)", _history_instructions)
    row("connectmail / bare ASGI", lambda r: r["ratio_to_bare_asgi"])
    row("connectmail / bare Starlette", lambda r: r["ratio_to_starlette"])
    row("connectmail / moto SES v2", lambda r: f"{r['ratio_to_moto']}x")
    row(
        f"with {processes} processes / bare ASGI with {processes}",
        lambda r: r["processes_ratio_to_bare_asgi"],
    )
    row(f"with {processes} processes / moto SES v2", lambda r: f"{r['processes_ratio_to_moto']}x")
    row(
        "delivery to loopback relay, emails/s",
        lambda r: (
            f"{r['delivery']['rate']:,.0f} ({r['delivery']['ratio']} of aiosmtplib "
            f"alone: {r['delivery']['baseline_rate']:,.0f})"
        ),
    )
    row("  CPU µs per email: connectmail / database / relay", lambda r: _delivery_cpu(r))
    row(
        "  connectmail's instructions per email (callgrind)",
        lambda r: f"{r['instructions']['DELIVERY']['per_request']:,}",
    )
    row(
        "  aiosmtplib alone, CPU µs per email: sender / relay",
        lambda r: _delivery_cpu(r, "baseline_sender", "baseline_relay"),
    )
    row(
        "accept-to-arrival p50 / p99 (ms)",
        lambda r: (
            f"{r['arrival_latency']['p50_ms']} / {r['arrival_latency']['p99_ms']} "
            f"at {r['arrival_latency']['offered_rate']:.0f}/s"
        ),
    )
    row(
        "  with a separate `connectmail worker`",
        lambda r: (
            f"{r['arrival_latency_worker']['p50_ms']} / {r['arrival_latency_worker']['p99_ms']}"
        ),
    )
    row(
        "peak server RSS, one process (MB)",
        lambda r: max(
            (
                v.get("peak_rss_mb", 0)
                for k, v in r.items()
                if isinstance(v, dict) and k != "accept_raw_processes"
            ),
            default=0,
        ),
    )
    row(
        "soak RSS growth",
        lambda r: (
            f"{r['soak']['growth']:.1%} over {r['soak']['seconds']:.0f}s "
            f"at {r['soak']['offered_rate']:.0f}/s"
        ),
    )
    refs = []
    if "bare_asgi" in report:
        refs.append(f"bare ASGI endpoint: {_reference(report['bare_asgi'])}")
    if "bare_starlette" in report:
        refs.append(f"bare Starlette endpoint: {_reference(report['bare_starlette'])}")
    if "bare_asgi_processes" in report:
        refs.append(
            f"bare ASGI endpoint, {processes} processes: "
            f"{_reference(report['bare_asgi_processes'])}"
        )
    if "moto_sesv2" in report:
        moto = report["moto_sesv2"]
        refs.append(f"moto SES v2 SendEmail: {_reference(moto)}, {moto['non_2xx']} non-2xx")
    return "\n".join(lines + (["", *refs] if refs else []))


def _cpu_cell(measured: dict[str, Any]) -> str:
    """`server / database` CPU per request, `-` where not measured."""
    return " / ".join(
        f"{measured[f'{kind}_cpu_us']:.0f}" if f"{kind}_cpu_us" in measured else "-"
        for kind in ("server", "database")
    )


def _delivery_cpu(results: dict[str, Any], *kinds: str) -> str:
    """The delivery measurement's CPU per email of `kinds`, `-` where not measured."""
    measured = results["delivery"]
    return " / ".join(
        f"{measured[f'{kind}_cpu_us']:.0f}" if f"{kind}_cpu_us" in measured else "-"
        for kind in kinds or ("server", "database", "relay")
    )


def _reference(measured: dict[str, Any]) -> str:
    cpu = measured.get("server_cpu_us")
    return f"{measured['rate']:,.0f} req/s" + (
        f" ({cpu:.0f} µs of CPU a request)" if cpu is not None else ""
    )


if __name__ == "__main__":
    main()
