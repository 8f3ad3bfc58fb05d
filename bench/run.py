"""The one entry point of the benchmark suite.

From a checkout (it uses tests/support), after ``pip install -e '.[dev,bench]'``
(the bench extra holds the baselines, broadcaster and sse-starlette)::

    .venv/bin/python -m bench                  # everything, ~10 min; writes BENCHMARKS.md
    .venv/bin/python -m bench --quick          # shorter runs, ~2 min
    .venv/bin/python -m bench --only fanout,memory --output /tmp/b.md

Scenarios: emit, latency, fanout, fanout-metrics, memory, history, churn, pageshape, e2e, api-emits,
presence (BENCH_PAGE_CONNS sets the streams of pageshape, e2e and presence, default 5 000;
BENCH_METRICS_CONNS those of fanout-metrics, default 5 000, and BENCH_METRICS_BASE the tidings
it compares with). Each runs tidings and its baseline in the same run; figures are medians over runs (3, or 1
with --quick). A private redis-server is started on a free port; the SSE
server and its load generators are separate processes on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench._common import ROOT, install_uvloop, machine, median, raise_fd_limit

if TYPE_CHECKING:
    from bench.api_emits import Rate

SCENARIOS = (
    "emit", "latency", "fanout", "fanout-metrics", "memory", "history", "churn", "pageshape", "e2e",
    "api-emits", "presence",
)  # fmt: skip
FANOUT_LADDER: list[float] = [25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_000_000, 3_000_000]
# tidings' own SSE stacks (bench.sse_server --stack), with the label of their rows.
OURS = {"tidings": "", "native": ", native server"}


@dataclass
class Row:
    scenario: str
    tidings: str
    baseline: str
    ratio: str
    note: str = ""


def _ratio(ours: float, theirs: float, *, lower_is_better: bool = False) -> str:
    if not theirs or math.isnan(ours) or math.isnan(theirs) or math.isinf(theirs) or not ours:
        return "n/a"
    value = theirs / ours if lower_is_better else ours / theirs
    return f"{value:.2f}x"


def _n(value: float, unit: str = "") -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "lost"
    if value >= 100:
        return f"{value:,.0f}{unit}"
    return f"{value:.2f}{unit}"


def emit_rows(url: str, runs: int, seconds: float) -> list[Row]:
    from bench import emit

    rows = []
    for mode, (ours, theirs) in asyncio.run(emit.run(url, runs, seconds)).items():
        o, t = median(ours), median(theirs)
        rows.append(
            Row(
                f"emit/s on Redis, {mode}",
                _n(o),
                _n(t),
                _ratio(o, t),
                "baseline: redis-py, one XADD+PUBLISH pipeline per emit (per 100 in batch mode)",
            )
        )
    return rows


def latency_rows(url: str, runs: int, seconds: float) -> list[Row]:
    from bench import latency

    rows = []
    for rate, per_mode in asyncio.run(latency.run(url, [1000, 10_000], runs, seconds)).items():
        for key in ("p50", "p99", "p999"):
            o = median(r[key] for r in per_mode["tidings"])
            t = median(r[key] for r in per_mode["raw"])
            rows.append(
                Row(
                    f"emit→subscriber latency {key} at {rate:,.0f}/s (ms)",
                    _n(o),
                    _n(t),
                    _ratio(o, t, lower_is_better=True),
                    "emitter in another process; baseline: redis-py PubSub fed by XADD+PUBLISH pipelines",
                )
            )
    return rows


def api_emit_rows(runs: int, seconds: float) -> list[Row]:
    from bench import api_emits

    found = asyncio.run(api_emits.run(runs, seconds))
    ours, theirs = found["native"], found["uvicorn"]
    o, t = median([r.emits_per_second for r in ours]), median([r.emits_per_second for r in theirs])
    spread = ", ".join(
        f"{stack} {min(r.emits_per_second for r in rates):,.0f}"
        f" to {max(r.emits_per_second for r in rates):,.0f}"
        f" (server CPU {median([r.server_cpu for r in rates]):.0%},"
        f" reconnects {sum(r.reconnects for r in rates)})"
        for stack, rates in found.items()
    )
    return [
        Row(
            "emits/s over the JSON API, 64 kept-alive clients, native server",
            _n(o),
            _n(t),
            _ratio(o, t),
            f"baseline: the same `tidings serve --api-token` under uvicorn; min to max: {spread}",
        ),
        _api_cpu_row(ours, theirs),
    ]


def _api_cpu_row(ours: list[Rate], theirs: list[Rate]) -> Row:
    # Emits/s follow whatever CPU the machine leaves the server; its CPU per
    # emit does not, so this ratio holds when the machine is shared.
    o, t = median([r.cpu_us_per_emit for r in ours]), median([r.cpu_us_per_emit for r in theirs])
    spread = ", ".join(
        f"{stack} {min(r.cpu_us_per_emit for r in rates):.1f} to {max(r.cpu_us_per_emit for r in rates):.1f}"
        for stack, rates in (("uvicorn", theirs), ("native", ours))
    )
    return Row(
        "server CPU per emit over the JSON API (us), native server",
        _n(o),
        _n(t),
        _ratio(o, t, lower_is_better=True),
        f"baseline: uvicorn, same runs; lower is better; min to max: {spread}",
    )


def history_rows(url: str, runs: int) -> list[Row]:
    from bench import history

    result = asyncio.run(history.run(url, 10 * runs))
    o, t = result["read"]
    rows = [
        Row(
            "history: read 1 000 events, Redis (ms)",
            _n(o),
            _n(t),
            _ratio(o, t, lower_is_better=True),
            "baseline: XREVRANGE COUNT 1000 + decode",
        )
    ]
    o, t = result["subscribe"]
    rows.append(
        Row(
            "subscribe with 1 000 replayed, then 1 live (ms)",
            _n(o),
            _n(t),
            _ratio(o, t, lower_is_better=True),
            "baseline: SUBSCRIBE + XREVRANGE + wait for one PUBLISH, no gap/dup handling",
        )
    )
    return rows


def presence_rows(url: str, runs: int, quick: bool) -> list[Row]:
    from bench import presence

    streams = int(os.environ.get("BENCH_PAGE_CONNS", "5000"))
    got = asyncio.run(
        presence.run(url, runs, streams=streams, members=streams, channels=50, seconds=1.5 if quick else 3.0)
    )
    return [
        Row(
            f"presence: {streams:,} SSE streams entering one channel (s)",
            _n(got.present),
            _n(got.open_only),
            _ratio(got.present, got.open_only, lower_is_better=True),
            "until presence_count() is exact; baseline: the same streams without presence, until all open",
        ),
        Row(
            f"presence: {streams:,} enter() calls, 200 at a time (s)",
            _n(got.enters),
            "",
            "",
            "direct API, Redis",
        ),
        Row(
            f"presence heartbeat: Redis commands per round, {streams:,} connections on 50 channels",
            _n(got.commands_per_round),
            "",
            "",
            f"{_n(got.scripts_per_round)} script calls per round (one pipelined round trip); "
            f"a round every TTL/3 (10 s by default): {_n(got.commands_per_round / 10)} commands/s a process",
        ),
        Row(
            "fan-out with presence (deliveries/s)",
            _n(got.fanout_present),
            _n(got.fanout_plain),
            _ratio(got.fanout_present, got.fanout_plain),
            f"1 channel x 20 subscribers; {streams:,} members heartbeating vs none, same run",
        ),
    ]


def fanout_rows(
    quick: bool, runs: int, seconds: float, log: Callable[[str], None]
) -> tuple[list[Row], list[str]]:
    from bench import sse

    configs = [(5000, 1), (5000, 1000)] if quick else [(5000, 1), (5000, 1000), (1000, 1), (1000, 1000)]
    ladder = FANOUT_LADDER
    rows: list[Row] = []
    detail: list[str] = []
    for conns, channels in configs:
        peaks: dict[str, list[float]] = {stack: [] for stack in sse.STACKS}
        at_500k: dict[str, list[sse.Step]] = {stack: [] for stack in OURS}
        lost = dict.fromkeys(OURS, 0)
        # Stacks whose every run ended unsaturated at the top of the ladder: their peak is a floor.
        topped = dict.fromkeys(sse.STACKS, True)
        for index in range(runs):
            for stack in sse.STACKS:
                run = sse.fanout(stack, conns, channels, ladder, seconds, freeze=True)
                peak = max(run.steps, key=lambda s: s.delivered if not s.lost else 0)
                peaks[stack].append(peak.delivered)
                top = run.steps[-1]
                if len(run.steps) < len(ladder) or top.saturated or not top.kept_up:
                    topped[stack] = False
                for step in run.steps:
                    detail.append(
                        f"| {stack} | {conns} | {channels} | {index + 1} | {step.offered:,.0f} | "
                        f"{step.delivered:,.0f} | {step.p50_ms:.1f} | {step.p99_ms:.1f} | "
                        f"{step.lost} | {step.disorder} | {step.server_cpu:.0%} | {step.load_cpu:.0%} |"
                    )
                    if stack in OURS:
                        lost[stack] += step.lost + step.disorder
                        if 400_000 <= step.offered <= 600_000:
                            at_500k[stack].append(step)
                log(f"fanout {stack} {conns}x{channels} run {index + 1}: peak {peak.delivered:,.0f}/s")
        t = median(peaks["broadcaster"])
        where = "one hot channel" if channels == 1 else f"{channels} channels"
        for stack, label in OURS.items():
            o = median(peaks[stack])
            rows.append(
                Row(
                    f"SSE fan-out, {conns:,} connections, {where}{label}: peak deliveries/s",
                    _n(o),
                    _n(t),
                    _ratio(o, t),
                    f"baseline: broadcaster memory:// + sse-starlette; lost/out-of-order: {lost[stack]}"
                    + (
                        "; not saturated at the top of the ladder (the load generators ran out of CPU "
                        "first): a lower bound"
                        if topped[stack]
                        else ""
                    ),
                )
            )
            if at_500k[stack]:
                p99 = median(s.p99_ms for s in at_500k[stack])
                rows.append(
                    Row(
                        f"SSE p99 latency at ~500k deliveries/s, {conns:,} conns, {where}{label} (ms)",
                        _n(p99),
                        "saturated below",
                        "",
                        "baseline saturates far below this rate",
                    )
                )
    return rows, detail


def _spread(values: list[float], unit: str = "") -> str:
    """Median (min-max) of the runs."""
    if not values or all(math.isnan(v) for v in values):
        return "n/a"
    clean = [v for v in values if not math.isnan(v)]
    if len(clean) == 1:
        return _n(clean[0], unit)
    return f"{_n(median(clean), unit)} ({_n(min(clean))}-{_n(max(clean), unit)})"


def page_rows(
    conns: int, runs: int, seconds: float, *, redis: bool, log: Callable[[str], None]
) -> tuple[list[Row], list[str]]:
    from bench import page, sse

    ladder = [25_000.0, 50_000.0, 100_000.0, 250_000.0, 500_000.0, 1_000_000.0, 2_000_000.0, 3_000_000.0]
    busy_at = os.cpu_count() or 1
    name = "end to end (Redis, emits from another process)" if redis else "page shape (in-process, memory)"
    # In-process, each of our stacks also runs the single-channel control (streams on
    # ``broadcast`` only, no trickle) with the same checking generator: the page shape's
    # peak is judged against it, and its idle memory against the page shape's.
    plan = [(stack, False) for stack in sse.STACKS] + ([] if redis else [(stack, True) for stack in OURS])
    keys = [f"{stack} single" if single else stack for stack, single in plan]
    peaks: dict[str, list[float]] = {key: [] for key in keys}
    rss: dict[str, list[float]] = {key: [] for key in keys}
    at: dict[tuple[str, float], list[page.PageStep]] = {}
    errors = {key: [0, 0, 0, 0] for key in keys}
    busy = dict.fromkeys(keys, 0)
    detail: list[str] = []
    for index in range(runs):
        for (stack, single), key in zip(plan, keys, strict=True):
            run = page.page_run(stack, conns, ladder, seconds, redis=redis, single=single)
            good = [s.delivered for s in run.steps if not s.errors]
            peaks[key].append(max(good) if good else float("nan"))
            rss[key].append(run.rss_per_stream)
            for step in run.steps:
                at.setdefault((key, step.requested), []).append(step)
                for i, count in enumerate((step.lost, step.duplicate, step.disorder, step.foreign)):
                    errors[key][i] += count
                flag = " busy" if step.load1 > busy_at else ""
                busy[key] += bool(flag)
                detail.append(
                    f"| {name} | {key} | {conns} | {index + 1} | {step.requested:,.0f} | "
                    f"{step.offered:,.0f} | "
                    f"{step.delivered:,.0f} | {step.p50_ms:.1f} | {step.p99_ms:.1f} | {step.lost} | "
                    f"{step.duplicate} | {step.disorder} | {step.foreign} | {step.server_cpu:.0%} | "
                    f"{step.load_cpu:.0%} | {step.emitter_cpu:.0%} | {step.load1:.2f}{flag} |"
                )
            log(f"{name} {key} run {index + 1}: peak {peaks[key][-1]:,.0f}/s")
    rows: list[Row] = []
    base = peaks["broadcaster"]
    for stack, label in OURS.items():
        lost, dup, disorder, foreign = errors[stack]
        b_lost, b_dup, b_disorder, b_foreign = errors["broadcaster"]
        rows.append(
            Row(
                f"{name}, {conns:,} streams on broadcast + user-i{label}: peak deliveries/s",
                _spread(peaks[stack]),
                _spread(base),
                _ratio(median(peaks[stack]), median(base)),
                f"median (min-max) of {runs} run(s); baseline: broadcaster + sse-starlette; "
                f"lost/dup/disorder/foreign: {lost}/{dup}/{disorder}/{foreign} "
                f"(baseline {b_lost}/{b_dup}/{b_disorder}/{b_foreign}); "
                f"steps started with load average > {busy_at} cores: {busy[stack]} "
                f"(baseline {busy['broadcaster']})",
            )
        )
        for rate in (250_000.0, 500_000.0):
            ours = at.get((stack, rate), [])
            theirs = at.get(("broadcaster", rate), [])
            for key in ("p50_ms", "p99_ms"):
                o = [getattr(s, key) for s in ours]
                t = [getattr(s, key) for s in theirs]
                rows.append(
                    Row(
                        f"{name}{label}: {key[:3]} at {rate / 1000:,.0f}k deliveries/s (ms)",
                        _spread(o) if o else "not reached",
                        _spread(t) if t else "not reached",
                        _ratio(median(o), median(t), lower_is_better=True) if o and t else "",
                        f"runs that reached the step: {len(o)} / {len(t)} of {runs}",
                    )
                )
        if not redis:
            rows += page_control_rows(stack, label, conns, peaks, rss, errors[f"{stack} single"])
    return rows, detail


def page_control_rows(
    stack: str,
    label: str,
    conns: int,
    peaks: dict[str, list[float]],
    rss: dict[str, list[float]],
    errors: list[int],
) -> list[Row]:
    """The page shape against the same stack's single-channel control of the same run."""
    control = f"{stack} single"
    share = median(peaks[stack]) / median(peaks[control])
    return [
        Row(
            f"page shape{label}: peak as a share of the single-channel peak (same generator)",
            f"{share:.0%}",
            _spread(peaks[control]),
            "",
            f"baseline column: the single-channel control's peak, {conns:,} streams on broadcast "
            f"only, every frame checked; its lost/dup/disorder/foreign: {'/'.join(map(str, errors))}",
        ),
        Row(
            f"idle RSS per stream, broadcast + user-i vs broadcast only{label} (bytes)",
            _spread(rss[stack]),
            _spread(rss[control]),
            f"{median(rss[stack]) / median(rss[control]):.2f}x of one channel",
            f"{conns:,} streams; the ratio is two-channel over one-channel (target <= 1.5x)",
        ),
    ]


