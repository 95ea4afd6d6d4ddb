"""Building the hazard task for a gateway: the model through every check, the channel map, the text encoder.

``build_hazard_task`` raises ``HazardTaskRefused`` naming what failed (no model yet, a model refused by the loader
or by the hazard contract, a mapping that does not fit); the gateway then raises a malfunction and runs without
early warnings. The text encoder is loaded only when the gateway keeps a logbook; if it cannot be loaded, or is
not the encoder the model was trained with, log entries are left out (the text modality masked, as for a gateway
without a logbook) and the task still runs on sensors and camera.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from edge.camera.features import CameraFeatures
from edge.clock import Clock
from edge.config.resolved import DeviceSpec, InstrumentSpec
from edge.hazard.alarm_level import face_alarm_level
from edge.hazard.availability import fitted_mask
from edge.hazard.channels import ChannelMap, ChannelMapError
from edge.hazard.composer import WarningComposer
from edge.hazard.config import HazardSection
from edge.hazard.hazard_model import HazardModel, HazardModelRefused
from edge.hazard.site_model import SPARSE_SITE_MODEL, is_sparse_site
from edge.hazard.task import HazardTask, LogSource
from edge.hazard.text_vectors import TextVectors
from edge.models_dir import shipped_model
from edge.rules.signals import ConditionChange
from edge.rules.thresholds import PointRules
from edge.text.encoder import Encoder

log = logging.getLogger(__name__)


class HazardTaskRefused(RuntimeError):
    """The hazard task cannot run on this gateway; the message says why and what to do."""


def model_dir_of(section: HazardSection) -> Path:
    """The configured model, else the shipped model for this site's channel mapping (``edge.hazard.site_model``):
    the sparse-site model when more than one channel is unmapped and it is shipped, the full-section model
    otherwise."""
    if section.model_dir:
        return Path(section.model_dir)
    sparse = shipped_model(SPARSE_SITE_MODEL)
    if is_sparse_site(fitted_mask(section.channels)) and (sparse / "manifest.json").is_file():
        return sparse
    return shipped_model("hazard")


def load_hazard_model(section: HazardSection) -> HazardModel:
    # Imported here: onnxruntime costs memory that a gateway without the hazard task keeps.
    from edge.inference.manifest import ManifestError  # noqa: PLC0415
    from edge.inference.model import ModelRefused, load_model  # noqa: PLC0415

    model_dir = model_dir_of(section)
    if not (model_dir / "manifest.json").is_file():
        raise HazardTaskRefused(
            f"no hazard model in {model_dir} (no manifest.json): export one (export/hazard) or point "
            "hazard.model_dir at it"
        )
    try:
        return HazardModel(load_model(model_dir, section.file, threads=section.threads))
    except (ModelRefused, ManifestError, HazardModelRefused, OSError, ValueError) as exc:
        raise HazardTaskRefused(f"hazard model refused: {exc}") from exc


def load_text_vectors(
    section: HazardSection, model: HazardModel, shared: Encoder | None = None
) -> tuple[TextVectors | None, str]:
    """The text encoder the model was trained with, or None and why not. ``shared`` (the logbook's encoder) is
    used when it is that encoder: a second MiniLM would cost another ~90 MiB and its load-time checks."""
    from edge.text.window import open_encoder  # noqa: PLC0415

    want = model.parameters.text_encoder
    if shared is not None and shared.name == want:
        return TextVectors(shared), ""
    spec = section.text_encoder or str(shipped_model("text", "minilm"))
    try:
        encoder = open_encoder(spec, threads=1)
    except Exception as exc:  # a refused file, a missing tokenizers package: text is optional, sensors are not
        return None, f"text encoder {spec} not loaded ({exc}); log entries are left out"
    if encoder.name != want:
        return None, (
            f"text encoder {encoder.name!r} is not the {want!r} the model was trained with; log entries are left out"
        )
    try:
        return TextVectors(encoder), ""
    except ValueError as exc:
        return None, f"{exc}; log entries are left out"


def build_hazard_task(
    section: HazardSection,
    *,
    jurisdiction: str,
    devices: Sequence[DeviceSpec],
    instruments: Sequence[InstrumentSpec],
    rules: Iterable[PointRules],
    clock: Clock,
    apply: Callable[[Iterable[ConditionChange]], None],
    camera: Callable[[], CameraFeatures | None] | None = None,
    logbook: Callable[[], LogSource | None] | None = None,
    with_text: bool = False,
    text_encoder: Encoder | None = None,
) -> HazardTask:
    points = [p for d in devices for p in d.points] + [p for i in instruments for p in i.points]
    rules = list(rules)
    basis = {r.point_id: r.lel_vol_percent for r in rules if r.lel_vol_percent is not None}
    try:
        channel_map = ChannelMap.build(section.channels, points, locations=section.locations, lel_basis=basis)
    except ChannelMapError as exc:
        raise HazardTaskRefused(str(exc)) from exc
    model = load_hazard_model(section)
    text, note = (
        load_text_vectors(section, model, text_encoder) if with_text else (None, "no logbook: log entries are not read")
    )
    if note and with_text:
        log.error("hazard: %s", note)
    composer = WarningComposer(channel_map, alarm_level=face_alarm_level(jurisdiction, rules, channel_map))
    task = HazardTask(
        model,
        channel_map,
        composer=composer,
        clock=clock,
        apply=apply,
        time_scale=section.time_scale,
        camera=camera,
        logbook=logbook,
        text=text,
        source=f"minegate hazard model {model.name} ({model.loaded.file.path})",
    )
    if note:
        task.text_note = note
    log.info(
        "hazard: model %s (%s on %s), %d channels mapped, decisions every %d s after %.0f s of history%s",
        model.name,
        model.loaded.file.path,
        model.loaded.backend_name,
        len(channel_map.channels),
        model.parameters.decision_period_s,
        model.parameters.min_history_s,
        f", time scale {section.time_scale:g} (simulation)" if section.time_scale != 1 else "",
    )
    return task
