"""The ``cameras:`` configuration as pydantic models (unknown keys refused), ready to embed in the gateway schema.

Durations are written as people write them (``"500ms"``, ``"30s"``); zone polygons are in frame-relative
coordinates (0-1, origin top-left) so a zone stays valid when a camera's resolution changes. For example::

    - id: cam-xc7
      source: rtsp://10.2.0.17:554/stream2      # or /dev/video0, or a recording to replay
      location: XC-7 belt entry
      sample_rate: 1                            # analysed frames per second
      health: {dark_below: 8, dark_clear_above: 14}
      zones:
        - id: roof-xc7
          kind: unsupported_roof
          label: unsupported roof inby XC-7
          polygon: [[0.55, 0.4], [1.0, 0.4], [1.0, 1.0], [0.55, 1.0]]
      violations: {persist_frames: 3}
      snapshots: {enabled: true, max_files: 100}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.config.units import Duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReconnectConfig(_Strict):
    initial: Duration = Field(1.0, gt=0, description="first wait after a failed open or a lost stream")
    factor: float = Field(2.0, ge=1, le=10, description="each further failure multiplies the wait by this")
    max: Duration = Field(60.0, gt=0, description="longest wait between attempts")
    read_failures: int = Field(5, ge=1, description="consecutive failed reads that count as a lost stream")

    @model_validator(mode="after")
    def verify_order(self) -> ReconnectConfig:
        if self.max < self.initial:
            raise ValueError(f"reconnect.max ({self.max} s) must be >= reconnect.initial ({self.initial} s)")
        return self


class HealthConfig(_Strict):
    """Thresholds of the camera-health checks; each condition has an on and a (looser) off value: hysteresis."""

    no_frames_after: Duration = Field(10.0, gt=0, description="no new frame for this long -> no_frames")
    frozen_after: Duration = Field(
        30.0,
        gt=0,
        description="near-identical frames for this long -> frozen; keep it above the camera's I-frame interval "
        "(an H.264 camera may repeat a still scene bit for bit within one group of pictures)",
    )
    frozen_max_difference: float = Field(
        0.2, ge=0, le=255, description="mean absolute grey difference (0-255) below which two frames are identical"
    )
    dark_below: float = Field(12.0, ge=0, le=255, description="mean luminance (0-255) below which a frame is dark")
    dark_clear_above: float = Field(20.0, ge=0, le=255, description="dark clears above this mean luminance")
    blur_below: float = Field(
        15.0, ge=0, description="variance of the Laplacian below which a frame is blurred or the lens obscured"
    )
    blur_clear_above: float = Field(30.0, ge=0, description="obscured clears above this variance of the Laplacian")
    raise_after: Duration = Field(5.0, ge=0, description="dark/obscured must hold this long before it is raised")
    clear_after: Duration = Field(5.0, ge=0, description="a raised condition must be absent this long to clear")

    @model_validator(mode="after")
    def verify_hysteresis(self) -> HealthConfig:
        if self.dark_clear_above < self.dark_below:
            raise ValueError(f"dark_clear_above ({self.dark_clear_above}) must be >= dark_below ({self.dark_below})")
        if self.blur_clear_above < self.blur_below:
            raise ValueError(f"blur_clear_above ({self.blur_clear_above}) must be >= blur_below ({self.blur_below})")
        return self


class MotionConfig(_Strict):
    enabled: bool = Field(True, description="false: every sampled frame goes to the detector")
    pixel_threshold: int = Field(20, ge=1, le=255, description="grey-level change that counts a pixel as changed")
    min_changed_fraction: float = Field(
        0.002, ge=0, le=1, description="share of changed pixels from which a frame is sent to the detector"
    )
    refresh_every: Duration = Field(
        30.0, gt=0, description="a still scene is still checked this often (a person standing still stays seen)"
    )


ZoneKind = Literal["restricted_area", "unsupported_roof", "conveyor_pinch_point"]
Point = Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=2, max_length=2)]


class ZoneConfig(_Strict):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
    kind: ZoneKind
    label: str = Field("", description="what a supervisor reads in the alert, e.g. 'unsupported roof at XC-7'")
    polygon: list[Point] = Field(min_length=3, description="corners in frame-relative coordinates 0-1, in order")
    membership: Literal["foot", "overlap"] = Field(
        "foot", description="foot: the bottom-centre of the person's box is inside; overlap: a share of the box is"
    )
    min_overlap: float = Field(0.3, gt=0, le=1, description="share of the box inside the polygon for 'overlap'")
    points: list[str] = Field(
        [],
        description="ids of the gateway's points whose alert/alarm state is this zone's hazard state (e.g. the "
        "methane head and the roof convergence sensor at XC-7); none: the hazard state is unknown",
    )


class ViolationConfig(_Strict):
    persist_frames: int = Field(3, ge=1, le=100, description="analysed frames a violation must hold before it fires")
    rearm_frames: int = Field(
        10, ge=1, description="frames a fired condition must be absent before the same person can fire it again"
    )
    max_missed_frames: int = Field(5, ge=1, description="frames a tracked person may go unseen before the episode ends")
    match_iou: float = Field(0.2, gt=0, lt=1, description="IoU that links a detection to a tracked person")
    person_labels: list[str] = Field(["person"], description="detector labels that are a person")
    bare_head_labels: list[str] = Field(["head"], description="detector labels that are a head without a hard hat")
    helmet_labels: list[str] = Field(["helmet"], description="detector labels that are a head with a hard hat")
    body_heads: float = Field(
        6.5, gt=1, le=12, description="a head seen without a person box stands for a body this many heads tall"
    )


class SnapshotConfig(_Strict):
    enabled: bool = Field(False, description="frames never leave the gateway; this only keeps a local JPEG per event")
    directory: str = Field("snapshots", description="relative to the gateway's data_dir")
    max_files: int = Field(200, ge=1)
    max_bytes: int = Field(50_000_000, ge=10_000)
    jpeg_quality: int = Field(80, ge=10, le=100)


class DetectorConfig(_Strict):
    model_dir: str = Field(description="directory holding the detector's manifest.json and model files")
    file: str | None = Field(None, description="a file of the manifest; default: the first that passes the checks")
    confidence: float = Field(0.35, gt=0, lt=1, description="detections scoring below this are dropped")
    iou: float = Field(0.45, gt=0, lt=1, description="non-maximum suppression overlap")
    max_detections: int = Field(100, ge=1, le=1000)
    threads: int = Field(1, ge=1, le=8)


class CameraConfig(_Strict):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
    source: str = Field(
        description="V4L2 device ('/dev/video0' or '0'), an rtsp:// or http:// URL, or a video file (replay)"
    )
    location: str = ""
    sample_rate: float = Field(1.0, gt=0, le=30, description="frames analysed per second")
    replay_fps: float | None = Field(
        None, gt=0, description="video files: frames per second to play at (default: the file's)"
    )
    replay_loop: bool = False
    reconnect: ReconnectConfig = ReconnectConfig()
    health: HealthConfig = HealthConfig()
    motion: MotionConfig = MotionConfig()
    zones: list[ZoneConfig] = []
    violations: ViolationConfig = ViolationConfig()
    snapshots: SnapshotConfig = SnapshotConfig()

    @model_validator(mode="after")
    def verify_zone_ids(self) -> CameraConfig:
        ids = [z.id for z in self.zones]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"camera {self.id!r}: zone ids must be unique, repeated: {duplicated}")
        return self


class CamerasSection(_Strict):
    """The gateway's ``cameras:`` section: one detector shared by every stream (one detection thread)."""

    detector: DetectorConfig | None = Field(
        None, description="helmet/person detector; none: health, motion and masked features only"
    )
    streams: list[CameraConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def verify_camera_ids(self) -> CamerasSection:
        ids = [c.id for c in self.streams]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(f"camera ids must be unique, repeated: {duplicated}")
        return self
