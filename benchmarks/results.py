"""``benchmarks/RESULTS.md``: one file, one section per benchmark, each rewritten by its own run."""

from __future__ import annotations

import os
import platform as pyplatform
import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLE = "# Benchmark results\n"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {cpu}, Python {pyplatform.python_version()}, "
        f"{pyplatform.system()}"
    )


def update_section(name: str, text: str) -> None:
    """Replace (or append) the section ``name``; other benchmarks' sections are kept."""
    start, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    block = f"{start}\n{text.strip()}\n{end}\n"
    current = RESULTS.read_text() if RESULTS.exists() else TITLE
    if start not in current:
        if "<!-- section:" not in current:
            current = TITLE  # the old single-benchmark layout is replaced whole
        RESULTS.write_text(current.rstrip() + "\n\n" + block)
        return
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end) + r"\n?", re.S)
    RESULTS.write_text(pattern.sub(lambda _: block, current))


def parse_wrk(out: str) -> dict[str, float]:
    """p50/p90/p99 (ms) and req/s from ``wrk --latency`` output; non-2xx answers fail."""
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError(f"{non2xx.group(1)} failed requests:\n{out}")

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"p50_ms": ms("50"), "p90_ms": ms("90"), "p99_ms": ms("99"), "rps": rps}
