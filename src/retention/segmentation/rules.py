"""Declarative rule segments: named, composable with ``&``, ``|``, ``~``, serialisable.

A rule is a tree of conditions over the columns of a customer frame (one row per
customer: summary columns, cycle statistics, card attributes, loyalty level,
demographics, :func:`categories_bought`, :func:`event_counts`...).  Rules evaluate
vectorised to a boolean membership Series; segments may overlap (DESIGN decision 5).
They round-trip through plain dicts and JSON so that a host app can store them::

    {"name": "vip_coffee",
     "rule": {"and": [{"field": "monetary_value", "op": "ge", "value": 100},
                      {"field": "bought_coffee", "op": "eq", "value": true},
                      {"not": {"field": "lapsed", "op": "eq", "value": true}}]}}

Operators: ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge`` (a JSON scalar), ``in`` (a
list), ``between`` (``[low, high]``, both inclusive), ``is_null`` (no value).  A
comparison with a missing value is false, so ``~(field("x") > 1)`` holds for missing x.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import attrs
import numpy as np
import pandas as pd

from retention._validation import require_columns
from retention.exceptions import ValidationError
from retention.segmentation._common import check_ids

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "And",
    "Condition",
    "Field",
    "Not",
    "Or",
    "Rule",
    "RuleSegment",
    "categories_bought",
    "event_counts",
    "field",
    "memberships",
    "rule_from_dict",
]

Scalar: TypeAlias = str | int | float | bool

_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
OPERATORS = (*_COMPARISONS, "in", "between", "is_null")


def _scalar(value: object, *, where: str) -> Scalar:
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, np.generic):
        return _scalar(value.item(), where=where)
    msg = (
        f"{where}: value {value!r} must be a JSON scalar (string, finite number or boolean) "
        "so that the rule can be stored"
    )
    raise ValidationError(msg)


class _Combinable:
    """Mixin giving rules ``&``, ``|`` and ``~``."""

    def __and__(self, other: object) -> And:
        if not isinstance(other, _Combinable):
            return NotImplemented
        return And((*_parts(self, And), *_parts(other, And)))

    def __or__(self, other: object) -> Or:
        if not isinstance(other, _Combinable):
            return NotImplemented
        return Or((*_parts(self, Or), *_parts(other, Or)))

    def __invert__(self) -> Not:
        return Not(_as_rule(self))


def _as_rule(value: object) -> Rule:
    if isinstance(value, Condition | And | Or | Not):
        return value
    msg = f"expected a rule (Condition, And, Or, Not), got {type(value).__name__}"
    raise ValidationError(msg)


def _as_rules(rules: Iterable[object]) -> tuple[Rule, ...]:
    return tuple(_as_rule(rule) for rule in rules)


def _parts(rule: object, kind: type[And | Or]) -> tuple[Rule, ...]:
    if isinstance(rule, kind):
        return rule.rules
    return (_as_rule(rule),)


def _operator(value: object) -> str:
    if value not in OPERATORS:
        msg = f"unknown operator {value!r}; use one of {', '.join(OPERATORS)}"
        raise ValidationError(msg)
    return str(value)


def _field_name(value: object) -> str:
    if not isinstance(value, str) or not value:
        msg = f"a rule's field must be a non-empty column name, got {value!r}"
        raise ValidationError(msg)
    return value


@attrs.frozen
class Condition(_Combinable):
    """One test on one column: ``field op value``."""

    field: str = attrs.field(converter=_field_name)
    op: str = attrs.field(converter=_operator)
    value: Scalar | tuple[Scalar, ...] | None = None

    def __attrs_post_init__(self) -> None:
        """Check that the value fits the operator."""
        where = f"condition on {self.field!r} ({self.op})"
        if self.op == "is_null":
            if self.value is not None:
                raise ValidationError(f"{where} takes no value")
            return
        if self.op in _COMPARISONS:
            object.__setattr__(self, "value", _scalar(self.value, where=where))
            return
        if isinstance(self.value, str | bytes) or not isinstance(self.value, Iterable):
            raise ValidationError(f"{where} needs a list of values, got {self.value!r}")
        values = tuple(_scalar(item, where=where) for item in self.value)
        if self.op == "between":
            if len(values) != 2:
                raise ValidationError(f"{where} needs exactly [low, high], got {values!r}")
            try:
                wrong_order = bool(values[0] > values[1])  # type: ignore[operator]
            except TypeError:
                raise ValidationError(f"{where} bounds are not comparable: {values!r}") from None
            if wrong_order:
                raise ValidationError(f"{where} needs low <= high, got {values!r}")
        object.__setattr__(self, "value", values)

    def fields(self) -> frozenset[str]:
        """Columns the rule reads."""
        return frozenset({self.field})

    def _values(self) -> tuple[Scalar, ...]:
        return self.value if isinstance(self.value, tuple) else ()

    def mask(self, frame: pd.DataFrame) -> NDArray[np.bool_]:
        """Boolean membership of each row (missing values never match)."""
        column = frame[self.field]
        try:
            if self.op == "is_null":
                result = column.isna()
            elif self.op == "in":
                result = column.isin(list(self._values()))
            elif self.op == "between":
                low, high = self._values()
                result = (column >= low) & (column <= high)
            else:
                result = _COMPARISONS[self.op](column, self.value)
        except TypeError as error:
            msg = (
                f"rule field {self.field!r} ({column.dtype}) cannot be compared with "
                f"{self.value!r} ({self.op}); fix the rule's value or the column's type"
            )
            raise ValidationError(msg) from error
        return np.asarray(pd.Series(result).fillna(value=False), dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable)."""
        out: dict[str, Any] = {"field": self.field, "op": self.op}
        if self.op != "is_null":
            out["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        return out


@attrs.frozen
class And(_Combinable):
    """All of the rules hold."""

    rules: tuple[Rule, ...] = attrs.field(converter=_as_rules)
    key: ClassVar[str] = "and"

    def __attrs_post_init__(self) -> None:
        """Refuse an empty combination."""
        if not self.rules:
            raise ValidationError(f"'{self.key}' needs at least one rule")

    def fields(self) -> frozenset[str]:
        """Columns the rule reads."""
        return frozenset().union(*(rule.fields() for rule in self.rules))

    def mask(self, frame: pd.DataFrame) -> NDArray[np.bool_]:
        """Boolean membership of each row."""
        result = self.rules[0].mask(frame)
        for rule in self.rules[1:]:
            result = result & rule.mask(frame)
        return result

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable)."""
        return {self.key: [rule.to_dict() for rule in self.rules]}


@attrs.frozen
class Or(_Combinable):
    """At least one of the rules holds."""

    rules: tuple[Rule, ...] = attrs.field(converter=_as_rules)
    key: ClassVar[str] = "or"

    def __attrs_post_init__(self) -> None:
        """Refuse an empty combination."""
        if not self.rules:
            raise ValidationError(f"'{self.key}' needs at least one rule")

    def fields(self) -> frozenset[str]:
        """Columns the rule reads."""
        return frozenset().union(*(rule.fields() for rule in self.rules))

    def mask(self, frame: pd.DataFrame) -> NDArray[np.bool_]:
        """Boolean membership of each row."""
        result = self.rules[0].mask(frame)
        for rule in self.rules[1:]:
            result = result | rule.mask(frame)
        return result

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable)."""
        return {self.key: [rule.to_dict() for rule in self.rules]}


