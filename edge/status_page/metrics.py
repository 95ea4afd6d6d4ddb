"""``GET /metrics``: the gateway in the Prometheus text exposition format (version 0.0.4).

Built from the same view as the page plus process figures read from /proc, so a scraper sees what a person sees.
Every family is announced with HELP and TYPE once and its samples follow it together, as the format requires.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.alarms.events import AlarmState
from edge.rules.signals import Priority

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_number(value: float | int | None) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


@dataclass
class Family:
    name: str
    kind: str  # gauge | counter
    help: str
    samples: list[tuple[dict[str, str], float | int | None]] = field(default_factory=list)

    def add(self, value: float | int | None, **labels: str) -> None:
        self.samples.append((labels, value))

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}"]
        lines.append(f"# TYPE {self.name} {self.kind}")
        for labels, value in self.samples:
            if labels:
                text = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
                lines.append(f"{self.name}{{{text}}} {format_number(value)}")
            else:
                lines.append(f"{self.name} {format_number(value)}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ProcessFigures:
    rss_bytes: int
    cpu_seconds: float
    open_fds: int
    start_time_seconds: float

    @classmethod
    def read(cls) -> ProcessFigures:
        rss = 0
        try:
            with open("/proc/self/statm", encoding="ascii") as statm:
                rss = int(statm.read().split()[1]) * _PAGE_SIZE
        except (OSError, ValueError, IndexError):
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak, where /proc is missing
        times = os.times()
        try:
            fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            fds = -1
        return cls(rss, times.user + times.system, fds, _process_start_wall())


def _process_start_wall() -> float:
    """Wall-clock start of this process from /proc (boot time + start ticks), else now."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of proc(5), counted after the command name
        with open("/proc/stat", encoding="ascii") as proc_stat:
            btime = next(int(line.split()[1]) for line in proc_stat if line.startswith("btime "))
        return btime + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


