"""flashcheck.record: the record classes that stand in for dataclasses on
the offline check's path behave as the dataclasses they replaced."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flashcheck.record import FrozenInstanceError, field, fields, record, replace


@record(frozen=True)
class Point:
    x: int
    y: int = 0
    label: str | None = None


@record
class Bag:
    name: str
    items: list = field(default_factory=list)
    count: int = 1


@dataclasses.dataclass(frozen=True)
class DPoint:
    x: int
    y: int = 0
    label: str | None = None


values = st.one_of(st.integers(), st.text(max_size=5), st.none())


@given(x=st.integers(), y=st.integers(), label=st.one_of(st.none(), st.text(max_size=8)))
def test_frozen_record_is_what_the_dataclass_was(x, y, label):
    p, d = Point(x, y, label), DPoint(x, y, label)
    assert (p.x, p.y, p.label) == (d.x, d.y, d.label)
    assert p == Point(x=x, y=y, label=label) and hash(p) == hash(Point(x, y=y, label=label))
    assert repr(p) == repr(d).replace("DPoint", "Point")
    assert pickle.loads(pickle.dumps(p)) == p and copy.deepcopy(p) == p
    assert replace(p, y=y + 1) == Point(x, y + 1, label) and p.y == y
    assert {p: 1}[Point(x, y, label)] == 1


def test_defaults_and_factories():
    a, b = Bag("a"), Bag("b")
    a.items.append(1)
    assert b.items == [] and a.items == [1] and a.count == 1
    assert fields(Bag) == ("name", "items", "count") and "items" not in Bag.__dict__
    assert Point(1) == Point(1, 0, None) and Point(1) != Point(2) and Point(1) != DPoint(1)
    with pytest.raises(TypeError):
        hash(Bag("a"))  # mutable records are unhashable, as mutable dataclasses


@pytest.mark.parametrize("make", [
    lambda: Point(), lambda: Point(1, 2, "a", 4), lambda: Point(1, x=2), lambda: Point(1, z=3),
    lambda: replace(Point(1), z=1),
])
def test_wrong_arguments_are_refused(make):
    with pytest.raises(TypeError):
        make()


def test_frozen_refuses_changes_but_mutable_takes_them():
    p = Point(1)
    with pytest.raises(FrozenInstanceError):
        p.x = 2
    with pytest.raises(FrozenInstanceError):
        del p.x
    b = Bag("a")
    b.count = 5
    assert b.count == 5 and b == Bag("a", [], 5)


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError):
        @record
        class Bad:
            a: int = 1
            b: int


def test_the_database_records_are_records():
    """Part, Board, Match, Result... pickle in the data cache and compare by value."""
    from flashcheck.app import App

    app = App()
    part = app.parts.by_name["W25Q128FV"][0]
    assert pickle.loads(pickle.dumps(part)) == part
    assert replace(part, name="X").name == "X" and part.name == "W25Q128FV"
    board = app.board("imp003")
    assert pickle.loads(pickle.dumps(board)) == board
