"""Client side: the CLI's start-up time, and a per-item run of 1,000 creates through the CLI.

    python bench/client.py [--quick] [--items 1000] [--concurrency 8]

Start-up is `parley --help`, timed by hyperfine when installed (else repeated subprocess runs);
the median is quoted against the 150 ms target. The per-item run is n8n's shape: one input
file, one `conversation create` per item, `--concurrency 8`, against a live `parley serve`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import server as parley_server

HERE = Path(__file__).resolve().parent
PARLEY = str(Path(sys.executable).parent / "parley")
STARTUP_TARGET_MS = 150.0


def startup_ms(runs: int) -> dict[str, object]:
    """Median wall time of `parley --help`, in milliseconds."""
    hyperfine = shutil.which("hyperfine")
    if hyperfine:
        with tempfile.TemporaryDirectory() as folder:
            export = Path(folder) / "startup.json"
            subprocess.run(
                [
                    hyperfine,
                    "--shell=none",
                    "--warmup",
                    "3",
                    "--runs",
                    str(runs),
                    "--export-json",
                    str(export),
                    f"{PARLEY} --help",
                ],
                check=True,
                capture_output=True,
            )
            result = json.loads(export.read_text())["results"][0]
            return {
                "tool": "hyperfine",
                "runs": runs,
                "median_ms": result["median"] * 1000,
                "min_ms": result["min"] * 1000,
                "max_ms": result["max"] * 1000,
            }
    times = []
    for n in range(runs + 3):
        started = time.perf_counter()
        subprocess.run([PARLEY, "--help"], check=True, capture_output=True)
        if n >= 3:  # the first runs warm the page cache
            times.append((time.perf_counter() - started) * 1000)
    return {
        "tool": "subprocess",
        "runs": runs,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
    }


def cli_has_per_item_runs() -> bool:
    """Whether this parley's CLI has `conversation create --input … --concurrency …`."""
    answer = subprocess.run(
        [PARLEY, "conversation", "create", "--help"], capture_output=True, text=True, check=False
    )
    return (
        answer.returncode == 0 and "--input" in answer.stdout and "--concurrency" in answer.stdout
    )


def per_item_run(items: int, concurrency: int, repeats: int) -> dict[str, object]:
    """``items`` creates through `parley conversation create --input`, timed end to end."""
    work = Path(tempfile.mkdtemp(prefix="parley-bench-cli-"))
    srv = parley_server.start(
        str(work / "parley.db"), work / "server.log", api_key=f"sk-bench-{uuid.uuid4().hex}"
    )
    try:
        source = work / "input.jsonl"
        with source.open("w") as out:
            for n in range(items):
                text = f"Hello from item {n}: can you help me plan three days in Lisbon?"
                out.write(json.dumps({"text": text, "n": str(n)}) + "\n")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "OPENAI_"))},
            "OPENAI_API_KEY": srv.api_key,
            "OPENAI_BASE_URL": f"{srv.url}/v1",
        }
        command = [
            PARLEY,
            "conversation",
            "create",
            "--input",
            str(source),
            "--concurrency",
            str(concurrency),
            "--message",
            "system:You are a helpful travel assistant.",
            "--message",
            "user:{{ $json.text }}",
            "--metadata",
            "workflow=bench",
            "--metadata",
            "item={{ $json.n }}",
        ]
        walls = []
        for _ in range(repeats):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            walls.append(time.perf_counter() - started)
            lines = [line for line in done.stdout.splitlines() if line.strip()]
            if done.returncode != 0 or len(lines) != items:
                raise RuntimeError(
                    f"per-item run failed (exit {done.returncode}, {len(lines)} lines):\n"
                    f"{done.stderr[-2000:]}"
                )
        wall = statistics.median(walls)
        return {
            "items": items,
            "concurrency": concurrency,
            "runs": repeats,
            "median_s": wall,
            "items_per_s": items / wall,
            "all_s": walls,
            "command": " ".join(command),
        }
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CLI start-up time and a per-item run")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    startup = startup_ms(10 if args.quick else 30)
    met = float(str(startup["median_ms"])) <= STARTUP_TARGET_MS
    print(
        f"\nclient: `parley --help` start-up, median of {startup['runs']} ({startup['tool']}): "
        f"{float(str(startup['median_ms'])):.0f} ms  [{'met' if met else 'MISSED'}: "
        f"<= {STARTUP_TARGET_MS:.0f} ms]"
    )
    results: dict[str, object] = {"startup": startup, "startup_target_met": met}
    if cli_has_per_item_runs():
        run = per_item_run(args.items, args.concurrency, 1 if args.quick else 3)
        results["per_item"] = run
        print(
            f"client: {run['items']} creates via `parley conversation create --input … "
            f"--concurrency {run['concurrency']}`: median {float(str(run['median_s'])):.2f} s "
            f"= {float(str(run['items_per_s'])):,.0f} items/s ({run['runs']} runs)"
        )
    else:
        results["per_item"] = "not measured: this CLI has no `conversation create --input`"
        print(f"client: {results['per_item']}")
    path = args.out / f"client-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    shutil.copyfile(path, args.out / "client-latest.json")
    print(f"client: wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
