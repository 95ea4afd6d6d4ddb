"""Read-planner tests: hand-worked plans, protocol limits, errors, and properties over random point maps."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.modbus.planner import (
    PlanError,
    PlannerLimits,
    ReadRequest,
    RegisterSpan,
    Table,
    plan_one_per_span,
    plan_reads,
)

HOLDING, INPUT, COIL, DISCRETE = Table.HOLDING, Table.INPUT, Table.COIL, Table.DISCRETE_INPUT


def span(key: str, address: int, count: int = 1, table: Table = HOLDING) -> RegisterSpan:
    return RegisterSpan(key=key, table=table, address=address, count=count)


def layout(requests: list[ReadRequest]) -> list[tuple[Table, int, int, list[str]]]:
    return [(r.table, r.address, r.count, [s.key for s in r.spans]) for r in requests]


# --- Table --------------------------------------------------------------------------------------------------


def test_table_function_codes_and_kinds() -> None:
    assert [table.function_code for table in (COIL, DISCRETE, HOLDING, INPUT)] == [1, 2, 3, 4]
    assert [table.is_bit_table for table in (COIL, DISCRETE, HOLDING, INPUT)] == [True, True, False, False]
    assert [table.protocol_read_limit for table in (COIL, DISCRETE, HOLDING, INPUT)] == [2000, 2000, 125, 125]


# --- hand-worked plans ------------------------------------------------------------------------------------

# An MSA Ultima X style map (0-based): status, fault, three floats, three unit words, three temperatures.
ULTIMA_SPANS = [
    span("status_fault_any", 200),
    span("status_warm_up", 200),  # a different bit of the same status register
    span("fault_bits", 201),
    span("gas_1", 206, 2),
    span("gas_2", 208, 2),
    span("gas_3", 210, 2),
    span("unit_1", 212),
    span("unit_2", 213),
    span("unit_3", 214),
    span("temp_1", 216),
    span("temp_2", 217),
    span("temp_3", 218),
]


def test_ultima_map_is_one_request_with_default_gap() -> None:
    requests = plan_reads(reversed(ULTIMA_SPANS))
    assert layout(requests) == [
        (
            HOLDING,
            200,
            19,
            [
                "status_fault_any",
                "status_warm_up",
                "fault_bits",
                "gas_1",
                "gas_2",
                "gas_3",
                "unit_1",
                "unit_2",
                "unit_3",
                "temp_1",
                "temp_2",
                "temp_3",
            ],
        )
    ]
    request = requests[0]
    assert request.function_code == 3
    assert request.offset_of(ULTIMA_SPANS[4]) == 8
    assert request.offset_of(ULTIMA_SPANS[1]) == 0


def test_ultima_map_with_no_gap_allowed_splits_at_unused_registers() -> None:
    requests = plan_reads(ULTIMA_SPANS, PlannerLimits(max_gap=0))
    assert [(r.address, r.count) for r in requests] == [(200, 2), (206, 9), (216, 3)]


def test_gap_of_exactly_max_gap_merges_and_one_more_splits() -> None:
    merged = plan_reads([span("a", 0, 2), span("b", 10, 2)], PlannerLimits(max_gap=8))
    assert layout(merged) == [(HOLDING, 0, 12, ["a", "b"])]
    split = plan_reads([span("a", 0, 2), span("b", 11, 2)], PlannerLimits(max_gap=8))
    assert layout(split) == [(HOLDING, 0, 2, ["a"]), (HOLDING, 11, 2, ["b"])]


def test_register_limit_splits_a_long_run() -> None:
    spans = [span(f"r{address}", address) for address in range(126)]
    requests = plan_reads(spans)
    assert [(r.address, r.count) for r in requests] == [(0, 125), (125, 1)]


def test_float_straddling_the_limit_starts_a_new_request() -> None:
    spans = [span(f"r{address}", address) for address in range(124)] + [span("float", 124, 2)]
    requests = plan_reads(spans)
    assert [(r.address, r.count) for r in requests] == [(0, 124), (124, 2)]


def test_bit_tables_use_the_2000_bit_limit() -> None:
    coils = [span(f"c{address}", address, table=COIL) for address in range(2001)]
    requests = plan_reads(coils)
    assert [(r.function_code, r.address, r.count) for r in requests] == [(1, 0, 2000), (1, 2000, 1)]


def test_tables_are_never_merged_and_come_in_function_code_order() -> None:
    spans = [
        span("in", 0, table=INPUT),
        span("hr", 0, table=HOLDING),
        span("di", 0, table=DISCRETE),
        span("co", 0, table=COIL),
    ]
    assert [r.function_code for r in plan_reads(spans)] == [1, 2, 3, 4]
    assert [r.function_code for r in plan_one_per_span(spans)] == [1, 2, 3, 4]


def test_lower_device_limit_is_respected() -> None:
    spans = [span(f"r{address}", address) for address in range(10)]
    requests = plan_reads(spans, PlannerLimits(max_registers=4))
    assert [(r.address, r.count) for r in requests] == [(0, 4), (4, 4), (8, 2)]


def test_contained_span_does_not_extend_the_request() -> None:
    requests = plan_reads([span("block", 10, 6), span("inner", 11, 2), span("next", 20)])
    assert layout(requests) == [(HOLDING, 10, 11, ["block", "inner", "next"])]


def test_one_per_span_baseline() -> None:
    requests = plan_one_per_span(ULTIMA_SPANS)
    assert len(requests) == len(ULTIMA_SPANS)
    assert all(len(r.spans) == 1 and (r.address, r.count) == (r.spans[0].address, r.spans[0].count) for r in requests)
    assert [r.address for r in requests] == sorted(r.address for r in requests)


def test_empty_input_plans_nothing() -> None:
    assert plan_reads([]) == []
    assert plan_one_per_span([]) == []


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "count", "message"),
    [(-1, 1, "negative"), (0, 0, "at least 1"), (65535, 2, "runs past the last address 65535")],
)
def test_span_validation(address: int, count: int, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        span("bad", address, count)


def test_last_address_is_usable() -> None:
    assert plan_reads([span("last", 65535)])[0].address == 65535


def test_duplicate_key_is_rejected() -> None:
    with pytest.raises(PlanError, match="duplicate span key 'gas'"):
        plan_reads([span("gas", 0), span("gas", 5)])
    with pytest.raises(PlanError, match="duplicate span key 'gas'"):
        plan_one_per_span([span("gas", 0, table=INPUT), span("gas", 0, table=HOLDING)])


def test_span_larger_than_protocol_limit_is_rejected() -> None:
    with pytest.raises(PlanError, match=r"'blob' needs 126 holding item\(s\) but one read may take at most 125"):
        plan_reads([span("blob", 0, 126)])
    with pytest.raises(PlanError, match="at most 2000"):
        plan_one_per_span([span("coils", 0, 2001, table=COIL)])


def test_span_larger_than_configured_limit_is_rejected() -> None:
    with pytest.raises(PlanError, match="at most 4"):
        plan_reads([span("f64", 0, 4), span("wide", 10, 5)], PlannerLimits(max_registers=4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_registers": 126}, "max_registers 126"),
        ({"max_registers": 0}, "max_registers 0"),
        ({"max_bits": 2001}, "max_bits 2001"),
        ({"max_gap": -1}, "max_gap -1"),
    ],
)
def test_limits_validation(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        PlannerLimits(**kwargs)


def test_offset_of_a_span_outside_the_request_is_an_error() -> None:
    request = plan_reads([span("a", 10, 2)])[0]
    with pytest.raises(PlanError, match="not read by"):
        request.offset_of(span("b", 12))
    with pytest.raises(PlanError, match="not read by"):
        request.offset_of(span("c", 10, table=INPUT))


def test_read_request_validation() -> None:
    with pytest.raises(PlanError, match=r"outside 1\.\.125"):
        ReadRequest(HOLDING, 0, 126, ())
    with pytest.raises(PlanError, match="not inside"):
        ReadRequest(HOLDING, 0, 2, (span("a", 1, 2),))


# --- properties -----------------------------------------------------------------------------------------

tables = st.sampled_from(Table)


@st.composite
def planner_limits(draw: st.DrawFn) -> PlannerLimits:
    return PlannerLimits(
        max_registers=draw(st.integers(4, 30) | st.just(125)),
        max_bits=draw(st.integers(4, 60) | st.just(2000)),
        max_gap=draw(st.integers(0, 10)),
    )


@st.composite
def any_spans(draw: st.DrawFn) -> list[RegisterSpan]:
    """Spans that may overlap, nest or repeat addresses, as real point maps do."""
    count = draw(st.integers(0, 40))
    return [
        span(f"p{index}", draw(st.integers(0, 300)), draw(st.integers(1, 4)), draw(tables)) for index in range(count)
    ]


@st.composite
def disjoint_spans(draw: st.DrawFn) -> list[RegisterSpan]:
    """Non-overlapping spans per table, in shuffled order."""
    spans: list[RegisterSpan] = []
    for table in draw(st.sets(tables, min_size=1)):
        address = draw(st.integers(0, 50))
        for _ in range(draw(st.integers(0, 15))):
            count = draw(st.integers(1, 4))
            spans.append(span(f"{table.value}{address}", address, count, table))
            address += count + draw(st.integers(0, 12))
    return draw(st.permutations(spans))


def assert_plan_is_valid(spans: list[RegisterSpan], requests: list[ReadRequest], limits: PlannerLimits) -> None:
    # every span in exactly one request, entirely inside it
    owners = {s.key: [r for r in requests if s in r.spans] for s in spans}
    for s in spans:
        assert len(owners[s.key]) == 1, s
        request = owners[s.key][0]
        assert request.table is s.table
        assert request.address <= s.address
        assert s.end <= request.end
        assert request.offset_of(s) == s.address - request.address
    assert sum(len(r.spans) for r in requests) == len(spans)
    for r in requests:
        assert 1 <= r.count <= limits.limit_for(r.table) <= r.table.protocol_read_limit
        # a request is exactly as wide as its spans: no leading or trailing unused registers
        assert r.address == min(s.address for s in r.spans)
        assert r.end == max(s.end for s in r.spans)
        # every unused run inside a request is at most max_gap long
        covered = {a for s in r.spans for a in range(s.address, s.end)}
        run = 0
        for address in range(r.address, r.end):
            run = 0 if address in covered else run + 1
            assert run <= limits.max_gap
    assert len(requests) <= len(spans)
    assert len(requests) <= len(plan_one_per_span(spans))
    keys = [(r.table.function_code, r.address) for r in requests]
    assert keys == sorted(keys)


@given(any_spans(), planner_limits())
def test_plan_covers_every_span_within_limits(spans: list[RegisterSpan], limits: PlannerLimits) -> None:
    requests = plan_reads(spans, limits)
    assert_plan_is_valid(spans, requests, limits)


@given(any_spans(), planner_limits())
def test_requests_overlap_only_where_their_spans_overlap(spans: list[RegisterSpan], limits: PlannerLimits) -> None:
    requests = plan_reads(spans, limits)
    for first, second in itertools.pairwise(requests):
        if first.table is second.table and second.address < first.end:
            assert any(a.address < b.end and b.address < a.end for a in first.spans for b in second.spans), (
                first,
                second,
            )


@given(disjoint_spans(), planner_limits())
def test_disjoint_spans_give_disjoint_requests(spans: list[RegisterSpan], limits: PlannerLimits) -> None:
    requests = plan_reads(spans, limits)
    assert_plan_is_valid(spans, requests, limits)
    for first, second in itertools.pairwise(requests):
        if first.table is second.table:
            assert first.end <= second.address


@given(disjoint_spans(), planner_limits())
def test_no_gap_means_every_read_register_belongs_to_a_point(spans: list[RegisterSpan], limits: PlannerLimits) -> None:
    no_gap = PlannerLimits(max_registers=limits.max_registers, max_bits=limits.max_bits, max_gap=0)
    for r in plan_reads(spans, no_gap):
        covered = {a for s in r.spans for a in range(s.address, s.end)}
        assert covered == set(range(r.address, r.end))


def fewest_requests(spans: list[RegisterSpan], limits: PlannerLimits) -> int:
    """Brute-force optimum for disjoint spans: the best split of each table's sorted spans into runs."""
    total = 0
    for table in Table:
        ordered = sorted((s for s in spans if s.table is table), key=lambda s: s.address)
        limit = limits.limit_for(table)
        best = [0] + [len(ordered)] * len(ordered)  # best[i]: fewest requests for the first i spans
        for end in range(1, len(ordered) + 1):
            for start in range(end - 1, -1, -1):
                run = ordered[start:end]
                too_wide = run[-1].end - run[0].address > limit
                gaps_ok = all(b.address - a.end <= limits.max_gap for a, b in itertools.pairwise(run))
                if too_wide:
                    break
                if gaps_ok:
                    best[end] = min(best[end], best[start] + 1)
        total += best[len(ordered)]
    return total


@given(disjoint_spans(), planner_limits())
def test_greedy_plan_is_minimal_for_disjoint_spans(spans: list[RegisterSpan], limits: PlannerLimits) -> None:
    assert len(plan_reads(spans, limits)) == fewest_requests(spans, limits)


@given(st.integers(0, 1000), st.integers(1, 125), st.integers(0, 10), st.randoms(use_true_random=False))
def test_contiguous_single_registers_are_one_request(start: int, length: int, max_gap: int, rng: random.Random) -> None:
    spans = [span(f"r{address}", address) for address in range(start, start + length)]
    rng.shuffle(spans)
    requests = plan_reads(spans, PlannerLimits(max_gap=max_gap))
    assert [(r.address, r.count, len(r.spans)) for r in requests] == [(start, length, length)]


@given(any_spans(), planner_limits(), st.randoms(use_true_random=False))
def test_plan_does_not_depend_on_input_order(
    spans: list[RegisterSpan], limits: PlannerLimits, rng: random.Random
) -> None:
    shuffled = list(spans)
    rng.shuffle(shuffled)
    assert plan_reads(shuffled, limits) == plan_reads(spans, limits)
    assert plan_one_per_span(shuffled) == plan_one_per_span(spans)