def render_metrics(view: Mapping[str, Any], process: ProcessFigures, *, requests: Mapping[str, int]) -> str:
    gw = view["gateway"]
    families: list[Family] = []

    def family(name: str, kind: str, help_text: str) -> Family:
        f = Family(name, kind, help_text)
        families.append(f)
        return f

    family("minegate_gateway_info", "gauge", "The gateway this process runs (always 1).").add(
        1, gateway=gw["id"], site=gw["site"], jurisdiction=gw["jurisdiction"]
    )
    family("minegate_uptime_seconds", "gauge", "Seconds since the gateway started.").add(gw["uptime_s"])
    family("minegate_healthy", "gauge", "1 when no task of the gateway is faulted.").add(gw["healthy"])
    family(
        "minegate_safety_functions_ok", "gauge", "1 while every task the local safety functions need is running."
    ).add(gw["safety_functions_ok"])
    faults = family("minegate_task_fault", "gauge", "1 for each task that is faulted now (restarting or refused).")
    for task in sorted(gw["task_faults"]):
        faults.add(1, task=task)
    family("minegate_task_faults", "gauge", "How many tasks are faulted now.").add(len(gw["task_faults"]))
    family("minegate_readings_total", "counter", "Readings delivered by the bus owners since start.").add(
        gw["readings_seen"]
    )

    value = family("minegate_reading_value", "gauge", "Latest value of each point (NaN when it has none).")
    good = family("minegate_reading_good", "gauge", "1 when the point's latest reading is of good quality.")
    age = family("minegate_reading_age_seconds", "gauge", "Seconds since the point's latest reading.")
    for p in view["points"]:
        value.add(p["value"], point=p["point_id"], unit=p["unit"], quality=p["quality"])
        good.add(p["quality"] == "good", point=p["point_id"])
        if p["age_s"] is not None:
            age.add(p["age_s"], point=p["point_id"])

    counts = {(s.value, pr.name.lower()): 0 for s in AlarmState for pr in Priority}
    statutory_active = 0
    for a in view["alarms"]:
        counts[(a["state"], a["priority"])] += 1
        statutory_active += bool(a["statutory"] and a["state"] in (AlarmState.UNACK.value, AlarmState.ACKED.value))
    alarms = family("minegate_alarms", "gauge", "Standing alarms by state and priority (normal = cleared but latched).")
    for (state, priority), n in counts.items():
        alarms.add(n, state=state, priority=priority)
    family("minegate_alarms_statutory_active", "gauge", "Statutory alarms whose condition is active.").add(
        statutory_active
    )
    family("minegate_alarm_flood", "gauge", "1 while the alarm flood suppression is on.").add(gw["flood"])

    outputs = family("minegate_output_active", "gauge", "1 while an output (relay) is driven to its alarm state.")
    output_faults = family("minegate_output_fault", "gauge", "1 while an output's write or read-back fails.")
    for o in view["outputs"]:
        outputs.add(o["active"], output=o["name"])
        output_faults.add(o["fault"] is not None, output=o["name"])

    dtn = view["dtn"]
    if dtn.get("queue") is not None:
        depth = family("minegate_dtn_queue_bundles", "gauge", "Bundles in the DTN store by priority class.")
        size = family("minegate_dtn_queue_bytes", "gauge", "Bytes in the DTN store by priority class.")
        for cls in dtn["queue"]:
            depth.add(dtn["queue"][cls], **{"class": cls})
            size.add(dtn["queue_bytes"][cls], **{"class": cls})
        family("minegate_dtn_store_capacity_bytes", "gauge", "Capacity of the DTN store.").add(dtn["capacity_bytes"])
        family("minegate_dtn_refused_full_total", "counter", "Bundles refused because only alarms remained.").add(
            dtn["refused_full"]
        )
        up = family("minegate_dtn_peer_up", "gauge", "1 while a contact with the peer is up.")
        contacts = family("minegate_dtn_peer_contacts_total", "counter", "Contacts made with the peer since start.")
        for c in dtn["contacts"]:
            up.add(c["up"], peer=c["peer"])
            contacts.add(c["contacts"], peer=c["peer"])
        family("minegate_dtn_contacts_up", "gauge", "Peers in contact now.").add(sum(c["up"] for c in dtn["contacts"]))

    latency = family("minegate_inference_seconds", "gauge", "Latest inference time of each model task.")
    miners = view["miners"]
    if miners["configured"]:
        latency.add(miners["last_cycle_s"], task="localization")
        family("minegate_localization_miners", "gauge", "Miners on the location table.").add(len(miners["miners"]))
        family("minegate_localization_cycles_total", "counter", "Location table updates since start.").add(
            miners["cycles"]
        )
    hazard = view["hazard"]
    if hazard["configured"]:
        latency.add(hazard["last_decision_s"], task="hazard")
        family("minegate_hazard_open_warnings", "gauge", "Early warnings open now.").add(len(hazard["open_warnings"]))
    cameras = view["cameras"]
    if cameras["configured"]:
        healthy = family("minegate_camera_healthy", "gauge", "1 while the camera streams with no health condition.")
        analysed = family("minegate_camera_frames_analysed_total", "counter", "Frames the detector analysed.")
        for c in cameras["cameras"]:
            healthy.add(c["healthy"], camera=c["camera_id"])
            analysed.add(c["frames_analysed"], camera=c["camera_id"])
            latency.add(c["latency_p50_s"], task=f"camera:{c['camera_id']}")

    served = family("minegate_status_page_requests_total", "counter", "Requests the status page answered, by status.")
    for code, n in sorted(requests.items()):
        served.add(n, code=code)

    family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.").add(process.rss_bytes)
    family("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.").add(
        process.cpu_seconds
    )
    family("process_open_fds", "gauge", "Number of open file descriptors.").add(process.open_fds)
    family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch.").add(
        process.start_time_seconds
    )
    return "\n".join(f.render() for f in _non_empty(families)) + "\n"


def _non_empty(families: Iterable[Family]) -> Iterable[Family]:
    return (f for f in families if f.samples)
