"""DTN crash and partition benchmark: a chain of fixed gateways and a surface sink as separate processes, SIGKILLed.

Topology: ``g5 -> g4 -> g3 -> g2 -> g1 -> sink`` (``--gateways`` of them, static routing, hop distance = index),
each a real ``python -m edge.cli dtn node`` process with its own SQLite store, CurveZMQ keys and ipc:// sockets.
A producer thread injects bundles at the far end (``dtn_inject`` on g5's control socket: BULK in batches, an
ALARM every few batches); a bundle is *acknowledged* when g5's reply says ``stored`` -- the reply is sent only
after the durable put. Meanwhile the chaos loop, one action per iteration:

- SIGKILL a random node (any gateway or the sink) at a random moment of its traffic, restart it after a random
  pause (these are the counted ``kill -9`` iterations);
- every few iterations, a partition: SIGSTOP a middle gateway for longer than the contact timeout (both its
  links die), then SIGCONT;
- now and then a clean stop (SIGTERM) and restart.

Every node also runs with ``--kill-at``: it SIGKILLs itself with a small probability at the dangerous points --
a received bundle durable but not yet acknowledged, a peer's acknowledgement received but the local copy not yet
removed, right after the removal. A node found dead is restarted (counted as ``self_kills``).

At the end everything is resumed and the chain drains. The sink's delivery log records every first delivery
(``STORED``) as its own row, so a bundle delivered twice is two rows. Figures: iterations, acknowledged,
delivered, lost (acknowledged, not delivered), duplicates (delivered more than once), time. Then alarms ahead of
bulk, measured twice: (a) flowing chain: ``--hol-bulk`` BULK injected at g5, then one ALARM -- how many of that
bulk reach the sink before the alarm; (b) cut and restored: the sink is stopped, the same bulk is injected and held
along the chain (each gateway advertises "no way to the surface" while cut off), an alarm follows it, the sink is
started -- the alarm's position among the deliveries.

Power cut (``--power-cut-every N``): every Nth kill of a gateway also discards every write its process had not
fsynced, through an LD_PRELOAD undo-log shim (``benchmarks/powercut.py``; copying the files after SIGKILL would
not do: the page cache survives a process crash). The sink is never power-cut: its delivery log is written without
fsync, so a power cut there would erase the evidence of duplicates rather than test anything.

Run: ``python -m benchmarks.dtn_crash`` (200 kills, a few minutes); ``--kills 5`` for a quick look.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks._common import NOISE_NOTE, markdown_table, python_env, write_result
from benchmarks.powercut import Restored, build_shim, restore, shim_env
from edge.control import ControlError, request
from edge.dtn.bundle import BundleId
from edge.dtn.deliveries import Delivery, read_deliveries
from edge.dtn.keys import generate

NAME = "dtn_crash"
SINK = "sink"
DEFAULT_KILL_AT = {"stored": 0.0005, "custody": 0.0005, "removed": 0.0005}


@dataclass(frozen=True)
class NodeDef:
    node_id: str
    config: Path
    control: str
    data_dir: Path


class NodeProc:
    """One DTN node process: start, SIGKILL, SIGSTOP/SIGCONT, clean stop, and a readiness check."""

    def __init__(
        self,
        node: NodeDef,
        log_dir: Path,
        *,
        kill_at: Mapping[str, float],
        seed: int,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.node = node
        self.env = dict(env or {})
        self.log_path = log_dir / f"{node.node_id}.log"
        self.kill_at = dict(kill_at)
        self.seed = seed
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.starts = 0

    def start(self) -> None:
        args = [sys.executable, "-m", "edge.cli", "dtn", "node", "--config", str(self.node.config)]
        args += ["--log-level", "warning", "--seed", str(self.seed + self.starts)]
        for point, p in self.kill_at.items():
            if p > 0:
                args += ["--kill-at", f"{point}={p}"]
        with self.log_path.open("ab") as log:
            env = {**python_env(), **self.env}
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.paused = False
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.paused = False

    def pause(self) -> None:
        if self.alive() and self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if self.proc is not None and self.paused:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.resume()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"node {self.node.node_id} exited at start; see {self.log_path}")
            with contextlib.suppress(ControlError):
                if request(self.node.control, {"cmd": "dtn_status"}, timeout_s=0.5).get("ok"):
                    return
        raise RuntimeError(f"node {self.node.node_id} did not answer within {timeout_s:g} s; see {self.log_path}")


class Chain:
    """Node files, keys and processes of ``g<N> -> ... -> g1 -> sink`` under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        gateways: int = 5,
        heartbeat_s: float = 0.2,
        dead_after_s: float = 1.0,
        credit: int = 64,
        kill_at: Mapping[str, float] | None = None,
        seed: int = 1,
        power_cut_shim: Path | None = None,
    ) -> None:
        self.root = root
        self.gateways = [f"g{i}" for i in range(1, gateways + 1)]
        # ipc paths must stay under ~100 bytes: a short directory of their own.
        self.sock_dir = Path(tempfile.mkdtemp(prefix="dtn-", dir="/tmp"))
        keys = root / "keys"
        for node in [*self.gateways, SINK]:
            generate(keys, node)
        self.nodes: dict[str, NodeDef] = {}
        link = {"heartbeat": f"{heartbeat_s}s", "dead_after": f"{dead_after_s}s", "credit": credit}
        for index, node in enumerate([SINK, *self.gateways]):
            uplink = None if node == SINK else ([SINK, *self.gateways][index - 1])
            downlink = self.gateways[index] if index < len(self.gateways) else None
            peers: list[dict[str, Any]] = []
            if uplink is not None:
                peers.append({"id": uplink, "endpoint": self.listen(uplink)})
            if downlink is not None:
                peers.append({"id": downlink})
            section: dict[str, Any] = {
                "id": node,
                "role": "surface" if node == SINK else "fixed",
                "data_dir": f"data/{node}",
                "keys_dir": "keys",
                "listen": self.listen(node),
                "control": f"ipc://{self.sock_dir}/{node}.ctl",
            }
            if node != SINK:
                section["hops_to_surface"] = index
            body: dict[str, Any] = {"node": section, "peers": peers, "link": link}
            if node == SINK:
                body["sink"] = {"delivery_log": True}
            path = root / f"{node}.yaml"
            path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
            self.nodes[node] = NodeDef(node, path, section["control"], root / "data" / node)
        log_dir = root / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        points = DEFAULT_KILL_AT if kill_at is None else kill_at
        self.power_cut_shim = power_cut_shim
        self.procs = {
            name: NodeProc(node, log_dir, kill_at=points, seed=seed * 1000 + i * 100, env=self._env(name))
            for i, (name, node) in enumerate(self.nodes.items())
        }

    def undo_dir(self, node: str) -> Path:
        return self.root / "undo" / node

    def _env(self, node: str) -> dict[str, str]:
        # Gateways only: the sink's delivery log is written without fsync (see edge.dtn.deliveries), so a power
        # cut there would erase the very rows that show duplicates.
        if self.power_cut_shim is None or node == SINK:
            return {}
        return shim_env(self.power_cut_shim, self.nodes[node].data_dir, self.undo_dir(node))

    def power_cut(self, node: str) -> Restored:
        """SIGKILL ``node`` and discard every write it had not synced; the caller restarts it."""
        proc = self.procs[node]
        if self.power_cut_shim is None or node == SINK:
            raise ValueError(f"node {node} does not run under the power-cut shim")
        if proc.proc is not None and proc.alive():
            # A power cut of a process that wrote without the shim would silently keep every unsynced write.
            maps = Path(f"/proc/{proc.proc.pid}/maps").read_text(encoding="utf-8")
            if str(self.power_cut_shim) not in maps:
                raise RuntimeError(f"node {node} (pid {proc.proc.pid}) runs without the power-cut shim loaded")
        proc.kill9()
        return restore(self.nodes[node].data_dir, self.undo_dir(node))

    def listen(self, node: str) -> str:
        return f"ipc://{self.sock_dir}/{node}.sock"

    @property
    def far_end(self) -> str:
        return self.gateways[-1]

    def start_all(self) -> None:
        for proc in self.procs.values():
            proc.start()
        for proc in self.procs.values():
            proc.wait_ready()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    def close(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(Exception):
                proc.kill9()
        shutil.rmtree(self.sock_dir, ignore_errors=True)

    def restart_dead(self) -> list[str]:
        """Start every node that is not running (it killed itself at a kill point); returns their ids."""
        dead = [name for name, proc in self.procs.items() if not proc.alive()]
        for name in dead:
            self.procs[name].start()
        for name in dead:
            with contextlib.suppress(RuntimeError):  # it may kill itself again at once; the next round restarts it
                self.procs[name].wait_ready()
        return dead

    def inject(self, node: str, bundles: Sequence[Mapping[str, Any]], *, timeout_s: float = 5.0) -> list[list[str]]:
        reply = request(self.nodes[node].control, {"cmd": "dtn_inject", "bundles": list(bundles)}, timeout_s=timeout_s)
        if not reply.get("ok"):
            raise ControlError(str(reply.get("error")))
        results: list[list[str]] = reply["results"]
        return results

    def status(self, node: str, *, timeout_s: float = 3.0) -> dict[str, Any]:
        reply = request(self.nodes[node].control, {"cmd": "dtn_status"}, timeout_s=timeout_s)
        if not reply.get("ok"):
            raise ControlError(str(reply.get("error")))
        return reply

    def held(self, node: str) -> dict[str, int]:
        classes = self.status(node)["store"]["classes"]
        return {name: int(c["count"]) for name, c in classes.items()}

    def deliveries(self) -> list[Delivery]:
        path = self.nodes[SINK].data_dir / "deliveries.sqlite"
        return read_deliveries(path) if path.exists() else []


# ---- the producer ---------------------------------------------------------------------------------------


@dataclass
class Produced:
    acked: set[BundleId] = field(default_factory=set)
    acked_alarms: set[BundleId] = field(default_factory=set)
    offered: int = 0
    failed_requests: int = 0
    not_stored: Counter[str] = field(default_factory=Counter)


class Producer(threading.Thread):
    """Injects at the far end until stopped: ``batch`` BULK per request, an ALARM every ``alarm_every`` batches."""

    def __init__(self, chain: Chain, *, batch: int, alarm_every: int, interval_s: float, rng: random.Random) -> None:
        super().__init__(name="dtn-producer", daemon=True)
        self.chain = chain
        self.batch = batch
        self.alarm_every = alarm_every
        self.interval_s = interval_s
        self.rng = rng
        self.stopping = threading.Event()
        self.result = Produced()
        self._counter = 0

    def run(self) -> None:
        batches = 0
        while not self.stopping.is_set():
            bundles: list[dict[str, Any]] = []
            for _ in range(self.batch):
                self._counter += 1
                bundles.append({"priority": "bulk", "kind": "test", "body": {"p": self._counter, "pad": "x" * 64}})
            batches += 1
            if batches % self.alarm_every == 0:
                self._counter += 1
                bundles.append({"priority": "alarm", "kind": "alarm", "body": {"p": self._counter}})
            self.result.offered += len(bundles)
            try:
                results = self.chain.inject(self.chain.far_end, bundles, timeout_s=3.0)
            except ControlError:
                self.result.failed_requests += 1  # killed or paused mid-request: none of these is acknowledged
                self.stopping.wait(0.2)
                continue
            for (text, accept), spec in zip(results, bundles, strict=True):
                if accept == "stored":
                    bid = BundleId.parse(text)
                    self.result.acked.add(bid)
                    if spec["priority"] == "alarm":
                        self.result.acked_alarms.add(bid)
                else:
                    self.result.not_stored[accept] += 1
            self.stopping.wait(self.interval_s * (0.5 + self.rng.random()))


# ---- the run ---------------------------------------------------------------------------------------------


@dataclass
class CrashSettings:
    gateways: int = 5
    kills: int = 200
    partition_every: int = 10  # a SIGSTOP partition every this many iterations
    clean_restart_every: int = 25
    batch: int = 20
    alarm_every: int = 5
    interval_s: float = 0.1
    heartbeat_s: float = 0.2
    dead_after_s: float = 1.0
    kill_at: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_KILL_AT))
    settle_timeout_s: float = 120.0
    hol_bulk: int = 1000
    hol_cut_and_restore: bool = True
    power_cut_every: int = 0  # every Nth SIGKILL of a gateway is a power cut (unsynced writes discarded); 0: none
    seed: int = 1


