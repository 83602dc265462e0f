"""Bulk throughput and memory of the real command on a generated NDJSON file (a script, not a test).

    python bench/bench_bulk.py                 # a 1 GB file (generated into a temp dir, deleted after)
    python bench/bench_bulk.py --size-mb 100   # quicker
    python bench/bench_bulk.py --repeat 1      # each migration once (default: 3 rounds)

In one run, on the same lines:
  bare orjson          loads + dumps of every line in one process: the floor for any per-record work
  migrate R4 -> R6     ``fhirconv migrate`` NDJSON -> NDJSON with --jobs 1 and --jobs 2
  JSON -> XML          ``fhirconv convert`` NDJSON -> one XML document per record (a folder)
  XML -> JSON          ``fhirconv convert`` that folder -> one NDJSON
and the peak resident memory of each run (the main process, and the sum over it and its workers,
sampled from /proc every 50 ms). A pure-Python loop on one and two processes is timed first, to
show what two cores give on this machine at this moment (on a shared machine, often less than 2x).
And the ceiling for splitting this very work in two: two independent one-job migrations of the
file's two halves, run side by side (no coordination at all, each with its own start-up).

On a shared machine one run of each can be off by several percent either way (other tenants,
the hypervisor taking time from a busy guest), so the two migrations are run in alternation,
``--repeat`` rounds, every run is printed, and the figures use each one's best run (noise only
ever adds time, as timeit reasons) with the median of the rounds' ratios beside them.

Targets (issue 5): migration with one job within 5x of bare orjson per record, >= 1.8x with two
jobs, and well under 300 MB resident on the 1 GB file.
"""

from __future__ import annotations

import argparse
import filecmp
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import generate  # noqa: E402  (the test suite's generator: realistic R4 ImagingStudy)


def generate_file(path: Path, size_mb: int) -> int:
    """Write full-size studies until the file holds ``size_mb`` MB; returns the record count."""
    limit = size_mb * 1024 * 1024
    written = count = 0
    with open(path, "wb", buffering=1 << 22) as out:
        for _, _, line in generate.lines(10 ** 9):
            out.write(line + b"\n")
            written += len(line) + 1
            count += 1
            if written >= limit:
                return count
    return count


def bare_orjson(path: Path) -> float:
    started = time.perf_counter()
    with open(path, "rb", buffering=1 << 22) as lines:
        for line in lines:
            orjson.dumps(orjson.loads(line))
    return time.perf_counter() - started


def api_loop(path: Path, sample: int = 3000) -> float:
    """Records/s of the public API alone (first ``sample`` lines): what the pipeline adds is the rest."""
    sys.path.insert(0, str(ROOT))
    import fhirconv
    with open(path, "rb") as lines:
        batch = [line for _, line in zip(range(sample), lines)]
    fhirconv.migrate(batch[0], source="R4", target="R6")          # tables compiled outside the timing
    started = time.perf_counter()
    for line in batch:
        fhirconv.migrate(line, source="R4", target="R6").to_bytes("json", pretty=False)
    return len(batch) / (time.perf_counter() - started)