def memory_rows(runs: int, conns: int) -> list[Row]:
    from bench import sse

    per = {
        stack: [sse.idle_memory(stack, conns) for _ in range(runs)]
        for stack in ("tidings", "native", "broadcaster", "bare")
    }
    o, native, t, bare = (median(per[s]) for s in ("tidings", "native", "broadcaster", "bare"))
    # Per-user channels: one channel per stream, so nothing is shared between streams.
    own = {stack: median(sse.idle_memory(stack, conns, conns) for _ in range(runs)) for stack in OURS}
    own_t = median(sse.idle_memory("broadcaster", conns, conns) for _ in range(runs))
    return [
        Row(
            f"RSS per idle SSE connection at {conns:,} (bytes)",
            _n(o),
            _n(t),
            _ratio(o, t, lower_is_better=True),
            f"baseline: broadcaster + sse-starlette; a bare uvicorn SSE app costs {bare:,.0f}",
        ),
        Row(
            f"RSS per idle SSE connection at {conns:,}, native server (bytes)",
            _n(native),
            _n(t),
            _ratio(native, t, lower_is_better=True),
            "tidings.asgi.serve_native: no uvicorn; baseline as above",
        ),
        *(
            Row(
                f"RSS per idle SSE connection at {conns:,}, each on its own channel{label} (bytes)",
                _n(own[stack]),
                _n(own_t),
                _ratio(own[stack], own_t, lower_is_better=True),
                "baseline: broadcaster + sse-starlette, also one channel per connection",
            )
            for stack, label in OURS.items()
        ),
    ]


