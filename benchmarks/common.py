"""Shared helpers of the bbbcore benchmarks: timing, metadata, memory bandwidth, JSON, tables.

Timing: warm-up calls are excluded; each measurement repeats the call and reports the median and
the inter-quartile range (IQR) of the per-call times. On CUDA each call is bracketed by
``torch.cuda.Event`` records and the device is synchronised before the elapsed time is read; on the
CPU ``time.perf_counter`` brackets the call (the CPU ops are synchronous).

Nothing here runs inside the test suite.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"


# ----------------------------------------------------------------------------------- timing
@dataclass
class Timing:
    """Per-call times [s] of one measurement (warm-up excluded)."""

    times_s: list[float] = field(default_factory=list)
    warmup: int = 0
    cpu_s: list[float] = field(default_factory=list)  # process CPU time per call (CPU device only)

    @property
    def n(self) -> int:
        return len(self.times_s)

    @property
    def median_s(self) -> float:
        return float(np.median(self.times_s))

    @property
    def q1_s(self) -> float:
        return float(np.percentile(self.times_s, 25))

    @property
    def q3_s(self) -> float:
        return float(np.percentile(self.times_s, 75))

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    @property
    def min_s(self) -> float:
        return float(np.min(self.times_s))

    def cpu_utilization(self, threads: int) -> float | None:
        """Process CPU time / (wall time · threads), medians: ≈ 1 when every thread had a core to
        itself; well below 1 when other work shared the cores (or the threads idled)."""
        if not self.cpu_s or threads <= 0:
            return None
        return float(np.median(self.cpu_s)) / (self.median_s * threads)

    def summary(self) -> dict:
        """JSON-ready dict: median, q1, q3, iqr, min, n, warmup and the raw times [s]."""
        return {
            "median_s": self.median_s,
            "q1_s": self.q1_s,
            "q3_s": self.q3_s,
            "iqr_s": self.iqr_s,
            "min_s": self.min_s,
            "n": self.n,
            "warmup": self.warmup,
            "times_s": [float(t) for t in self.times_s],
            "cpu_s": [float(t) for t in self.cpu_s],
        }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    fn: Callable[[], object],
    *,
    device="cpu",
    warmup: int = 1,
    repeats: int = 5,
    min_repeats: int = 3,
    budget_s: float | None = None,
) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then up to ``repeats`` timed calls.

    Args:
        fn: the call to time (no arguments). Its result is dropped after each call.
        device: ``"cpu"`` or a CUDA device; on CUDA, events + synchronisation time the call.
        warmup: untimed calls first (compilation, allocator, page faults).
        repeats: timed calls at most.
        min_repeats: timed calls at least, whatever ``budget_s`` says.
        budget_s: stop repeating (after ``min_repeats``) once the timed calls add up to this.

    Returns:
        :class:`Timing` with the per-call times [s].
    """
    dev = torch.device(device)
    for _ in range(warmup):
        fn()
    _sync(dev)
    times: list[float] = []
    cpu: list[float] = []
    spent = 0.0
    for i in range(repeats):
        if dev.type == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            torch.cuda.synchronize(dev)
            dt = start.elapsed_time(stop) * 1e-3
        else:
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            cpu.append(time.process_time() - c0)
        times.append(dt)
        spent += dt
        if budget_s is not None and i + 1 >= min_repeats and spent >= budget_s:
            break
    return Timing(times_s=times, warmup=warmup, cpu_s=cpu)


# ---------------------------------------------------------------------------------- metadata
def machine_load(sample_s: float = 1.0) -> dict:
    """Load average and the fraction of CPU time busy over ``sample_s`` (from /proc/stat) while this
    process sleeps: other work on a shared machine shows up here and lowers CPU results."""
    out: dict = {}
    try:
        out["loadavg"] = list(os.getloadavg())
    except OSError:
        pass

    def read():
        with open("/proc/stat", encoding="utf-8") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait

    try:
        t0, i0 = read()
        time.sleep(sample_s)
        t1, i1 = read()
        out["cpu_busy_fraction"] = round(1.0 - (i1 - i0) / max(t1 - t0, 1), 3)
    except (OSError, ValueError, IndexError):
        pass
    return out


def _git(*args: str) -> str:
    try:
        r = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        return r.stdout.strip() if r.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def metadata(device="cpu") -> dict:
    """Everything needed to reproduce or compare a result: commit, versions, build, device,
    threads, machine load."""
    import bbbcore

    dev = torch.device(device)
    info = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "bbbcore": bbbcore.__version__,
        "build_info": bbbcore.build_info(),
        "hostname": platform.node(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gib": _mem_total_gib(),
        "torch_num_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "device": str(dev),
        "load_before": machine_load(),
    }
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        info["device_name"] = p.name
        info["device_memory_gib"] = round(p.total_memory / 2**30, 1)
        info["device_sm_count"] = p.multi_processor_count
        info["torch_cuda"] = torch.version.cuda
    else:
        info["device_name"] = cpu_model()
    return info