@dataclass
class CrashReport:
    iterations: int = 0  # external SIGKILLs (power cuts included)
    power_cuts: int = 0  # of those, SIGKILL + every unsynced write discarded (benchmarks.powercut)
    writes_undone: int = 0  # unsynced writes the power cuts discarded
    self_kills: int = 0  # restarts after a --kill-at SIGKILL
    partitions: int = 0
    clean_restarts: int = 0
    offered: int = 0
    acknowledged: int = 0
    acknowledged_alarms: int = 0
    delivered: int = 0  # acknowledged bundles found in the sink's delivery log
    delivered_total: int = 0  # every distinct bundle the sink took (acknowledged or not)
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    recovered_log_rows: int = 0
    failed_requests: int = 0
    not_stored: dict[str, int] = field(default_factory=dict)
    chaos_seconds: float = 0.0
    settle_seconds: float = 0.0
    seconds: float = 0.0
    kills_by_node: dict[str, int] = field(default_factory=dict)
    hol: dict[str, Any] = field(default_factory=dict)


def run(root: Path, settings: CrashSettings, *, log: Any = None) -> CrashReport:
    """The whole scenario in ``root``; returns the figures (asserts nothing)."""
    say = log or (lambda text: None)
    rng = random.Random(settings.seed)
    report = CrashReport()
    started = time.monotonic()
    chain = Chain(
        root,
        gateways=settings.gateways,
        heartbeat_s=settings.heartbeat_s,
        dead_after_s=settings.dead_after_s,
        kill_at=settings.kill_at,
        seed=settings.seed,
        power_cut_shim=build_shim() if settings.power_cut_every else None,
    )
    kills: Counter[str] = Counter()
    try:
        chain.start_all()
        say(f"chain of {settings.gateways} gateways + sink up after {time.monotonic() - started:.1f} s")
        producer = Producer(
            chain,
            batch=settings.batch,
            alarm_every=settings.alarm_every,
            interval_s=settings.interval_s,
            rng=random.Random(rng.getrandbits(64)),
        )
        producer.start()
        chaos_started = time.monotonic()
        middle = chain.gateways[1:-1] or chain.gateways
        for iteration in range(1, settings.kills + 1):
            report.self_kills += len(chain.restart_dead())
            time.sleep(rng.uniform(0.05, 0.6))
            if settings.partition_every and iteration % settings.partition_every == 0:
                victim = chain.procs[rng.choice(middle)]
                victim.pause()
                time.sleep(settings.dead_after_s * rng.uniform(1.5, 3.0))
                victim.resume()
                report.partitions += 1
            if settings.clean_restart_every and iteration % settings.clean_restart_every == 0:
                victim = chain.procs[rng.choice(chain.gateways)]
                victim.stop()
                time.sleep(rng.uniform(0.0, 0.5))
                victim.start()
                with contextlib.suppress(RuntimeError):
                    victim.wait_ready()
                report.clean_restarts += 1
            name = rng.choice([*chain.gateways, SINK])
            if settings.power_cut_every and name != SINK and iteration % settings.power_cut_every == 0:
                report.writes_undone += chain.power_cut(name).writes
                report.power_cuts += 1
            else:
                chain.procs[name].kill9()
            kills[name] += 1
            report.iterations += 1
            time.sleep(rng.uniform(0.0, 0.3))
            chain.procs[name].start()
            with contextlib.suppress(RuntimeError):
                chain.procs[name].wait_ready()
            if iteration % 20 == 0:
                say(
                    f"  {iteration} kills, {len(producer.result.acked)} acknowledged, "
                    f"{report.self_kills} self-kills, {time.monotonic() - chaos_started:.0f} s"
                )
        producer.stopping.set()
        producer.join()
        report.chaos_seconds = time.monotonic() - chaos_started

        # Drain: no more faults (kill points off by restarting every node without them), everything resumed.
        settle_started = time.monotonic()
        report.self_kills += sum(1 for proc in chain.procs.values() if not proc.alive())
        for proc in chain.procs.values():
            proc.resume()
            proc.stop()
            proc.kill_at = {}
            proc.start()
        for proc in chain.procs.values():
            proc.wait_ready()
        produced = producer.result
        deadline = time.monotonic() + settings.settle_timeout_s
        while time.monotonic() < deadline:
            delivered_ids = {d.bid for d in chain.deliveries()}
            if produced.acked <= delivered_ids and all(sum(chain.held(g).values()) == 0 for g in chain.gateways):
                break
            time.sleep(0.5)
        time.sleep(1.0)  # a late duplicate would show up now
        report.settle_seconds = time.monotonic() - settle_started
        rows = chain.deliveries()
        counts = Counter(d.bid for d in rows)
        report.offered = produced.offered
        report.acknowledged = len(produced.acked)
        report.acknowledged_alarms = len(produced.acked_alarms)
        report.delivered = len(produced.acked & set(counts))
        report.delivered_total = len(counts)
        report.lost = sorted(str(b) for b in produced.acked - set(counts))
        report.duplicates = sorted(str(b) for b, n in counts.items() if n > 1)
        report.recovered_log_rows = sum(1 for d in rows if d.recovered)
        report.failed_requests = produced.failed_requests
        report.not_stored = dict(produced.not_stored)
        report.kills_by_node = dict(kills)
        say(
            f"settled in {report.settle_seconds:.1f} s: {report.acknowledged} acknowledged, {report.delivered} "
            f"delivered, {len(report.lost)} lost, {len(report.duplicates)} duplicates"
        )
        report.hol = measure_alarm_ahead(chain, settings, say=say)
    finally:
        chain.close()
    report.seconds = time.monotonic() - started
    return report


