"""Group the register spans of one device into as few Modbus read requests as the protocol allows.

Every poll cycle on an RS-485 bus pays a fixed cost per request (frame overhead, silent intervals, device
turnaround), so reading a few unused registers between two points is usually cheaper than a second
request. The planner is pure: it sees addresses, not devices or sockets.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

ADDRESS_SPACE = 65536  # 0-based addresses 0..65535 in every table
MAX_READ_REGISTERS = 125  # FC3/FC4, Modbus application protocol V1.1b3 section 6.3/6.4
MAX_READ_BITS = 2000  # FC1/FC2, section 6.1/6.2


class PlanError(ValueError):
    """Spans or limits that cannot be turned into valid read requests."""


class Table(enum.StrEnum):
    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"
    HOLDING = "holding"
    INPUT = "input"

    @property
    def function_code(self) -> int:
        """The Modbus read function code for this table (1, 2, 3 or 4)."""
        return _FUNCTION_CODES[self]

    @property
    def is_bit_table(self) -> bool:
        """True for coils and discrete inputs, which are read in bits rather than 16-bit registers."""
        return self in (Table.COIL, Table.DISCRETE_INPUT)

    @property
    def protocol_read_limit(self) -> int:
        """Most registers (or bits) one read request of this table may ask for."""
        return MAX_READ_BITS if self.is_bit_table else MAX_READ_REGISTERS


_FUNCTION_CODES = {Table.COIL: 1, Table.DISCRETE_INPUT: 2, Table.HOLDING: 3, Table.INPUT: 4}


@dataclass(frozen=True, slots=True)
class RegisterSpan:
    """The registers (or bits) one configured point occupies. ``address`` is 0-based; ``key`` is unique per
    device and lets the poller find the point's data in a request's answer."""

    key: str
    table: Table
    address: int
    count: int

    def __post_init__(self) -> None:
        if self.address < 0:
            raise PlanError(f"span {self.key!r}: address {self.address} is negative (addresses are 0-based)")
        if self.count < 1:
            raise PlanError(f"span {self.key!r}: count {self.count} must be at least 1")
        if self.address + self.count > ADDRESS_SPACE:
            raise PlanError(
                f"span {self.key!r}: {self.table.value} {self.address}+{self.count} runs past the last "
                f"address {ADDRESS_SPACE - 1}"
            )

    @property
    def end(self) -> int:
        """One past the last address of the span."""
        return self.address + self.count


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One Modbus read of ``count`` registers/bits from ``address``, serving every span in ``spans``."""

    table: Table
    address: int
    count: int
    spans: tuple[RegisterSpan, ...]

    def __post_init__(self) -> None:
        limit = self.table.protocol_read_limit
        if not 1 <= self.count <= limit:
            raise PlanError(f"read of {self.count} {self.table.value} item(s) is outside 1..{limit}")
        if self.address < 0 or self.address + self.count > ADDRESS_SPACE:
            raise PlanError(f"read {self.address}+{self.count} is outside the address space 0..65535")
        for span in self.spans:
            if not self.contains(span):
                raise PlanError(
                    f"span {span.key!r} ({span.table.value} {span.address}+{span.count}) is not inside "
                    f"the read of {self.table.value} {self.address}+{self.count}"
                )

    @property
    def function_code(self) -> int:
        return self.table.function_code

    @property
    def end(self) -> int:
        """One past the last address read."""
        return self.address + self.count

    def contains(self, span: RegisterSpan) -> bool:
        """True when every register of ``span`` is read by this request."""
        return span.table is self.table and self.address <= span.address and span.end <= self.end

    def offset_of(self, span: RegisterSpan) -> int:
        """Index of the span's first register (or bit) in this request's answer."""
        if not self.contains(span):
            raise PlanError(
                f"span {span.key!r} is not read by the {self.table.value} request {self.address}+{self.count}"
            )
        return span.address - self.address


@dataclass(frozen=True, slots=True)
class PlannerLimits:
    """How large requests may grow. ``max_gap`` is how many unused registers/bits may be read between two
    spans to merge them into one request (0 merges only adjacent or overlapping spans). Lower the maximum
    sizes for devices that answer fewer than the protocol allows."""

    max_registers: int = MAX_READ_REGISTERS
    max_bits: int = MAX_READ_BITS
    max_gap: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.max_registers <= MAX_READ_REGISTERS:
            raise PlanError(f"max_registers {self.max_registers} must be within 1..{MAX_READ_REGISTERS}")
        if not 1 <= self.max_bits <= MAX_READ_BITS:
            raise PlanError(f"max_bits {self.max_bits} must be within 1..{MAX_READ_BITS}")
        if self.max_gap < 0:
            raise PlanError(f"max_gap {self.max_gap} must be 0 or more")

    def limit_for(self, table: Table) -> int:
        return self.max_bits if table.is_bit_table else self.max_registers


DEFAULT_LIMITS = PlannerLimits()


def plan_reads(spans: Iterable[RegisterSpan], limits: PlannerLimits = DEFAULT_LIMITS) -> list[ReadRequest]:
    """Merge the spans into read requests, ordered by (function code, address).

    Greedy per table over spans sorted by address: the current request takes the next span while the gap
    to it is at most ``limits.max_gap`` and the merged request stays within the table's limit. Overlapping
    spans (two points reading different bits of one status register) share a request whenever it fits.
    """
    by_table = _validated_by_table(spans, limits)
    requests: list[ReadRequest] = []
    for table, table_spans in by_table:
        limit = limits.limit_for(table)
        group: list[RegisterSpan] = []
        start = end = 0
        for span in table_spans:
            if group and span.address - end <= limits.max_gap and max(end, span.end) - start <= limit:
                group.append(span)
                end = max(end, span.end)
                continue
            if group:
                requests.append(ReadRequest(table, start, end - start, tuple(group)))
            group, start, end = [span], span.address, span.end
        if group:
            requests.append(ReadRequest(table, start, end - start, tuple(group)))
    return requests


def plan_one_per_span(spans: Iterable[RegisterSpan]) -> list[ReadRequest]:
    """The naive plan, one read per span, in the same order as ``plan_reads``; the baseline to compare to."""
    by_table = _validated_by_table(spans, DEFAULT_LIMITS)
    return [
        ReadRequest(table, span.address, span.count, (span,)) for table, table_spans in by_table for span in table_spans
    ]


def _validated_by_table(spans: Iterable[RegisterSpan], limits: PlannerLimits) -> list[tuple[Table, list[RegisterSpan]]]:
    """Spans grouped per table in function-code order, each group sorted by (address, count, key)."""
    seen: set[str] = set()
    grouped: dict[Table, list[RegisterSpan]] = {}
    for span in spans:
        if span.key in seen:
            raise PlanError(f"duplicate span key {span.key!r}: every point of a device needs its own key")
        seen.add(span.key)
        limit = limits.limit_for(span.table)
        if span.count > limit:
            raise PlanError(
                f"span {span.key!r} needs {span.count} {span.table.value} item(s) but one read may take at "
                f"most {limit} (protocol maximum {span.table.protocol_read_limit}); split the point into "
                f"smaller ones or raise the planner limit"
            )
        grouped.setdefault(span.table, []).append(span)
    return [
        (table, sorted(grouped[table], key=lambda span: (span.address, span.count, span.key)))
        for table in sorted(grouped, key=lambda table: table.function_code)
    ]