# -------------------------------------------------------------------------- child processes
CHILD_MARK = "@@BENCH_CHILD_RESULT@@"


def run_child_process(module: str, spec: dict, env: dict, label: str) -> dict:
    """Run ``python -m <module> --child <spec JSON>`` with ``env`` (e.g. thread counts fixed
    before any library starts its pools) and return the JSON the child printed after
    :data:`CHILD_MARK` (see :func:`print_child_result`)."""
    r = subprocess.run([sys.executable, "-m", module, "--child", json.dumps(spec)], cwd=REPO_ROOT, env=env,
                       stdout=subprocess.PIPE, text=True)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(CHILD_MARK)]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"CPU child {label} failed (rc {r.returncode}):\n{r.stdout[-2000:]}")
    return json.loads(lines[-1][len(CHILD_MARK):])


def print_child_result(result: dict) -> None:
    """The child's side of :func:`run_child_process`."""
    print(CHILD_MARK + json.dumps(result), flush=True)


# -------------------------------------------------------------------------- memory bandwidth
def memory_bandwidth(device="cpu", *, nbytes: int = 512 * 2**20, repeats: int = 7) -> dict:
    """Measured copy bandwidth [bytes/s] for roofline fractions (STREAM-copy convention).

    A copy of ``nbytes`` moves ``2·nbytes`` (read + write; write-allocate traffic is not counted,
    as in STREAM). On the CPU both a NumPy copy (one thread) and a torch ``copy_`` (torch's intra-op
    threads) are timed and the larger figure is the bandwidth; on CUDA a device-to-device
    ``copy_`` is timed with events.

    Returns:
        dict with ``bytes_per_s`` (best method's median), per-method medians and the size used.
    """
    dev = torch.device(device)
    n = nbytes // 4
    out: dict = {"device": str(dev), "nbytes": 4 * n, "bytes_moved_per_copy": 8 * n}
    if dev.type == "cuda":
        src = torch.ones(n, dtype=torch.float32, device=dev)
        dst = torch.empty_like(src)
        t = time_call(lambda: dst.copy_(src), device=dev, warmup=2, repeats=repeats)
        out["torch_copy_bytes_per_s"] = 8 * n / t.median_s
        out["bytes_per_s"] = out["torch_copy_bytes_per_s"]
        del src, dst
        return out
    a = np.ones(n, dtype=np.float32)
    b = np.empty_like(a)
    t_np = time_call(lambda: np.copyto(b, a), warmup=1, repeats=repeats)
    out["numpy_copy_bytes_per_s"] = 8 * n / t_np.median_s
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    t_t = time_call(lambda: tb.copy_(ta), warmup=1, repeats=repeats)
    out["torch_copy_bytes_per_s"] = 8 * n / t_t.median_s
    out["torch_threads"] = torch.get_num_threads()
    out["bytes_per_s"] = max(out["numpy_copy_bytes_per_s"], out["torch_copy_bytes_per_s"])
    return out


# ------------------------------------------------------------------------------------ output
def timestamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Timing):
        return x.summary()
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        v = float(x)
        return v if np.isfinite(v) else None
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (torch.device, Path)):
        return str(x)
    if hasattr(x, "__dataclass_fields__"):
        return _jsonable(asdict(x))
    return x


def write_json(name: str, payload: dict, path: str | os.PathLike | None = None) -> Path:
    """Write ``payload`` to ``path`` (default ``benchmarks/out/<name>-<timestamp>.json``).

    Returns:
        the path written."""
    p = Path(path) if path else OUT_DIR / f"{name}-{timestamp()}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "w", encoding="utf-8") as fh:
        json.dump(_jsonable(payload), fh, indent=1, allow_nan=False)
        fh.write("\n")
    return p


def fmt(v, digits: int = 3) -> str:
    """Compact number formatting for tables: 3 significant digits, engineering-friendly."""
    if v is None:
        return "-"
    if isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if not np.isfinite(v):
        return str(v)
    if v == 0.0:
        return "0"
    if 1e-3 <= abs(v) < 1e5:
        s = f"{v:.{digits}g}"
        return s
    return f"{v:.{digits - 1}e}"


def print_table(
    rows: Sequence[dict],
    columns: Iterable[tuple[str, str]] | None = None,
    title: str | None = None,
    file=None,
) -> str:
    """Print rows (dicts) as an aligned text table and return it.

    Args:
        rows: one dict per row.
        columns: ``(key, header)`` pairs; default every key of the first row.
        title: printed above the table.
    """
    file = sys.stdout if file is None else file
    rows = list(rows)
    cols = list(columns) if columns is not None else [(k, k) for k in (rows[0] if rows else {})]
    cells = [[h for _, h in cols]] + [[fmt(r.get(k)) for k, _ in cols] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    lines = []
    if title:
        lines.append(title)
    for j, c in enumerate(cells):
        lines.append("  ".join(s.rjust(w) for s, w in zip(c, widths)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text, file=file, flush=True)
    return text