def _positions(rows: Sequence[Delivery], bulk: set[BundleId], alarm: BundleId) -> dict[str, Any]:
    order = {d.bid: d.n for d in rows}
    alarm_n = order.get(alarm)
    bulk_ns = sorted(order[b] for b in bulk if b in order)
    before = sum(1 for n in bulk_ns if alarm_n is not None and n < alarm_n)
    return {
        "bulk": len(bulk),
        "bulk_delivered": len(bulk_ns),
        "alarm_delivered": alarm_n is not None,
        "bulk_before_alarm": before,
        "share_before_alarm": before / len(bulk) if bulk else 0.0,
    }


def _wait_delivered(chain: Chain, ids: set[BundleId], timeout_s: float) -> list[Delivery]:
    deadline = time.monotonic() + timeout_s
    rows = chain.deliveries()
    while time.monotonic() < deadline and not ids <= {d.bid for d in rows}:
        time.sleep(0.2)
        rows = chain.deliveries()
    return rows


def _inject_ids(chain: Chain, bundles: Sequence[Mapping[str, Any]]) -> list[BundleId]:
    out: list[BundleId] = []
    for start in range(0, len(bundles), 500):
        results = chain.inject(chain.far_end, bundles[start : start + 500], timeout_s=30.0)
        if any(accept != "stored" for _, accept in results):
            raise RuntimeError(f"the far end did not store every bundle: {Counter(a for _, a in results)}")
        out += [BundleId.parse(text) for text, _ in results]
    return out


