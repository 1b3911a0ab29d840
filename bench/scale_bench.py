"""Scale benchmark: peak memory of a long scanned PDF, and pages per second for 1 and 2
local workers (--jobs) and for 1 and 2 Dask cluster workers, on the same pages.

    .venv/bin/python -m bench.scale_bench [--memory-pages 100,1000] [--speed-pages 40]
        [--jobs 2] [--skip-local] [--skip-cluster] [--skip-speed] [--json FILE]

Scanned PDFs are generated once into /tmp/dossier-scale/ (distinct A4 application forms,
200 dpi JPEG pages, invented people). Every run ingests into a fresh store through the
`dossier` command. Memory is the sum of the RSS of every process involved (the ingest
process, its worker processes and their Tesseract children; with a cluster, also the
scheduler and workers), sampled every 0.1 s; RSS counts shared pages once per process,
so the sum overstates a little (a worker's child caught between fork and exec, which
would count the worker's memory twice, is left out). Pages per second is the batch's
pages over its own measured seconds (the summary line), so interpreter start-up is left
out.

CPU seconds are reported per role, in total and per page: the submitting process (and
what it spent after the first page began to be read, start-up and imports left out),
the page workers with their Tesseract runs, and a Dask scheduler. On 2 cores, 2 workers
can only read 1.8x as fast as one when the submitter and the cluster's housekeeping
cost little beside the workers' pages: these figures say where the rest went, and they
hold on a loaded machine where wall-clock ratios do not. A benchmark, not a test:
nothing here asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.pages import Person, form_lines, render_page

ROOT = Path(__file__).resolve().parent.parent
WORK = Path("/tmp/dossier-scale")
SURNAMES = ["NGUYỄN", "TRẦN", "LÊ", "PHẠM", "HOÀNG", "VŨ", "ĐẶNG", "BÙI", "ĐỖ", "NGÔ"]
GIVEN = ["VĂN AN", "THỊ BÌNH", "MINH TUẤN", "THỊ LAN", "VĂN HÙNG", "THU HÀ", "QUỐC BẢO"]


# -- input -------------------------------------------------------------------------------


def person(number: int) -> Person:
    """An invented, distinct person per page (no page re-scans another)."""
    name = f"{SURNAMES[number % len(SURNAMES)]} {GIVEN[number // len(SURNAMES) % len(GIVEN)]}"
    born = f"{number % 28 + 1:02d}/{number % 12 + 1:02d}/{1950 + number % 50}"
    return Person(name, born, f"001{number:09d}", f"Số {number + 1} phố Hàng Bạc, Hà Nội")


def scanned_pdf(pages: int, dpi: int = 200, first: int = 0, folder: Path = WORK) -> Path:
    """A scanned PDF of `pages` distinct forms, people `first` on (made once, reused)."""
    import img2pdf
    from PIL import Image

    name = f"scan-{pages}p-{dpi}dpi.pdf" if first == 0 else f"scan-{first}+{pages}p-{dpi}dpi.pdf"
    path = folder / name
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    blobs = []
    for number in range(first, first + pages):
        image = Image.fromarray(render_page(form_lines(person(number)), dpi=dpi))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80, dpi=(dpi, dpi))
        blobs.append(buffer.getvalue())
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(img2pdf.convert(blobs))
    temporary.rename(path)
    return path


# -- processes and their memory -----------------------------------------------------------


class PeakMemory:
    """Samples the summed RSS of some process trees until stopped, and the CPU seconds
    each process spent meanwhile (own, and of its waited children: Tesseract)."""

    def __init__(self, roots: list[int], interval: float = 0.1):
        self.roots = roots
        self.interval = interval
        self.peak = 0
        self.submitter_peak = 0  # the ingest process alone
        self.series: list[int] = []  # RSS sums in order, to see growth, not only the peak
        # RSS per role in order (submitter, forkserver, page workers summed, the largest
        # worker alone, tesseract runs summed): which process grows with the page count.
        self.roles: list[dict[str, int]] = []
        # A worker starting Tesseract forks (vfork); until the child runs exec it shares
        # the worker's memory but reports all of it as its own RSS (measured: 179 MB for a
        # 150 MB parent, 7 of 1,030 samples): one such sample in a long run added ~120 MB
        # to the peak sum. Those children are left out, and counted here.
        self.spawns_seen = 0
        self._first: dict[int, tuple[float, float]] = {}  # pid -> (own, children) CPU
        self._last: dict[int, tuple[float, float]] = {}
        self._names: dict[int, str] = {}
        # Processes that wait for Tesseract children: their children's CPU is theirs.
        # (Other children's CPU is counted where it was spent, not again when reaped.)
        self._reapers: set[int] = set()
        # The submitter's CPU when the first page was being read: what it spent before
        # (interpreter start-up, imports, intake) is not a per-page cost.
        self._submitter_at_first_page: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total(self) -> int:
        seen: set[int] = set()
        total = 0
        roles: dict[str, int] = {}
        for root in self.roots:
            try:
                tree = [psutil.Process(root)]
                tree += tree[0].children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            for process in tree:
                if process.pid in seen:
                    continue
                seen.add(process.pid)
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    if self._before_exec(process):
                        self.spawns_seen += 1
                        continue
                    rss = process.memory_info().rss  # it may end between the two calls
                    total += rss
                    if process.pid == self.roots[0]:
                        self.submitter_peak = max(self.submitter_peak, rss)
                    self._sample_cpu(process)
                    role = self._role(process)
                    roles[role] = roles.get(role, 0) + rss
                    if role == "workers":
                        roles["largest_worker"] = max(roles.get("largest_worker", 0), rss)
        self.roles.append(roles)
        return total

    def _before_exec(self, process: psutil.Process) -> bool:
        """A child still running its parent's program, below a page worker: a spawn not
        yet exec'd (pool workers run the forkserver's program, as its children)."""
        parent = process.parent()
        if parent is None or parent.pid in self.roots or parent.ppid() in self.roots:
            return False
        return process.cmdline() == parent.cmdline()

    def _role(self, process: psutil.Process) -> str:
        if process.pid == self.roots[0]:
            return "submitter"
        name = self._names.get(process.pid, "")
        if process.name() == "tesseract":
            return "tesseract"
        if "forkserver" in name and process.ppid() == self.roots[0]:
            return "forkserver"  # the pool's workers are its children
        if "resource_tracker" in name:
            return "resource_tracker"
        return "workers"

    def _sample_cpu(self, process: psutil.Process) -> None:
        times = process.cpu_times()
        cpu = (times.user + times.system, times.children_user + times.children_system)
        self._first.setdefault(process.pid, cpu)
        self._last[process.pid] = cpu
        if process.pid not in self._names:
            self._names[process.pid] = " ".join(process.cmdline()[:4])
            if process.name() == "tesseract":
                self._reapers.add(process.ppid())
                if self._submitter_at_first_page is None and self.roots[0] in self._last:
                    self._submitter_at_first_page = self._last[self.roots[0]][0]

    def _run(self) -> None:
        while not self._stop.is_set():
            total = self._total()
            self.peak = max(self.peak, total)
            self.series.append(total)
            self._stop.wait(self.interval)

    def profile(self, points: int = 10) -> list[float]:
        """Peak MB in each tenth of the run: flat means memory does not grow with pages."""
        size = max(len(self.series) // points, 1)
        chunks = [self.series[i : i + size] for i in range(0, len(self.series), size)]
        return [round(max(chunk) / 1e6) for chunk in chunks if chunk]

    def role_profile(self, points: int = 10) -> dict[str, list[float]]:
        """Peak MB of each role in each tenth of the run."""
        size = max(len(self.roles) // points, 1)
        names = sorted({role for sample in self.roles for role in sample})
        chunks = [self.roles[i : i + size] for i in range(0, len(self.roles), size)]
        return {
            role: [round(max(s.get(role, 0) for s in chunk) / 1e6) for chunk in chunks]
            for role in names
        }

    def cpu(self) -> dict[str, float]:
        """CPU seconds spent during the run by the submitting process (the first root),
        by the page workers with their Tesseract runs, and by a Dask scheduler. Sampled,
        so the last 0.1 s of a process can be missed."""
        spent = {"submitter": 0.0, "submitter_while_reading": 0.0, "workers": 0.0}
        spent["scheduler"] = 0.0
        for pid, (own, children) in self._last.items():
            name = self._names.get(pid, "")
            if "tesseract" in name:
                continue  # counted by its parent once reaped
            first_own, first_children = self._first[pid]
            seconds = own - first_own
            if pid in self._reapers:
                seconds += children - first_children
            role = "submitter" if pid == self.roots[0] else "workers"
            spent["scheduler" if "dask_scheduler" in name else role] += seconds
            if pid == self.roots[0] and self._submitter_at_first_page is not None:
                spent["submitter_while_reading"] = own - self._submitter_at_first_page
        return {role: round(seconds, 2) for role, seconds in spent.items()}

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _environment() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    environment = {**os.environ, "PYTHONPATH": path}
    for name in ("DOSSIER_STORE", "DOSSIER_CLUSTER", "DOSSIER_JOBS"):
        environment.pop(name, None)
    return environment


@dataclass
class Run:
    label: str
    pages: int
    seconds: float  # the batch's own seconds
    peak_mb: float
    submitter_peak_mb: float
    failed: int
    profile_mb: list[float]
    roles_mb: dict[str, list[float]]  # per role, peak MB in each tenth of the run
    spawns: int  # child processes seen before their exec, not counted (see PeakMemory)
    cpu: dict[str, float]  # CPU seconds: the submitting process, the page workers
    load: tuple[float, float, float]  # load average when the run started

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "pages": self.pages,
            "seconds": round(self.seconds, 2),
            "pages_per_second": round(self.pages_per_second, 3),
            "peak_rss_mb": round(self.peak_mb, 1),
            "submitter_peak_rss_mb": round(self.submitter_peak_mb, 1),
            "failed": self.failed,
            "peak_rss_mb_per_tenth_of_the_run": self.profile_mb,
            "peak_rss_mb_by_role": {role: max(mb) for role, mb in self.roles_mb.items()},
            "samples_of_a_spawn_before_exec_left_out": self.spawns,
            "peak_rss_mb_by_role_per_tenth": self.roles_mb,
            "cpu_seconds": self.cpu,
            "cpu_seconds_per_page": {
                role: round(seconds / max(self.pages, 1), 3) for role, seconds in self.cpu.items()
            },
            "load_average_at_start": [round(x, 2) for x in self.load],
        }


def speed_input(pages: int, files: int, dpi: int) -> Path:
    """The speed runs' pages: one PDF, or a folder of `files` PDFs sharing them out (the
    same people either way)."""
    if files <= 1:
        return scanned_pdf(pages, dpi)
    folder = WORK / f"speed-{pages}p-{files}files-{dpi}dpi"
    size = -(-pages // files)
    for first in range(0, pages, size):
        scanned_pdf(min(size, pages - first), dpi, first, folder)
    return folder


def ingest(label: str, pdf: Path, options: list[str], watch: list[int] = ()) -> Run:
    """`dossier ingest PDF` into a fresh store, measured."""
    store = WORK / f"store-{label}"
    shutil.rmtree(store, ignore_errors=True)
    argv = [sys.executable, "-m", "cli", "-q", "ingest", str(pdf), "--store", str(store)]
    argv += [*options, "--json"]
    load = os.getloadavg()
    process = subprocess.Popen(
        argv, cwd=ROOT, env=_environment(), stdout=subprocess.PIPE, text=True
    )
    with PeakMemory([process.pid, *watch]) as memory:
        stdout, _ = process.communicate()
    if process.returncode not in (0, 1):
        raise SystemExit(f"{label}: dossier ingest exited {process.returncode}")
    summary = json.loads(stdout.strip().splitlines()[-1])["summary"]
    shutil.rmtree(store, ignore_errors=True)
    run = Run(
        label,
        summary["pages"],
        summary["seconds"],
        memory.peak / 1e6,
        memory.submitter_peak / 1e6,
        summary["failed"],
        memory.profile(),
        memory.role_profile(),
        memory.spawns_seen,
        memory.cpu(),
        load,
    )
    print(json.dumps(run.to_json()), file=sys.stderr, flush=True)
    return run


class Cluster:
    """A local Dask scheduler and `dossier worker` processes, for the cluster figures."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        self.processes: list[subprocess.Popen] = []
        self._start(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1"]
            + ["--port", str(port), "--no-dashboard"]
        )

    def _start(self, argv: list[str]) -> subprocess.Popen:
        log = (WORK / "cluster.log").open("ab")
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=_environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def workers(self, count: int) -> None:
        """One `dossier worker` with `count` worker processes (one thread each)."""
        self._start(
            [sys.executable, "-m", "cli", "worker", "--scheduler", self.address]
            + ["--nworkers", str(count), "--", "--no-dashboard"]
        )
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=120)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# -- the measurements ------------------------------------------------------------------------


