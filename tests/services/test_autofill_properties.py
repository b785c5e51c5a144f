"""Property tests of `plan_placement`, the pure core of `/ta group autofill`."""

from __future__ import annotations

from collections import Counter

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.services.groups import plan_placement


@st.composite
def situations(draw: st.DrawFn) -> tuple[list[tuple[int, list[int]]], list[int], int]:
    """Existing groups (1..max members each), students without a group, and the maximum size."""
    max_size = draw(st.integers(min_value=1, max_value=5))
    sizes = draw(st.lists(st.integers(min_value=1, max_value=max_size), max_size=8))
    unplaced_count = draw(st.integers(min_value=0, max_value=40))
    ids = iter(range(1000, 10_000))
    existing = [(group_id, [next(ids) for _ in range(size)]) for group_id, size in enumerate(sizes, start=1)]
    unplaced = draw(st.permutations([next(ids) for _ in range(unplaced_count)]))
    return existing, list(unplaced), max_size


def final_groups(
    existing: list[tuple[int, list[int]]], additions: dict[int, list[int]], new_groups: list[list[int]]
) -> list[list[int]]:
    return [members + additions.get(group_id, []) for group_id, members in existing] + new_groups


@settings(max_examples=300, deadline=None)
@given(situations())
@example(([], list(range(7)), 3))
@example(([(1, [100, 101, 102])], [7], 3))
@example(([(1, [100])], list(range(10)), 1))
def test_every_student_is_placed_once_within_the_maximum(
    situation: tuple[list[tuple[int, list[int]]], list[int], int],
) -> None:
    existing, unplaced, max_size = situation
    additions, new_groups = plan_placement(existing, unplaced, max_size)
    groups = final_groups(existing, additions, new_groups)
    placed = Counter(m for g in groups for m in g)
    # nobody left out, nobody placed twice, nobody invented
    assert set(placed) == set(unplaced) | {m for _, members in existing for m in members}
    assert max(placed.values(), default=1) == 1
    # no group above the maximum, and no empty new group
    assert all(len(g) <= max_size for g in groups)
    assert all(new_groups)
    # additions go only to existing groups
    assert set(additions) <= {group_id for group_id, _ in existing}


@settings(max_examples=300, deadline=None)
@given(situations())
def test_existing_members_stay_and_new_groups_are_balanced(
    situation: tuple[list[tuple[int, list[int]]], list[int], int],
) -> None:
    existing, unplaced, max_size = situation
    snapshot = [(group_id, list(members)) for group_id, members in existing]
    additions, new_groups = plan_placement(existing, unplaced, max_size)
    # the input is not mutated and existing members are never moved: groups only grow
    assert existing == snapshot
    assert all(set(added) <= set(unplaced) for added in additions.values())
    # new sizes differ by at most one
    sizes = [len(g) for g in new_groups]
    assert not sizes or max(sizes) - min(sizes) <= 1
    # new groups only once every existing group is full, and no more of them than needed
    if new_groups:
        assert all(len(members) + len(additions.get(g, [])) == max_size for g, members in existing)
        leftover = sum(sizes)
        assert len(new_groups) == -(-leftover // max_size)


@given(st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=6))
def test_with_no_groups_the_sizes_are_as_even_as_possible(count: int, max_size: int) -> None:
    _, new_groups = plan_placement([], list(range(count)), max_size)
    sizes = sorted((len(g) for g in new_groups), reverse=True)
    assert sum(sizes) == count
    assert len(sizes) == -(-count // max_size)
    assert not sizes or sizes[0] - sizes[-1] <= 1


def test_seven_students_with_max_three_make_three_two_two() -> None:
    additions, new_groups = plan_placement([], [1, 2, 3, 4, 5, 6, 7], 3)
    assert additions == {}
    assert sorted((len(g) for g in new_groups), reverse=True) == [3, 2, 2]  # not 3 + 3 + 1


def test_open_groups_are_topped_up_smallest_first() -> None:
    additions, new_groups = plan_placement([(1, [10, 11]), (2, [20])], [1, 2, 3], 3)
    assert additions == {2: [1, 3], 1: [2]}
    assert new_groups == []


def test_an_over_full_group_is_left_alone() -> None:
    """A group above the maximum (the maximum was lowered) gets nobody and loses nobody."""
    additions, new_groups = plan_placement([(1, [10, 11, 12, 13]), (2, [20])], [1, 2, 3, 4], 3)
    assert additions == {2: [1, 2]}
    assert new_groups == [[3, 4]]