def measure_alarm_ahead(chain: Chain, settings: CrashSettings, *, say: Any) -> dict[str, Any]:
    """Alarms ahead of bulk: (a) in a flowing chain, (b) after a cut to the surface is restored."""
    out: dict[str, Any] = {}
    pad = "y" * 256
    bulk = [{"priority": "bulk", "kind": "test", "body": {"hol": i, "pad": pad}} for i in range(settings.hol_bulk)]
    alarm = [{"priority": "alarm", "kind": "alarm", "body": {"hol": "alarm"}}]

    bulk_ids = set(_inject_ids(chain, bulk))
    (alarm_id,) = _inject_ids(chain, alarm)
    rows = _wait_delivered(chain, bulk_ids | {alarm_id}, settings.settle_timeout_s)
    out["flowing"] = _positions(rows, bulk_ids, alarm_id)
    say(f"alarm after {settings.hol_bulk} bulk, flowing chain: {out['flowing']}")

    if settings.hol_cut_and_restore:
        sink = chain.procs[SINK]
        sink.stop()
        # Wait until the cut is known along the chain (every gateway advertises "no way to the surface"), so the
        # bulk is not still flowing into g1 when it is injected.
        deadline = time.monotonic() + settings.settle_timeout_s
        while time.monotonic() < deadline and any(
            chain.status(g)["hops_to_surface"] is not None for g in chain.gateways
        ):
            time.sleep(0.1)
        bulk_ids = set(_inject_ids(chain, bulk))
        # With the surface cut, every gateway soon advertises "no way to the surface" and holds what it has:
        # the bulk stays spread along the chain (mostly at the far end). Wait until nothing moves any more.
        previous: list[int] = []
        while time.monotonic() < deadline:
            held = [chain.held(g)["bulk"] for g in chain.gateways]
            if sum(held) >= len(bulk_ids) and held == previous:
                break
            previous = held
            time.sleep(0.5)
        (alarm_id,) = _inject_ids(chain, alarm)
        out["cut_held_bulk_by_gateway"] = dict(zip(chain.gateways, previous, strict=True))
        sink.start()
        sink.wait_ready()
        rows = _wait_delivered(chain, bulk_ids | {alarm_id}, settings.settle_timeout_s)
        out["cut_and_restored"] = _positions(rows, bulk_ids, alarm_id)
        # Bulk held nearer the surface than the alarm (which is at the far end) may rightly arrive first.
        out["cut_and_restored"]["bulk_held_nearer_surface"] = sum(previous[:-1])
        say(
            f"alarm behind {settings.hol_bulk} bulk held along the cut chain {out['cut_held_bulk_by_gateway']}, "
            f"sink restarted: {out['cut_and_restored']}"
        )
    return out