def ratio(one: Run, two: Run) -> float:
    return round(two.pages_per_second / one.pages_per_second, 2) if one.pages_per_second else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory-pages", default="100,1000", help="Page counts (comma list).")
    parser.add_argument("--speed-pages", type=int, default=40)
    parser.add_argument(
        "--speed-files",
        type=int,
        default=1,
        help="Share the speed pages out over this many PDFs (a batch of several files: "
        "a file's documents are stored while the next file's pages are read).",
    )
    parser.add_argument("--jobs", type=int, default=2, help="Workers for the memory runs.")
    parser.add_argument("--dpi", type=int, default=200, help="Resolution of the scans.")
    parser.add_argument(
        "--ingest-options",
        default="",
        help='More options for every dossier ingest, e.g. "--dpi 100 --no-cleanup".',
    )
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args(argv)

    figures: dict = {"load_average_at_start": os.getloadavg(), "cpus": os.cpu_count()}
    common = args.ingest_options.split()
    memory = []
    for pages in [int(p) for p in args.memory_pages.split(",") if p]:
        pdf = scanned_pdf(pages, args.dpi)
        memory.append(ingest(f"memory-{pages}p", pdf, ["--jobs", str(args.jobs), *common]))
    figures["memory"] = [r.to_json() for r in memory]

    if not args.skip_speed:
        pdf = speed_input(args.speed_pages, args.speed_files, args.dpi)
        figures["speed_input"] = {"pages": args.speed_pages, "files": args.speed_files}
        if not args.skip_local:
            one = ingest("jobs-1", pdf, ["--jobs", "1", *common])
            two = ingest("jobs-2", pdf, ["--jobs", "2", *common])
            figures["local"] = {"jobs_1": one.to_json(), "jobs_2": two.to_json()}
            figures["local"]["ratio_2_over_1"] = ratio(one, two)
        if not args.skip_cluster:
            cluster_runs = []
            for count in (1, 2):
                cluster = Cluster()
                try:
                    cluster.workers(count)
                    label = f"cluster-{count}-worker{'s' if count > 1 else ''}"
                    options = ["--cluster", cluster.address, *common]
                    cluster_runs.append(ingest(label, pdf, options, cluster.pids))
                finally:
                    cluster.close()
            figures["cluster"] = {
                "workers_1": cluster_runs[0].to_json(),
                "workers_2": cluster_runs[1].to_json(),
                "ratio_2_over_1": ratio(*cluster_runs),
            }

    figures["load_average_at_end"] = os.getloadavg()
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