def metrics_rows(quick: bool, runs: int, seconds: float, log: Callable[[str], None]) -> list[Row]:
    from bench.metrics_cost import metrics_cost

    conns = int(os.environ.get("BENCH_METRICS_CONNS", "5000"))
    configs = [1] if quick else [1, 1000]
    rows = []
    found = metrics_cost(conns, configs, runs, seconds, FANOUT_LADDER, log)
    for stack, where, off, on, scrapes, cpu_off, cpu_on in found:
        label = OURS[stack]
        rows.append(
            Row(
                f"SSE fan-out with metrics on, {conns:,} connections, {where}{label}: peak deliveries/s",
                _n(on),
                _n(off),
                _ratio(on, off),
                "baseline: the same fan-out on this commit with counting stripped (bench/metrics_cost.py); "
                f"/metrics scraped every second during every step ({scrapes} scrapes); target >= 0.95x; "
                f"server CPU per delivery at the unsaturated steps >= 100k/s: {cpu_on:.3f} µs on, "
                f"{cpu_off:.3f} µs off ({_ratio(cpu_on, cpu_off, lower_is_better=True)})",
            )
        )
    return rows


def churn_rows(runs: int, cycles: int) -> list[Row]:
    from bench import sse

    per = {stack: [sse.churn(stack, cycles) for _ in range(runs)] for stack in sse.STACKS}
    rows = []
    t = median(r["rate"] for r in per["broadcaster"])
    for stack, label in OURS.items():
        o = median(r["rate"] for r in per[stack])
        rows.append(
            Row(
                f"connection churn{label}: connect+disconnect/s",
                _n(o),
                _n(t),
                _ratio(o, t),
                "32 concurrent clients",
            )
        )
    for stack in sse.STACKS:
        growth = median((r["rss_after"] - r["rss_before"]) / 1024 for r in per[stack])
        per[stack] = [
            {
                "growth": growth,
                "open": max(r["open_after"] for r in per[stack]),
                "errors": sum(r["errors"] for r in per[stack]),
            }
        ]
    base = per["broadcaster"][0]
    for stack, label in OURS.items():
        ours = per[stack][0]
        rows.append(
            Row(
                f"RSS growth after {cycles:,} cycles{label} (KiB)",
                _n(ours["growth"]),
                _n(base["growth"]),
                "",
                f"streams left open: tidings {ours['open']}, baseline {base['open']}; "
                f"errors: {ours['errors']} / {base['errors']}",
            )
        )
    return rows


