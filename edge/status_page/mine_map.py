"""The status page's mine map: pillars, drifts, fixed gateways, placed sensors and each miner's predicted pillar.

Mine coordinates are metres with +y inby (see edge/sim/mine_layout.py). The map is drawn with inby to the right
(SVG x = mine y) and mine east downwards, so a long, narrow panel fills a wide screen. Everything on the map is
placed at an intersection (``e2c25``) or a pillar (``p42``) of the layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

from edge.sim.mine_layout import MineLayout

MARGIN_M = 14.0
MINER_SPREAD_M = 5.0  # miners on one pillar are spread round its centre so each stays visible


@dataclass(frozen=True, slots=True)
class Place:
    x: float  # SVG user units (metres)
    y: float


class MineMap:
    def __init__(self, layout: MineLayout, *, gateway_id: str, gateway_place: str | None, points: dict[str, str]):
        self.layout = layout
        self.gateway_id = gateway_id
        self._min_y = min(n.y for n in layout.nodes.values())
        self._max_x = max(n.x for n in layout.nodes.values())
        self.gateway_place = self.place(gateway_place) if gateway_place is not None else None
        self.points = {pid: place for pid, name in points.items() if (place := self.place(name)) is not None}

    # ---- coordinates ---------------------------------------------------------------------------------------
    def to_svg(self, x: float, y: float) -> Place:
        return Place(round(y - self._min_y + MARGIN_M, 1), round(self._max_x - x + MARGIN_M, 1))

    def place(self, name: str) -> Place | None:
        node = self.layout.nodes.get(name)
        if node is not None:
            return self.to_svg(node.x, node.y)
        for pillar in self.layout.pillars:
            if pillar.id == name:
                return self.to_svg(pillar.x, pillar.y)
        return None

    @property
    def width(self) -> float:
        return round(max(n.y for n in self.layout.nodes.values()) - self._min_y + 2 * MARGIN_M, 1)

    @property
    def height(self) -> float:
        return round(self._max_x - min(n.x for n in self.layout.nodes.values()) + 2 * MARGIN_M, 1)

    # ---- markers (also sent as JSON for the page script) -------------------------------------------------------
    def miner_markers(self, miners: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_pillar: dict[str, int] = {}
        out = []
        for miner in miners:
            pillar = miner.get("predicted_pillar") or miner.get("last_pillar")
            centre = self.place(str(pillar)) if pillar else None
            if centre is None:
                continue
            k = by_pillar.get(str(pillar), 0)
            by_pillar[str(pillar)] = k + 1
            angle = k * 2.39996  # golden angle: successive miners never stack
            radius = 0.0 if k == 0 else MINER_SPREAD_M * math.sqrt(k)
            out.append(
                {
                    "id": str(miner["miner_id"]),
                    "x": round(centre.x + radius * math.cos(angle), 1),
                    "y": round(centre.y + radius * math.sin(angle), 1),
                    "pillar": str(pillar),
                    "predicted": bool(miner.get("predicted_pillar")),
                    "confidence": miner.get("confidence"),
                }
            )
        return out

    def point_markers(self, states: dict[str, str]) -> list[dict[str, Any]]:
        """``states``: point id -> "good" / "uncertain" / "bad" / "alarm" / "none"."""
        return [
            {"id": pid, "x": place.x, "y": place.y, "state": states.get(pid, "none")}
            for pid, place in sorted(self.points.items())
        ]

    # ---- SVG -----------------------------------------------------------------------------------------------
    def svg(self, *, points: list[dict[str, Any]], miners: list[dict[str, Any]]) -> str:
        parts = [
            f'<svg id="mine-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" '
            f'role="img" aria-label="Mine map of {escape(self.gateway_id)}">',
            f'<rect class="drift" x="0" y="0" width="{self.width}" height="{self.height}"/>',
            '<g id="map-pillars">',
        ]
        for pillar in self.layout.pillars:
            centre = self.to_svg(pillar.x, pillar.y)
            w, h = 2 * pillar.half_along_m, 2 * pillar.half_across_m
            parts.append(
                f'<rect class="pillar" x="{centre.x - w / 2:.1f}" y="{centre.y - h / 2:.1f}" width="{w:.1f}" '
                f'height="{h:.1f}"><title>{escape(pillar.id)}</title></rect>'
            )
        parts.append('</g><g id="map-gateways">')
        for gw in self.layout.gateways:
            p = self.to_svg(gw.x, gw.y)
            parts.append(
                f'<rect class="mesh-gateway" data-gateway="{escape(gw.id)}" x="{p.x - 3}" y="{p.y - 3}" width="6" '
                f'height="6"><title>DTN gateway {escape(gw.id)} at {escape(gw.node)}</title></rect>'
            )
        if self.gateway_place is not None:
            p = self.gateway_place
            # The label goes on the side with room: gateways near the face sit at the map's right edge.
            right_half = p.x > self.width / 2
            label_x, anchor = (p.x - 7, "end") if right_half else (p.x + 7, "start")
            parts.append(
                f'<g class="this-gateway" data-gateway="{escape(self.gateway_id)}">'
                f'<rect x="{p.x - 5}" y="{p.y - 5}" width="10" height="10"/>'
                f'<text x="{label_x}" y="{p.y - 6}" text-anchor="{anchor}">{escape(self.gateway_id)}</text>'
                f"<title>this gateway: {escape(self.gateway_id)}</title></g>"
            )
        parts.append('</g><g id="map-points">')
        parts += [_point_svg(m) for m in points]
        parts.append('</g><g id="map-miners">')
        parts += [_miner_svg(m) for m in miners]
        parts.append("</g>")
        parts.append(f'<text class="map-note" x="{self.width - 4}" y="{self.height - 3}">inby &#8594;</text></svg>')
        return "".join(parts)


def _point_svg(m: dict[str, Any]) -> str:
    return (
        f'<circle class="sensor sensor-{escape(str(m["state"]))}" data-point="{escape(str(m["id"]))}" '
        f'cx="{m["x"]}" cy="{m["y"]}" r="4"><title>{escape(str(m["id"]))}: {escape(str(m["state"]))}</title></circle>'
    )


def _miner_svg(m: dict[str, Any]) -> str:
    how = "predicted" if m["predicted"] else "last seen"
    conf = f", {100 * m['confidence']:.0f} %" if isinstance(m.get("confidence"), float) else ""
    return (
        f'<circle class="miner" data-miner="{escape(str(m["id"]))}" cx="{m["x"]}" cy="{m["y"]}" r="3.5">'
        f"<title>{escape(str(m['id']))}: {how} {escape(str(m['pillar']))}{conf}</title></circle>"
    )