@contextlib.contextmanager
def workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="dtn-crash-") as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=200, help="external SIGKILL iterations")
    parser.add_argument("--gateways", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hol-bulk", type=int, default=1000)
    parser.add_argument("--no-kill-points", action="store_true", help="nodes never SIGKILL themselves")
    parser.add_argument(
        "--power-cut-every",
        type=int,
        default=4,
        help="every Nth kill of a gateway discards its unsynced writes (needs cc; 0: plain kill -9 only)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="work in this directory and keep it (logs, stores)")
    args = parser.parse_args(argv)
    settings = CrashSettings(
        gateways=args.gateways,
        kills=args.kills,
        seed=args.seed,
        hol_bulk=args.hol_bulk,
        power_cut_every=args.power_cut_every,
    )
    if args.no_kill_points:
        settings.kill_at = {}
    with workdir(args.keep) as root:
        report = run(root, settings, log=print)
    rows = [
        ("kill -9 iterations (external)", report.iterations),
        ("  of which power cuts (unsynced writes discarded)", report.power_cuts),
        ("  unsynced writes discarded by them", report.writes_undone),
        ("self-kills at kill points", report.self_kills),
        ("partitions (SIGSTOP > contact timeout)", report.partitions),
        ("clean restarts", report.clean_restarts),
        ("bundles offered", report.offered),
        ("acknowledged (durable at g-far)", report.acknowledged),
        ("  of which alarms", report.acknowledged_alarms),
        ("acknowledged and delivered", report.delivered),
        ("lost", len(report.lost)),
        ("duplicates delivered", len(report.duplicates)),
        ("delivered in total (incl. unacknowledged)", report.delivered_total),
        ("delivery-log rows recovered at sink start", report.recovered_log_rows),
        ("chaos time s", f"{report.chaos_seconds:.1f}"),
        ("drain time s", f"{report.settle_seconds:.1f}"),
        ("total time s", f"{report.seconds:.1f}"),
    ]
    for case in ("flowing", "cut_and_restored"):
        figures = report.hol.get(case)
        if figures is None:
            continue
        rows.append(
            (
                f"alarm ahead of bulk ({case})",
                f"{figures['bulk_before_alarm']} of {figures['bulk']} bulk delivered before the alarm",
            )
        )
    print(markdown_table(["figure", "value"], rows))
    print(f"kills by node: {report.kills_by_node}")
    print(NOISE_NOTE)
    result = asdict(report)
    result["settings"] = asdict(settings)
    path = write_result(NAME, result)
    print(f"result: {path}")
    return 0 if not report.lost and not report.duplicates else 1


if __name__ == "__main__":
    raise SystemExit(main())
