"""Replay of a real underground coal mine's gas monitor through the simulated devices.

The recording (``colombia-multigas-2021.csv``, see ``shared/data/README.md``) is read from the shared data
folder next to the repository at run time and never copied into it: the project must not redistribute it.
Its 13 negative CO readings are real sensor faults and are replayed as they are, to exercise the gateway's
out-of-range path.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from edge.config.resolved import GatewaySpec
from edge.sim.point_roles import Quantity
from edge.sim.scenario_base import BaselineScenario

DATA_RELATIVE_PATH = Path("shared/data/mine-air/colombia-multigas-2021.csv")
DEFAULT_REPLAY_STEP_S = 1.0

# CSV column -> quantity it drives, with the unit the column is in (the canonical unit of the quantity).
COLUMNS: dict[str, Quantity] = {
    "methane": Quantity.METHANE,  # %vol (units not stated in the source; values 0-5 in steps of 0.05)
    "oxygen": Quantity.OXYGEN,  # %vol
    "carbon_monoxide": Quantity.CARBON_MONOXIDE,  # ppm
    "hydrogen_sulfide": Quantity.HYDROGEN_SULFIDE,  # ppm
    "temperature": Quantity.TEMPERATURE,  # °C
}


def default_data_path() -> Path:
    """``<parent of the repository>/shared/data/mine-air/colombia-multigas-2021.csv``."""
    return Path(__file__).resolve().parents[2].parent / DATA_RELATIVE_PATH


@dataclass(frozen=True, slots=True)
class MineAirRow:
    timestamp: str
    values: dict[Quantity, float]  # NaN where the cell was empty


def load_mine_air(path: Path) -> tuple[MineAirRow, ...]:
    """Rows of the recording, in file order. Raises ``FileNotFoundError`` with what to do when absent."""
    if not path.is_file():
        raise FileNotFoundError(
            f"mine-air recording not found at {path}: place the shared data folder next to the repository "
            f"(so that ../{DATA_RELATIVE_PATH} exists) or pass its path (data_path=...); it is not shipped "
            "with minegate because the project may not redistribute it"
        )
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [column for column in ("timestamp", *COLUMNS) if column not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{path}: columns {missing} missing; expected timestamp, {', '.join(COLUMNS)}")
        rows = tuple(
            MineAirRow(
                timestamp=record["timestamp"],
                values={quantity: _number(record[column]) for column, quantity in COLUMNS.items()},
            )
            for record in reader
        )
    if not rows:
        raise ValueError(f"{path}: no data rows")
    return rows


def _number(cell: str | None) -> float:
    text = (cell or "").strip()
    return float(text) if text else math.nan


class MineAirReplay(BaselineScenario):
    """One recorded row every ``replay_step_s`` story seconds, onto every point of the matching quantity.

    Points the recording does not cover (airflow, other channels) keep the noisy ambient baseline. After the
    last row the last row is held.
    """

    def __init__(
        self,
        spec: GatewaySpec,
        *,
        seed: int = 0,
        time_scale: float = 1.0,
        data_path: Path | None = None,
        replay_step_s: float = DEFAULT_REPLAY_STEP_S,
    ) -> None:
        if not (math.isfinite(replay_step_s) and replay_step_s > 0):
            raise ValueError(f"replay_step_s must be a positive number of seconds, got {replay_step_s}")
        self.data_path = data_path if data_path is not None else default_data_path()
        self.rows = load_mine_air(self.data_path)
        self.replay_step_s = replay_step_s
        super().__init__(
            "mine_air_replay",
            spec,
            seed=seed,
            time_scale=time_scale,
            nominal_duration_s=len(self.rows) * replay_step_s,
        )

    def row_at(self, t_s: float) -> MineAirRow:
        """The row shown at wall time ``t_s``."""
        index = min(int(self.story_time(t_s) // self.replay_step_s), len(self.rows) - 1)
        return self.rows[index]

    def _shape_values(self, t: float, canonical: dict[str, float]) -> None:
        index = min(int(t // self.replay_step_s), len(self.rows) - 1)
        recorded = self.rows[index].values
        for point_id in canonical:
            value = recorded.get(self.field.quantity(point_id))
            if value is not None and not math.isnan(value):
                canonical[point_id] = value