def write_markdown(
    path: str, rows: list[Row], detail: list[str], command: str, seconds: float, page_detail: list[str]
) -> None:
    facts = machine()
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.date.today().isoformat()} on {facts['nproc']} cores ({facts['cpu']}), "
        f"Python {facts['python']}, Redis {facts['redis']}, {facts['os']}. Loopback only; "
        "the SSE server (one process) and its two load generators are separate processes on the "
        "same machine. tidings' SSE endpoint runs two ways: `handle()` under uvicorn (uvloop + "
        'httptools), and the native asyncio server `serve_native()` (rows marked "native server", '
        "stack `native` below); the baseline runs under uvicorn. Figures are medians over runs; "
        "tidings and its baseline ran interleaved in the same run, so compare ratios, not "
        "absolute numbers (the machine is shared and noisy).",
        "",
        f"Reproduce: `{command}` ({seconds:.0f} s in total for this run).",
        "",
        "The ratio says how many times better tidings is: tidings/baseline for rates, "
        "baseline/tidings for latencies, times and memory (below 1: tidings is worse).",
        "",
        "| scenario | tidings | baseline | ratio | notes |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [f"| {r.scenario} | {r.tidings} | {r.baseline} | {r.ratio} | {r.note} |" for r in rows]
    if detail:
        lines += [
            "",
            "## SSE fan-out, every step",
            "",
            "Offered deliveries/s rise until a step saturates (delivered < 85 % of offered, p99 > 1 s, or "
            "any loss). Offered is what the server's emitter achieved: below the rate asked for, the "
            "server was the limit. Latency: the load generator subtracts the emit time carried in each "
            "event; "
            "`lost`/`disorder` are counted per connection by sequence numbers. CPU is the share of one "
            "core used by the server and by both load generators together: a server near 100 % is the "
            "side that saturated. Both servers call `gc.freeze()` once their streams are open.",
            "",
            "| stack | conns | channels | run | offered/s | delivered/s | p50 ms | p99 ms | lost | disorder "
            "| server CPU | load CPU |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *detail,
        ]
    if page_detail:
        lines += [
            "",
            "## Page shape and end to end, every step",
            "",
            "Every stream is on `broadcast` and its own `user-<i>`; `requested` is the broadcast "
            "deliveries/s asked for, and user events add 1 % of it, spread round-robin over the user "
            "channels. `offered` is what the emitter achieved. The load generators parse every frame and "
            "check every event's sequence number per (connection, channel): lost, duplicate, disorder, and "
            "foreign (another user's event). CPU is the share of one core (server, both load generators, "
            "the separate emitter). `load1` is the 1-minute load average just before the step; `busy` "
            "marks a step that started with more runnable work than cores.",
            "",
            "| scenario | stack | streams | run | requested/s | offered/s | delivered/s | p50 ms | p99 ms "
            "| lost | dup | disorder | foreign | server CPU | load CPU | emitter CPU | load1 |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            *page_detail,
        ]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, one of each (~2 min)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; choose from {SCENARIOS}")
    missing = [name for name in ("broadcaster", "sse_starlette") if importlib.util.find_spec(name) is None]
    if missing:
        parser.error(f"the baselines are not installed ({', '.join(missing)}): pip install -e '.[dev,bench]'")
    raise_fd_limit()
    install_uvloop()
    from tests.support.redis_server import RedisServer

    runs = 1 if args.quick else 3
    started = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    rows: list[Row] = []
    detail: list[str] = []
    server = RedisServer().start() if {"emit", "latency", "history", "presence"} & set(wanted) else None
    try:
        if "emit" in wanted:
            rows += emit_rows(server.url, runs, 1.0 if args.quick else 2.0)  # type: ignore[union-attr]
            log("emit done")
        if "latency" in wanted:
            rows += latency_rows(server.url, runs, 1.5 if args.quick else 3.0)  # type: ignore[union-attr]
            log("latency done")
        if "history" in wanted:
            rows += history_rows(server.url, runs)  # type: ignore[union-attr]
            log("history done")
        if "presence" in wanted:
            rows += presence_rows(server.url, runs, args.quick)  # type: ignore[union-attr]
            log("presence done")
    finally:
        if server is not None:
            server.stop()
    if "fanout" in wanted:
        more, detail = fanout_rows(args.quick, runs, 1.0 if args.quick else 1.5, log)
        rows += more
        log("fanout done")
    if "fanout-metrics" in wanted:
        rows += metrics_rows(args.quick, runs, 1.0 if args.quick else 1.5, log)
        log("fanout-metrics done")
    page_detail: list[str] = []
    page_conns = int(os.environ.get("BENCH_PAGE_CONNS", "5000"))
    for scenario in ("pageshape", "e2e"):
        if scenario in wanted:
            more, steps = page_rows(
                page_conns, runs, 1.0 if args.quick else 1.5, redis=scenario == "e2e", log=log
            )
            rows += more
            page_detail += steps
            log(f"{scenario} done")
    if "memory" in wanted:
        rows += memory_rows(runs, 5000)
        log("memory done")
    if "churn" in wanted:
        rows += churn_rows(runs, 2000 if args.quick else 10_000)
        log("churn done")
    if "api-emits" in wanted:
        rows += api_emit_rows(runs, 2.0 if args.quick else 5.0)
        log("api-emits done")
    command = ".venv/bin/python -m bench" + (" --quick" if args.quick else "")
    if args.only != ",".join(SCENARIOS):
        command += f" --only {args.only}"
    if page_conns != 5000 and {"pageshape", "e2e"} & set(wanted):
        command = f"BENCH_PAGE_CONNS={page_conns} {command}"
    if "BENCH_METRICS_CONNS" in os.environ and "fanout-metrics" in wanted:
        command = f"BENCH_METRICS_CONNS={os.environ['BENCH_METRICS_CONNS']} {command}"
    write_markdown(args.output, rows, detail, command, time.monotonic() - started, page_detail)
    with open(args.output) as handle:
        print(handle.read())
