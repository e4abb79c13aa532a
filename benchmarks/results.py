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
