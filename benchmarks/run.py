"""Common runner: ``python -m benchmarks.run [--quick] [--device cpu|cuda|all] [names...]``.

Runs ``benchmarks/bench_<name>.py``'s ``main(argv)`` for each name (default: every bench_*.py),
each of which prints its tables and writes ``benchmarks/out/<name>-<time>.json``; then writes an
index ``benchmarks/out/run-<time>.json`` holding every benchmark's JSON path and result.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

from benchmarks.common import BENCH_DIR, OUT_DIR, metadata, timestamp, write_json


def available() -> list[str]:
    return sorted(p.stem[len("bench_") :] for p in BENCH_DIR.glob("bench_*.py"))


def main(argv=None) -> int:
    names = available()
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(names)})")
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    p.add_argument("--device", choices=("cpu", "cuda", "all"), default="all")
    a = p.parse_args(argv)
    todo = a.names or names
    unknown = [n for n in todo if n not in names]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; available: {names}")
    stamp = timestamp()
    index = {
        "meta": metadata("cpu"),
        "quick": a.quick,
        "device": a.device,
        "results": {},
        "failed": {},
    }
    for name in todo:
        print(f"==== {name} ====", flush=True)
        mod = importlib.import_module(f"benchmarks.bench_{name}")
        argv_b = (["--quick"] if a.quick else []) + [
            "--device",
            a.device,
            "--out",
            str(OUT_DIR / f"{name}-{stamp}.json"),
        ]
        t0 = time.perf_counter()
        try:
            res = mod.main(argv_b)
            index["results"][name] = {
                "json": res.get("json_path"),
                "wall_s": time.perf_counter() - t0,
                "summary": res.get("summary"),
            }
        except Exception as e:  # one failing benchmark does not stop the others
            traceback.print_exc()
            index["failed"][name] = repr(e)
    path = write_json("run", index, OUT_DIR / f"run-{stamp}.json")
    print(f"\nindex: {path}")
    return 1 if index["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
