"""The workflow on a real Slurm cluster, through profiles/slurm and snakemake-executor-plugin-slurm.

A session fixture brings up a one-node Slurm on this machine: Debian's ``slurmctld``, ``slurmd``
and ``munge`` (installed with apt-get when absent), a private ``munged`` (own key and socket), and
a minimal ``/etc/slurm/slurm.conf`` (that path, because ``srun`` inside a job ignores
``SLURM_CONF``). It needs root; without root, apt-get, or with another Slurm controller already
running here, the tests skip with the reason. At teardown it cancels what is left in the queue,
stops the daemons it started (by pid) and puts back any slurm.conf it replaced.

There is no accounting database (slurmdbd), so job states come from ``squeue`` (``MinJobAge`` keeps
finished jobs listed for an hour) and from the ``jobcomp/filetxt`` log, one line per finished job
with its ``JobState`` and ``ExitCode``: that file is the cluster's own record that a job ran and how
it ended.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, copy_workflow

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SLURM_CONF = Path("/etc/slurm/slurm.conf")
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "sinfo", "scancel")
LOCK = Path(tempfile.gettempdir()) / "creator-workflow-slurm-test.lock"
SBIN = os.pathsep.join(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=SBIN)


def _running(names: tuple[str, ...]) -> list[str]:
    """Processes on this machine whose command name is one of ``names`` (read from /proc)."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() in names:
                found.append(f"{comm.read_text().strip()} (pid {comm.parent.name})")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_slurm() -> None:
    """apt-get install Debian's Slurm and munge when a binary is missing; skip when that cannot be done."""
    missing = [b for b in BINARIES if not _which(b)]
    if not missing:
        return
    if not shutil.which("apt-get"):
        pytest.skip(f"Slurm is not installed ({', '.join(missing)} missing) and there is no apt-get to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd, limit in ((["apt-get", "update", "-qq"], 300),
                       (["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], 900)):
        try:
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            pytest.skip(f"Slurm could not be installed: {' '.join(cmd)} took more than {limit} s")
        if p.returncode != 0:
            pytest.skip(f"Slurm could not be installed: {' '.join(cmd)} failed: {(p.stderr or p.stdout)[-500:]}")
    missing = [b for b in BINARIES if not _which(b)]
    if missing:
        pytest.skip(f"Slurm installed but {', '.join(missing)} not found")


class MiniSlurm:
    """A one-node Slurm cluster (controller and compute node on this machine) for the tests."""

    def __init__(self, root: Path, node: str):
        self.root = root
        self.node = node
        self.cpus = min(2, os.cpu_count() or 1)
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        self.mem_mb = int(mem_kb / 1024 * 0.8)
        self.jobcomp = root / "jobcomp.txt"
        self.procs: list[subprocess.Popen] = []
        self._saved_conf: bytes | None = None
        self._saved_mode = 0o644
        self._made_dir = False

    # -- configuration --------------------------------------------------------------------------
    def conf_text(self) -> str:
        r = self.root
        return "\n".join([
            "# Written by tests/test_slurm.py for a one-node test cluster; removed at teardown.",
            "ClusterName=creatortest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={r / 'munge.socket'}",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "MpiDefault=none",
            "ReturnToService=2",
            "SchedulerType=sched/backfill",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.jobcomp}",
            "MinJobAge=3600",
            "KillWait=5",
            "InactiveLimit=0",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} State=UNKNOWN",
            f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ])

    def _write_conf(self) -> None:
        if SLURM_CONF.exists():
            self._saved_conf = SLURM_CONF.read_bytes()
            self._saved_mode = SLURM_CONF.stat().st_mode & 0o7777
        elif not SLURM_CONF.parent.exists():
            SLURM_CONF.parent.mkdir(parents=True)
            self._made_dir = True
        SLURM_CONF.write_text(self.conf_text())
        SLURM_CONF.chmod(0o644)

    def _restore_conf(self) -> None:
        if self._saved_conf is not None:
            SLURM_CONF.write_bytes(self._saved_conf)
            SLURM_CONF.chmod(self._saved_mode)
        else:
            SLURM_CONF.unlink(missing_ok=True)
            if self._made_dir:
                with contextlib.suppress(OSError):
                    SLURM_CONF.parent.rmdir()

    # -- daemons --------------------------------------------------------------------------------
    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.stdout", "w")
        p = subprocess.Popen([_which(name), *args], stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def start(self) -> None:
        r = self.root
        for d in ("state", "spool"):
            (r / d).mkdir(mode=0o700)
        key = r / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self._start("munged", ["--foreground", "--force", f"--socket={r / 'munge.socket'}", f"--key-file={key}",
                               f"--pid-file={r / 'munged.pid'}", f"--log-file={r / 'munged.log'}",
                               f"--seed-file={r / 'munged.seed'}"])
        self._wait(lambda: (r / "munge.socket").exists(), 30, "munged did not create its socket")
        self._write_conf()
        self._start("slurmctld", ["-D", "-i"])
        self._wait(lambda: self.cmd(["scontrol", "ping"], check=False).returncode == 0, 60,
                   "slurmctld did not answer scontrol ping")
        self._start("slurmd", ["-D", "-N", self.node])
        self._wait(lambda: self.node_state() == "idle", 90, "the node did not become idle")

    def stop(self) -> None:
        try:
            if any(p.poll() is None for p in self.procs):
                self.cmd(["scancel", "--full", f"--nodelist={self.node}"], check=False)
                with contextlib.suppress(AssertionError):
                    self._wait(lambda: not self.cmd(["squeue", "-h", "-t", "PD,R,CG"], check=False).stdout.strip(),
                               30, "")
        finally:
            for p in reversed(self.procs):  # slurmd, slurmctld, munged: only what this fixture started
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(20)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait(10)
            self._restore_conf()

    def cmd(self, args: list[str], check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        p = subprocess.run([_which(args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed: {p.stderr}")
        return p

    def node_state(self) -> str:
        p = self.cmd(["sinfo", "-h", "-N", "-n", self.node, "-o", "%T"], check=False)
        return p.stdout.strip().rstrip("*~#!%$@^-")

    def _wait(self, ready, timeout: float, message: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise AssertionError(f"{dead[0].args[0]} exited ({dead[0].returncode}); logs:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise AssertionError(f"{message}; logs:\n{self.logs()}")

    def logs(self) -> str:
        out = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log", "munged.stdout", "slurmctld.stdout",
                     "slurmd.stdout"):
            path = self.root / name
            if path.exists():
                out.append(f"--- {name}\n" + path.read_text()[-3000:])
        return "\n".join(out)

    def finished_jobs(self) -> dict[str, dict[str, str]]:
        """Slurm job id -> fields of its jobcomp/filetxt line (JobState, ExitCode, JobName, ...)."""
        jobs = {}
        if self.jobcomp.exists():
            for line in self.jobcomp.read_text().splitlines():
                fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
                if "JobId" in fields:
                    jobs[fields["JobId"]] = fields
        return jobs


@pytest.fixture(scope="session")
def slurm():
    if sys.platform != "linux":
        pytest.skip("the Slurm test runs on Linux only")
    if os.geteuid() != 0:
        pytest.skip("the Slurm test needs root: it writes /etc/slurm/slurm.conf and runs slurmctld/slurmd")
    with open(LOCK, "w") as lock:
        end = time.monotonic() + 1200
        while True:  # another test session on this machine may hold the one slurm.conf (or dpkg)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    pytest.skip(f"another Slurm test held {LOCK} for 20 minutes")
                time.sleep(2)
        install_slurm()
        others = _running(("slurmctld", "slurmd"))
        if others:
            pytest.skip(f"Slurm daemons are already running here ({', '.join(others)}); "
                        "the test starts its own one-node cluster")
        node = socket.gethostname().split(".")[0]
        root = Path(tempfile.mkdtemp(prefix="creator-slurm-"))
        cluster = MiniSlurm(root, node)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()
            shutil.rmtree(root, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# The workflow through profiles/slurm
# ----------------------------------------------------------------------------------------------
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")


def write_test_profile(wd: Path, cluster: MiniSlurm) -> Path:
    """profiles/slurm for the one-node test cluster, written into the workflow copy.

    Kept as in profiles/slurm: the executor, retries, per-rule threads, per-rule memory expressions
    (growing with ``attempt``) and runtimes. Changed for this cluster: no GPU partition and no GPUs,
    threads capped at its CPUs and memory at half its RealMemory, no account, job states from
    squeue (no slurmdbd), a first status check after 7 s (a job here takes about 5 s) and then every
    3 s (not 10: the suite's time), successful jobs' logs kept, 3 jobs at a time.
    """
    prof = yaml.safe_load((REPO / "profiles/slurm/config.v8+.yaml").read_text())
    cap = cluster.mem_mb // 2

    def adapt(res: dict) -> dict:
        res = dict(res)
        res.pop("slurm_partition", None)
        if "gpu" in res:
            res["gpu"] = 0
        if "mem_mb" in res:
            res["mem_mb"] = f"min({res['mem_mb']}, {cap})"
        return res

    prof["default-resources"] = adapt(prof["default-resources"])
    prof["set-resources"] = {rule: adapt(res) for rule, res in prof["set-resources"].items()}
    prof["set-threads"] = {rule: min(int(n), cluster.cpus) for rule, n in prof["set-threads"].items()}
    prof.update({"jobs": 3, "latency-wait": 5, "slurm-no-account": True, "slurm-status-command": "squeue",
                 "seconds-between-status-checks": 3,
                 "slurm-init-seconds-before-status-checks": 7, "slurm-keep-successful-logs": True})
    path = wd / "profiles" / "slurm-test" / "config.v8+.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(prof, sort_keys=False))
    return path


def snakemake(wd: Path, args: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=wd, capture_output=True, text=True,
                          timeout=timeout)


def rule_of(slurm_log: str) -> str:
    """The rule of a job from its sbatch log path (.snakemake/slurm_logs/rule_<name>/<wildcards>/<id>.log)."""
    return next(p[len("rule_"):] for p in Path(slurm_log).parts if p.startswith("rule_"))


def tres(job: dict[str, str]) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in job.get("Tres", "").split(",") if "=" in kv)


def mem_mb(value: str) -> int:
    units = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    return int(float(value[:-1]) * units[value[-1]]) if value[-1] in units else int(value)


TEST_TRACKS = ("CTCF", "DNase", "H3K27ac")


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory, slurm):
    """The workflow with the test profile, and the synthetic config on a sample sheet cut down to
    cellA's CTCF, DNase, H3K27ac and RNA-seq (13 jobs rather than 26: the test is about Slurm)."""
    wd = copy_workflow(tmp_path_factory.mktemp("slurm") / "wf")
    write_test_profile(wd, slurm)
    lines = (wd / "config/samples.synthetic.tsv").read_text().splitlines()
    keep = [ln for ln in lines if ln.startswith(("#", "cell_type\t"))
            or ln.split("\t")[:3:2] in (["cellA", a] for a in (*TEST_TRACKS, "rnaseq"))]
    (wd / "config/samples.slurm-test.tsv").write_text("\n".join(keep) + "\n")
    syn = yaml.safe_load((wd / "config/synthetic.yaml").read_text())
    syn["samples"] = "config/samples.slurm-test.tsv"
    (wd / "config/slurm-test.yaml").write_text(yaml.safe_dump(syn))
    return wd


def test_synthetic_jobs_run_on_slurm(workflow_copy, slurm):
    wd = workflow_copy
    targets = ["results/synthetic/features/cellA/signal.zarr", "results/synthetic/targets/cellA.parquet"]
    t0 = time.monotonic()
    p = snakemake(wd, [*targets, "--profile", "profiles/slurm-test", "--configfile", "config/slurm-test.yaml"])
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"snakemake failed:\n{out[-6000:]}\n{slurm.logs()}"
    submitted = SUBMITTED.findall(out)
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    rules = sorted(rule_of(log) for _, _, log in submitted)
    # simulate, 9 downloads (5 reference files, 3 bigWigs, 1 RNA-seq table), reference, features, targets
    assert rules == sorted(["simulate", *["download"] * 9, "reference", "features", "targets"]), out[-3000:]
    assert len(re.findall(r"^rule (\w+):", out, flags=re.M)) == len(submitted)  # every job went to Slurm

    # Slurm's own record: every submitted job ran under this run's job name and completed
    finished = slurm.finished_jobs()
    for _, slurm_id, log in submitted:
        job = finished.get(slurm_id)
        assert job is not None, f"Slurm job {slurm_id} is not in the jobcomp log"
        assert job["JobState"] == "COMPLETED" and job["ExitCode"] == "0:0", job
        assert job["Name"] == run_id and job["Partition"] == "debug"
        assert Path(log).is_file()  # the job's sbatch log (kept for successful jobs in the test profile)

    # the profile's per-rule resources reached sbatch: features asks for 2 threads and 6000 MB
    by_rule = {rule_of(log): slurm_id for _, slurm_id, log in submitted}
    feat = tres(finished[by_rule["features"]])
    assert int(feat["cpu"]) == min(2, slurm.cpus) and mem_mb(feat["mem"]) == min(6000, slurm.mem_mb // 2)

    import pandas as pd
    import zarr

    arr = zarr.open_array(str(wd / targets[0]), mode="r")
    assert arr.shape[1:] == (50, 16) and arr.shape[0] > 100
    assert arr.attrs["present_tracks"] == list(TEST_TRACKS)
    assert len(pd.read_parquet(wd / targets[1])) > 50
    print(f"\n{len(submitted)} Slurm jobs completed in {time.monotonic() - t0:.0f} s")


def test_failing_job_is_reported_failed(workflow_copy, slurm):
    """A job that exits non-zero is FAILED in Slurm and reported failed with its reason. A download
    that fails for good (md5 mismatch) is not submitted again (rule download has retries: 0); a job
    of another rule is resubmitted with more memory (the profile's retries, for out-of-memory kills)."""
    wd = workflow_copy
    cfg = yaml.safe_load((wd / "config/slurm-test.yaml").read_text())
    cfg["reference"]["ccres"]["md5"] = "0" * 32  # the cCRE download stops with an md5 mismatch
    cfg["download"]["dir"] = "resources/synthetic/data_bad"
    (wd / "config/bad.yaml").write_text(yaml.safe_dump(cfg))
    target = "resources/synthetic/data_bad/reference/ccres.bed"
    p = snakemake(wd, [target, "--profile", "profiles/slurm-test", "--configfile", "config/bad.yaml"])
    out = p.stdout + p.stderr
    assert p.returncode != 0, out[-3000:]
    submitted = [s for s in SUBMITTED.findall(out) if rule_of(s[2]) == "download"]
    assert len(submitted) == 1, out[-3000:]  # not submitted again: an md5 mismatch is final
    finished = slurm.finished_jobs()
    _, slurm_id, log = submitted[0]
    job = finished[slurm_id]
    assert job["JobState"] == "FAILED" and job["ExitCode"] != "0:0", job
    assert f"SLURM-job '{slurm_id}' failed, SLURM status is: 'FAILED'" in out
    assert Path(log).is_file()  # the failed job's sbatch log is kept
    assert "creator download: error:" in Path(log).read_text()  # the job's console
    assert "Error in rule download" in out
    rule_log = wd / "results/synthetic/logs/download/reference/ccres.bed.log"
    assert rule_log.read_text().count("md5 mismatch") == 1 and "md5 mismatch" in out  # the reason, shown by the head
    assert not (wd / target).exists()

    # a targets job that fails (a TPM that is not a number) is resubmitted with more memory each time
    sheet = (wd / "config/samples.slurm-test.tsv").read_text()
    bad_table = wd / "resources/bad_rnaseq.tsv"
    bad_table.write_text("gene_id\tTPM\nENSG00000000001\tx\n")
    lines = [ln if not ln.startswith("cellA\t") or ln.split("\t")[2] != "rnaseq" else
             "\t".join(["cellA", ln.split("\t")[1], "rnaseq", "resources/bad_rnaseq.tsv", ""])
             for ln in sheet.splitlines()]
    (wd / "config/samples.bad2.tsv").write_text("\n".join(lines) + "\n")
    cfg = yaml.safe_load((wd / "config/slurm-test.yaml").read_text())
    cfg["samples"] = "config/samples.bad2.tsv"
    (wd / "config/bad2.yaml").write_text(yaml.safe_dump(cfg))
    target = "results/synthetic/targets/cellA.parquet"
    p = snakemake(wd, [target, "--profile", "profiles/slurm-test", "--configfile", "config/bad2.yaml"])
    out = p.stdout + p.stderr
    assert p.returncode != 0, out[-3000:]
    submitted = [s for s in SUBMITTED.findall(out) if rule_of(s[2]) == "targets"]
    assert len(submitted) >= 2, out[-3000:]  # the first attempt and at least one retry
    finished = slurm.finished_jobs()
    mems = []
    for _, slurm_id, log in submitted:
        job = finished[slurm_id]
        assert job["JobState"] == "FAILED" and job["ExitCode"] != "0:0", job
        mems.append(mem_mb(tres(job)["mem"]))
    assert mems == sorted(mems) and mems[-1] > mems[0], mems  # memory grows with each attempt
    # the reason, with the file as configured (shown by the head from the rule's log: show-failed-logs)
    assert "resources/bad_rnaseq.tsv:2 [downloaded copy" in out and "TPM 'x' is not a non-negative number" in out
    assert not (wd / target).exists()
