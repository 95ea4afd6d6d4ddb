"""Estimate how long Modbus RTU transactions occupy an RS-485 bus, to size poll intervals before deploying.

Figures follow "MODBUS over Serial Line Specification and Implementation Guide V1.02": a character is a start
bit, the data bits, an optional parity bit and the stop bits (section 2.5.1); frames are separated by a silent
interval of 3.5 character times, fixed at 1.75 ms above 19200 baud, and characters inside a frame may be at
most 1.5 character times (750 us above 19200 baud) apart (section 2.5.1.1).

The spec asks for 11 bits per character (8E1, 8O1, or 8N2 when there is no parity), but many field devices
run 8N1, which is 10 bits: the estimate uses the framing actually configured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edge.modbus.planner import ReadRequest

# Above this rate the spec fixes the timing gaps instead of scaling them with the character time.
_FIXED_TIMING_ABOVE_BAUD = 19200
_FIXED_SILENT_INTERVAL_S = 0.00175
_FIXED_INTER_CHAR_TIMEOUT_S = 0.00075

# RTU frame bytes around the PDU: slave address (1) before it, CRC (2) after it.
_ADDRESS_BYTES = 1
_CRC_BYTES = 2
_READ_REQUEST_BYTES = _ADDRESS_BYTES + 1 + 2 + 2 + _CRC_BYTES  # function, start address, quantity
_WRITE_SINGLE_COIL_BYTES = _ADDRESS_BYTES + 1 + 2 + 2 + _CRC_BYTES  # function, address, 0xFF00/0x0000; echoed


@dataclass(frozen=True, slots=True)
class SerialFraming:
    """Serial line settings. ``parity`` is "N" (none), "E" (even) or "O" (odd)."""

    baudrate: int
    data_bits: int = 8
    parity: str = "N"
    stop_bits: int = 1

    def __post_init__(self) -> None:
        if self.baudrate <= 0:
            raise ValueError(f"baudrate {self.baudrate} must be positive (e.g. 9600 or 19200)")
        if self.data_bits not in (7, 8):
            raise ValueError(f"data_bits {self.data_bits} must be 7 or 8 (Modbus RTU uses 8)")
        if self.parity not in ("N", "E", "O"):
            raise ValueError(f"parity {self.parity!r} must be 'N', 'E' or 'O'")
        if self.stop_bits not in (1, 2):
            raise ValueError(f"stop_bits {self.stop_bits} must be 1 or 2")

    @property
    def bits_per_char(self) -> int:
        """Start bit + data bits + parity bit (if any) + stop bits: 11 for 8E1 and 8N2, 10 for 8N1."""
        return 1 + self.data_bits + (0 if self.parity == "N" else 1) + self.stop_bits

    @property
    def char_time_s(self) -> float:
        """Time to send one character on the wire."""
        return self.bits_per_char / self.baudrate

    @property
    def silent_interval_s(self) -> float:
        """The quiet time that ends a frame: 3.5 characters, or 1.75 ms above 19200 baud."""
        if self.baudrate > _FIXED_TIMING_ABOVE_BAUD:
            return _FIXED_SILENT_INTERVAL_S
        return 3.5 * self.char_time_s

    @property
    def inter_char_timeout_s(self) -> float:
        """The longest allowed pause inside a frame: 1.5 characters, or 750 us above 19200 baud."""
        if self.baudrate > _FIXED_TIMING_ABOVE_BAUD:
            return _FIXED_INTER_CHAR_TIMEOUT_S
        return 1.5 * self.char_time_s


def request_frame_bytes(req: ReadRequest) -> int:
    """Bytes of an RTU read request (FC1-4): address, function, start (2), quantity (2), CRC (2) = 8."""
    del req  # every read request has the same size; the argument keeps the call symmetric with responses
    return _READ_REQUEST_BYTES


def response_frame_bytes(req: ReadRequest) -> int:
    """Bytes of a normal RTU read response: address, function, byte count, data, CRC (2).

    Data is 2 bytes per register, or the bits packed 8 to a byte for coils and discrete inputs.
    """
    data_bytes = math.ceil(req.count / 8) if req.table.is_bit_table else 2 * req.count
    return _ADDRESS_BYTES + 1 + 1 + data_bytes + _CRC_BYTES


def write_coil_frames_bytes() -> tuple[int, int]:
    """(request, response) bytes of a Write Single Coil (FC5): the response echoes the request."""
    return _WRITE_SINGLE_COIL_BYTES, _WRITE_SINGLE_COIL_BYTES


def transaction_time_s(req: ReadRequest, framing: SerialFraming, *, turnaround_s: float = 0.005) -> float:
    """Bus time of one read: request, silent interval, device turnaround, response, silent interval."""
    _check_turnaround(turnaround_s)
    characters = request_frame_bytes(req) + response_frame_bytes(req)
    return characters * framing.char_time_s + 2 * framing.silent_interval_s + turnaround_s


def cycle_time_s(requests: Sequence[ReadRequest], framing: SerialFraming, *, turnaround_s: float = 0.005) -> float:
    """Bus time of one poll cycle of a device: its reads one after another."""
    return sum(transaction_time_s(req, framing, turnaround_s=turnaround_s) for req in requests)


def bus_load(
    requests_per_device: Mapping[str, tuple[Sequence[ReadRequest], float]],
    framing: SerialFraming,
    *,
    turnaround_s: float = 0.005,
) -> float:
    """Fraction of the bus the polls occupy: the sum over devices of cycle time / poll interval.

    ``requests_per_device`` maps a device name to (its read requests, its poll interval in seconds). 1.0
    means the bus is saturated; keep well below it to leave room for retries and alarm output writes.
    """
    load = 0.0
    for device, (requests, poll_interval_s) in requests_per_device.items():
        if poll_interval_s <= 0:
            raise ValueError(f"device {device!r}: poll interval {poll_interval_s} s must be positive")
        load += cycle_time_s(requests, framing, turnaround_s=turnaround_s) / poll_interval_s
    return load


def _check_turnaround(turnaround_s: float) -> None:
    if turnaround_s < 0:
        raise ValueError(f"turnaround_s {turnaround_s} must not be negative")