def _tree_rss_kb(root: int) -> tuple[int, int]:
    """(main RSS, main + descendants RSS) in kB, from /proc."""
    def rss(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def children(pid: int) -> list[int]:
        found = []
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as kids:
                    found.extend(int(k) for k in kids.read().split())
        except OSError:
            pass
        return found

    main = rss(root)
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss(pid)
        stack.extend(children(pid))
    return main, total


def run_fhirconv(args: list[str], cwd: Path) -> dict:
    """Run the command, sampling memory; returns seconds, peak RSS (MB), exit code, summary line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "fhirconv", *args], cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks = [0, 0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            main, total = _tree_rss_kb(process.pid)
            peaks[0], peaks[1] = max(peaks[0], main), max(peaks[1], total)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    summary = stderr.decode().strip().splitlines()[-1] if stderr.strip() else ""
    return {"seconds": seconds, "main_mb": peaks[0] / 1024, "total_mb": peaks[1] / 1024,
            "code": process.returncode, "summary": summary}


def split_in_halves(source: Path) -> tuple[Path, Path]:
    """The file cut in two after the line that holds its middle byte, copied in bounded blocks."""
    size = source.stat().st_size
    halves = source.with_name("half-1.ndjson"), source.with_name("half-2.ndjson")
    with open(source, "rb") as whole:
        whole.seek(size // 2)
        whole.readline()
        middle = whole.tell()
        whole.seek(0)
        for half, length in zip(halves, (middle, size - middle)):
            with open(half, "wb") as out:
                while length:
                    block = whole.read(min(length, 16 << 20))
                    if not block:
                        raise SystemExit(f"{source} shrank while it was being split")
                    out.write(block)
                    length -= len(block)
    return halves


def halves_side_by_side(source: Path, cwd: Path) -> float:
    """Seconds for two one-job migrations of the file's halves, run at the same time."""
    halves = split_in_halves(source)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    runs = [subprocess.Popen([sys.executable, "-m", "fhirconv", "migrate", "--from", "R4", "--to", "R6",
                              str(half), "-o", f"{half.stem}.r6.ndjson", "--jobs", "1", "--quiet"],
                             cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for half in halves]
    codes = [run.wait() for run in runs]
    seconds = time.perf_counter() - started
    for half in halves:
        half.unlink()
    if any(codes):
        raise SystemExit(f"a half's migration failed: exit codes {codes}")
    return seconds


def _spin(n: int) -> float:
    started = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - started


def two_core_reference() -> float:
    """Speed-up of two processes over one on a pure-Python loop, right now on this machine."""
    n = 5_000_000
    one = _spin(n) * 2
    with multiprocessing.get_context("fork").Pool(2) as pool:
        started = time.perf_counter()
        pool.map(_spin, [n, n])
        two = time.perf_counter() - started
    return one / two


def _check(name: str, result: dict) -> None:
    if result["code"] != 0:
        print(f"  {name}: exit {result['code']}: {result['summary']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the generated NDJSON (default 1024)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of the two migrations, in alternation (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (its path is printed)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fhirconv-bench-"))
    try:
        source = work / "studies.ndjson"
        started = time.perf_counter()
        records = generate_file(source, args.size_mb)
        size = source.stat().st_size
        print(f"generated {records:,} R4 ImagingStudy, {size / 2**20:,.0f} MB "
              f"({size / records:,.0f} bytes/record) in {time.perf_counter() - started:.0f} s")
        print(f"two-core reference (pure-Python loop, 2 processes vs 1): {two_core_reference():.2f}x")
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
        print()

        floor = min(bare_orjson(source) for _ in range(max(1, args.repeat)))   # best, like the runs
        rows = [("bare orjson loads+dumps", floor, None)]
        migrations = [
            ("migrate R4->R6, 1 job", ["migrate", "--from", "R4", "--to", "R6", str(source), "-o", "r6-1.ndjson",
                                       "--jobs", "1", "--quiet"]),
            ("migrate R4->R6, 2 jobs", ["migrate", "--from", "R4", "--to", "R6", str(source), "-o", "r6-2.ndjson",
                                        "--jobs", "2", "--quiet"]),
        ]
        conversions = [
            ("JSON -> XML, 2 jobs", ["convert", str(source), "--to", "xml", "-o", "xml", "--jobs", "2", "--quiet"]),
            ("XML -> JSON, 2 jobs", ["convert", "xml", "-o", "back.ndjson", "--jobs", "2", "--quiet"]),
        ]
        results, peaks, rounds = {}, {}, []
        for round_number in range(1, max(1, args.repeat) + 1):
            seconds = {}
            for name, command in migrations:
                result = run_fhirconv(command, work)
                _check(name, result)
                seconds[name] = result["seconds"]
                if name not in results or result["seconds"] < results[name]["seconds"]:
                    results[name] = result            # the best run's time, the peak memory of all
                main_mb, total_mb = peaks.get(name, (0, 0))
                peaks[name] = max(main_mb, result["main_mb"]), max(total_mb, result["total_mb"])
            rounds.append(seconds)
            one, two = (seconds[name] for name, _ in migrations)
            print(f"round {round_number}: 1 job {one:.1f} s, 2 jobs {two:.1f} s: {one / two:.2f}x")
        for name, _ in migrations:
            results[name]["main_mb"], results[name]["total_mb"] = peaks[name]
        identical = filecmp.cmp(work / "r6-1.ndjson", work / "r6-2.ndjson", shallow=False)
        for name, _ in migrations:
            rows.append((name, results[name]["seconds"], results[name]))
        for name, command in conversions:
            result = results[name] = run_fhirconv(command, work)
            _check(name, result)
            rows.append((name, result["seconds"], result))
        print()
        print(f"{'':26}{'seconds':>9}{'records/s':>12}{'x orjson':>10}{'peak RSS main':>15}{'all procs':>11}")
        for name, seconds, result in rows:
            rate = records / seconds
            ratio = seconds / floor
            memory = f"{result['main_mb']:>12.0f} MB{result['total_mb']:>8.0f} MB" if result else ""
            print(f"{name:26}{seconds:>9.1f}{rate:>12,.0f}{ratio:>9.1f}x{memory:>26}")
        one, two = results["migrate R4->R6, 1 job"], results["migrate R4->R6, 2 jobs"]
        print()
        ratios = sorted(r[migrations[0][0]] / r[migrations[1][0]] for r in rounds)
        print(f"migration speed-up with 2 jobs: {one['seconds'] / two['seconds']:.2f}x (best runs of "
              f"{len(rounds)}; median of the rounds' ratios {statistics.median(ratios):.2f}x)")
        halves = halves_side_by_side(source, work)
        print(f"ceiling for a two-way split (the halves migrated by two one-job runs side by side): "
              f"{one['seconds'] / halves:.2f}x")
        print(f"migration, 1 job, per record vs bare orjson: {one['seconds'] / floor:.1f}x")
        print(f"peak RSS of any run: main {max(r['main_mb'] for r in results.values()):.0f} MB, "
              f"all processes {max(r['total_mb'] for r in results.values()):.0f} MB")
        api_rate = api_loop(source)
        print(f"for comparison, fhirconv.migrate() + to_bytes() in a loop, no pipeline: {api_rate:,.0f} records/s "
              f"(the pipeline with 1 job: {records / one['seconds']:,.0f}, start-up included)")
        print(f"--jobs 2 output byte-identical to --jobs 1: {identical}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