@attrs.frozen
class Not(_Combinable):
    """The rule does not hold."""

    rule: Rule = attrs.field(converter=_as_rule)

    def fields(self) -> frozenset[str]:
        """Columns the rule reads."""
        return self.rule.fields()

    def mask(self, frame: pd.DataFrame) -> NDArray[np.bool_]:
        """Boolean membership of each row."""
        return ~self.rule.mask(frame)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-serialisable)."""
        return {"not": self.rule.to_dict()}


Rule: TypeAlias = Condition | And | Or | Not


@attrs.frozen(eq=False)
class Field:
    """Builder of conditions on one column: ``field("frequency") >= 3``.

    ``==`` and ``!=`` build conditions too (so a Field is not hashable); ``isin``,
    ``between``, ``is_null`` and ``is_true`` cover the rest.
    """

    name: str = attrs.field(converter=_field_name)

    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        """``field == value``."""
        return Condition(self.name, "eq", value)  # type: ignore[arg-type]

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        """``field != value``."""
        return Condition(self.name, "ne", value)  # type: ignore[arg-type]

    __hash__ = None  # type: ignore[assignment]

    def __lt__(self, value: Scalar) -> Condition:
        """``field < value``."""
        return Condition(self.name, "lt", value)

    def __le__(self, value: Scalar) -> Condition:
        """``field <= value``."""
        return Condition(self.name, "le", value)

    def __gt__(self, value: Scalar) -> Condition:
        """``field > value``."""
        return Condition(self.name, "gt", value)

    def __ge__(self, value: Scalar) -> Condition:
        """``field >= value``."""
        return Condition(self.name, "ge", value)

    def isin(self, values: Iterable[Scalar]) -> Condition:
        """Match values that are one of ``values``."""
        return Condition(self.name, "in", tuple(values))

    def between(self, low: Scalar, high: Scalar) -> Condition:
        """``low <= field <= high``."""
        return Condition(self.name, "between", (low, high))

    def is_null(self) -> Condition:
        """Match missing values."""
        return Condition(self.name, "is_null")

    def is_true(self) -> Condition:
        """Match true values of a boolean column."""
        return Condition(self.name, "eq", value=True)


def field(name: str) -> Field:
    """Start a condition on column ``name``: ``field("monetary_value") >= 100``."""
    return Field(name)


def rule_from_dict(data: object) -> Rule:  # noqa: C901 - one branch per rule shape
    """Rebuild a rule from its :meth:`to_dict` form.

    Raises
    ------
    ValidationError
        Naming the unknown key, operator or malformed part.
    """
    if not isinstance(data, Mapping):
        msg = f"a rule must be a dict, got {type(data).__name__}"
        raise ValidationError(msg)
    keys = set(data)
    for combinator, kind in (("and", And), ("or", Or)):
        if combinator in keys:
            if keys != {combinator}:
                msg = f"rule {combinator!r} has unknown keys: {sorted(keys - {combinator})}"
                raise ValidationError(msg)
            parts = data[combinator]
            if not isinstance(parts, list):
                msg = f"rule {combinator!r} needs a list of rules, got {parts!r}"
                raise ValidationError(msg)
            return kind(tuple(rule_from_dict(part) for part in parts))
    if "not" in keys:
        if keys != {"not"}:
            msg = f"rule 'not' has unknown keys: {sorted(keys - {'not'})}"
            raise ValidationError(msg)
        return Not(rule_from_dict(data["not"]))
    allowed = {"field", "op", "value"}
    unknown = sorted(map(str, keys - allowed))
    if unknown:
        msg = (
            f"rule has unknown key(s) {', '.join(map(repr, unknown))}; a condition has "
            "'field', 'op' and 'value', a combination 'and', 'or' or 'not'"
        )
        raise ValidationError(msg)
    if "field" not in keys or "op" not in keys:
        msg = f"a condition needs 'field' and 'op', got keys {sorted(map(str, keys))}"
        raise ValidationError(msg)
    value = data.get("value")
    if isinstance(value, list):
        value = tuple(value)
    return Condition(data["field"], data["op"], value)


def _check_fields(rule: Rule, frame: pd.DataFrame, *, segment: str) -> None:
    missing = sorted(rule.fields() - set(map(str, frame.columns)))
    if missing:
        present = ", ".join(repr(str(column)) for column in frame.columns) or "(none)"
        msg = (
            f"segment {segment!r} uses unknown field(s) {', '.join(map(repr, missing))}; "
            f"customers has columns {present}. Add the column or fix the rule"
        )
        raise ValidationError(msg, reason="unknown_field", field=missing[0])


@attrs.frozen
class RuleSegment:
    """A named rule segment.

    Examples
    --------
    >>> import pandas as pd
    >>> customers = pd.DataFrame({"frequency": [0, 3, 8], "lapsed": [False, True, False]},
    ...                          index=pd.Index(["a", "b", "c"], name="customer_id"))
    >>> loyal = RuleSegment("loyal", (field("frequency") >= 3) & ~field("lapsed").is_true())
    >>> loyal.evaluate(customers).tolist()
    [False, False, True]
    >>> RuleSegment.from_dict(loyal.to_dict()) == loyal
    True
    """

    name: str = attrs.field()
    rule: Rule = attrs.field(converter=_as_rule)
    description: str = ""

    @name.validator
    def _check_name(self, _attribute: object, value: object) -> None:
        if not isinstance(value, str) or not value.strip():
            msg = f"a segment needs a non-empty name, got {value!r}"
            raise ValidationError(msg)

    def evaluate(self, customers: pd.DataFrame) -> pd.Series:
        """Membership (bool Series named after the segment, indexed like ``customers``).

        Raises
        ------
        ValidationError
            The rule uses a field that ``customers`` lacks (the message names it), or
            compares a column with a value of another type.
        """
        require_columns(customers, frame_name="customers")
        _check_fields(self.rule, customers, segment=self.name)
        return pd.Series(self.rule.mask(customers), index=customers.index, name=self.name)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form: ``{"name", "rule", "description"}``."""
        out: dict[str, Any] = {"name": self.name, "rule": self.rule.to_dict()}
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, data: object) -> RuleSegment:
        """Rebuild a segment from :meth:`to_dict`; unknown keys raise ValidationError."""
        if not isinstance(data, Mapping):
            msg = f"a segment must be a dict, got {type(data).__name__}"
            raise ValidationError(msg)
        unknown = sorted(map(str, set(data) - {"name", "rule", "description"}))
        if unknown:
            msg = (
                f"segment has unknown key(s) {', '.join(map(repr, unknown))}; "
                "use 'name', 'rule' and optionally 'description'"
            )
            raise ValidationError(msg)
        if "name" not in data or "rule" not in data:
            msg = "a segment needs 'name' and 'rule'"
            raise ValidationError(msg)
        description = data.get("description", "")
        if not isinstance(description, str):
            msg = f"segment description must be a string, got {description!r}"
            raise ValidationError(msg)
        return cls(data["name"], rule_from_dict(data["rule"]), description)

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RuleSegment:
        """Rebuild a segment from :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            msg = f"segment JSON is not valid: {error.msg} at position {error.pos}"
            raise ValidationError(msg) from error
        return cls.from_dict(data)


def memberships(customers: pd.DataFrame, segments: Iterable[RuleSegment]) -> pd.DataFrame:
    """Evaluate several segments at once: one bool column per segment name.

    Raises
    ------
    ValidationError
        Two segments share a name, or a rule uses an unknown field.
    """
    segments = list(segments)
    names = [segment.name for segment in segments]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        msg = f"segment names must be unique; repeated: {', '.join(map(repr, duplicates))}"
        raise ValidationError(msg)
    columns = {segment.name: segment.evaluate(customers).to_numpy() for segment in segments}
    return pd.DataFrame(columns, index=customers.index)


def categories_bought(
    transactions: pd.DataFrame,
    *,
    customer_id_col: str = "customer_id",
    category_col: str = "category",
    prefix: str = "bought_",
) -> pd.DataFrame:
    """Wide bool frame: did the customer buy in each category (``bought_<category>``).

    Filter ``transactions`` to the window you mean (for example up to ``as_of``) first.
    Join the result to the customer frame rule segments evaluate.
    """
    return _wide_counts(
        transactions,
        customer_id_col=customer_id_col,
        value_col=category_col,
        keyword="category_col",
        prefix=prefix,
    ).gt(0)


def event_counts(
    events: pd.DataFrame,
    *,
    customer_id_col: str = "customer_id",
    event_col: str = "event",
    prefix: str = "",
) -> pd.DataFrame:
    """Wide int frame: number of behaviour events of each type per customer.

    For example views and carts: ``field("cart") >= 1`` then selects abandoned-cart
    candidates.  Filter ``events`` to the window you mean first.
    """
    return _wide_counts(
        events,
        customer_id_col=customer_id_col,
        value_col=event_col,
        keyword="event_col",
        prefix=prefix,
    )


def _wide_counts(
    frame: pd.DataFrame, *, customer_id_col: str, value_col: str, keyword: str, prefix: str
) -> pd.DataFrame:
    require_columns(
        frame,
        frame_name="transactions" if keyword == "category_col" else "events",
        customer_id_col=customer_id_col,
        **{keyword: value_col},
    )
    check_ids(frame[customer_id_col], column=customer_id_col, frame_name="frame")
    values = frame[value_col]
    if values.isna().any():
        msg = f"column {value_col!r} ({keyword}) has missing values; fill or drop them"
        raise ValidationError(msg)
    customer_codes, customers = pd.factorize(frame[customer_id_col], sort=True)
    value_codes, labels = pd.factorize(values, sort=True)
    n_labels = max(len(labels), 1)
    counts = np.bincount(
        customer_codes * n_labels + value_codes, minlength=len(customers) * n_labels
    ).reshape(len(customers), n_labels)
    columns = [f"{prefix}{label}" for label in labels]
    return pd.DataFrame(
        counts[:, : len(labels)],
        index=pd.Index(customers, name=customer_id_col),
        columns=columns,
    )
