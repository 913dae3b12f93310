"""Evaluating a parsed query's expressions on one record, and its aggregates.

Values are None (SQL NULL), bool, int, float, Decimal, str and, from JSON, dict
and list. CSV fields are text: as OSS does, a comparison or arithmetic with a
number converts the text to a number (an empty field is NULL), and a value that
cannot be converted is a RecordError (the record is skipped, or the query stops).
"""

import json
import math
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from operator import add, mul, sub

from buckets.select import sql
from buckets.select.records import JsonNumber, RecordError, is_number

MISSING = object()  # a column the record does not have (a partial record)

_INT_TEXT = re.compile(r"[+-]?[0-9]{1,18}")
_NUMBER_TEXT = re.compile(
    r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?"
)


def evaluate(expr, value_of):
    """The value of `expr`; `value_of(column)` reads a Column of the record."""
    kind = type(expr)
    if kind is sql.Literal:
        return expr.value
    if kind is sql.Column:
        value = value_of(expr)
        return None if value is MISSING else value
    if kind is sql.Binary:
        if expr.op in ("and", "or"):
            return _logic(expr, value_of)
        left, right = evaluate(expr.left, value_of), evaluate(expr.right, value_of)
        return _binary(expr.op, left, right)
    if kind is sql.Unary:
        operand = evaluate(expr.operand, value_of)
        if expr.op == "not":
            truth = as_truth(operand)
            return None if truth is None else not truth
        return None if operand is None else _arithmetic("-", 0, operand)
    if kind is sql.Cast:
        return cast(evaluate(expr.operand, value_of), expr.type)
    if kind is sql.Like:
        return _like(expr, evaluate(expr.operand, value_of))
    if kind is sql.IsNull:
        return (evaluate(expr.operand, value_of) is None) != expr.negated
    if kind is sql.In:
        return _in(expr, evaluate(expr.operand, value_of))
    if kind is sql.Between:
        return _between(expr, value_of)
    raise RecordError(f"{kind.__name__} cannot be evaluated per record.")


def as_truth(value):
    """A WHERE result as True, False or None (unknown)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RecordError(f"{text_of(value)!r} is not a boolean.")


def _logic(expr, value_of):
    left = as_truth(evaluate(expr.left, value_of))
    if expr.op == "and" and left is False:
        return False
    if expr.op == "or" and left is True:
        return True
    right = as_truth(evaluate(expr.right, value_of))
    if expr.op == "and":
        return False if right is False else (None if None in (left, right) else True)
    return True if right is True else (None if None in (left, right) else False)


def _binary(op, left, right):
    if left is None or right is None:
        return None
    if op == "||":
        return text_of(left) + text_of(right)
    if op in ("+", "-", "*", "/", "%"):
        return _arithmetic(op, left, right)
    return _compare(op, left, right)


_COMPARISONS = {
    "=": lambda order: order == 0,
    "!=": lambda order: order != 0,
    "<": lambda order: order < 0,
    "<=": lambda order: order <= 0,
    ">": lambda order: order > 0,
    ">=": lambda order: order >= 0,
}


def _compare(op, left, right):
    order = compare(left, right)
    return None if order is None else _COMPARISONS[op](order)


def compare(left, right):
    """-1, 0 or 1; None when a side is NULL (or text that converts to NULL)."""
    left, right = _comparable(left, right)
    if left is None or right is None:
        return None
    try:
        return (left > right) - (left < right)
    except TypeError:
        raise RecordError(
            f"{text_of(left)!r} and {text_of(right)!r} cannot be compared."
        ) from None


def _comparable(left, right):
    """Both sides as one kind: numbers if either is one, else as they are."""
    if is_number(left) or is_number(right):
        left, right = to_number(left), to_number(right)
        if isinstance(left, float) or isinstance(right, float):
            return _float(left), _float(right)
        return left, right
    if isinstance(left, bool) or isinstance(right, bool):
        return as_truth(left), as_truth(right)
    containers = isinstance(left, dict | list) or isinstance(right, dict | list)
    if containers and type(left) is not type(right):
        raise RecordError("An object or array cannot be compared with a value.")
    return left, right


def _float(value):
    return None if value is None else float(value)


def to_number(value):
    """A number for arithmetic and comparison; text is converted, "" is NULL."""
    if value is None or (is_number(value) and not isinstance(value, JsonNumber)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if _INT_TEXT.fullmatch(text):
            return int(text)
        if _NUMBER_TEXT.fullmatch(text):
            return Decimal(text)
    raise RecordError(f"{text_of(value)!r} is not a number.")


def _arithmetic(op, left, right):
    left, right = to_number(left), to_number(right)
    if left is None or right is None:
        return None
    if isinstance(left, float) or isinstance(right, float):
        left, right = float(left), float(right)
    try:
        if op in ("+", "-", "*"):
            return _in_int64({"+": add, "-": sub, "*": mul}[op](left, right))
        if op == "%":
            return (
                math.fmod(left, right)
                if isinstance(left, float)
                else _int_remainder(left, right)
            )
        if isinstance(left, int) and isinstance(right, int):
            quotient, remainder = divmod(left, right)
            return quotient if remainder == 0 else left / right
        return left / right
    except (ZeroDivisionError, InvalidOperation):
        raise RecordError("Division by zero.") from None


def _in_int64(value):
    """OSS's INT is 64-bit: a result beyond it is an error, not a huge number."""
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise RecordError("The integer result is beyond 64 bits.")
    return value


def _int_remainder(left, right):
    """SQL's remainder has the dividend's sign (Python's % has the divisor's)."""
    if right == 0:
        raise ZeroDivisionError
    remainder = Decimal(left) % Decimal(right)
    return (
        int(remainder)
        if isinstance(left, int) and isinstance(right, int)
        else remainder
    )


def _like(expr, value):
    if value is None:
        return None
    return bool(_like_pattern(expr.pattern).fullmatch(text_of(value))) != expr.negated


@lru_cache(maxsize=64)
def _like_pattern(pattern):
    """% and * match any run of characters (OSS treats them alike), _ one character."""
    parts = []
    for character in pattern:
        if character in "%*":
            parts.append(".*")
        elif character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(character))
    return re.compile("".join(parts), re.DOTALL)


def _in(expr, value):
    if value is None:
        return None
    found = any(compare(value, member.value) == 0 for member in expr.values)
    return found != expr.negated


def _between(expr, value_of):
    value = evaluate(expr.operand, value_of)
    low, high = evaluate(expr.low, value_of), evaluate(expr.high, value_of)
    above, below = compare(value, low), compare(value, high)
    if above is None or below is None:
        return None
    return (above >= 0 and below <= 0) != expr.negated


# -- CAST ------------------------------------------------------------------------------


def cast(value, type_name):
    if value is None:
        return None
    if type_name == "string":
        return text_of(value)
    if isinstance(value, str) and value.strip() == "" and type_name != "bool":
        return None
    try:
        return _CASTS[type_name](value)
    except (ValueError, InvalidOperation, OverflowError, TypeError):
        raise RecordError(
            f"{text_of(value)!r} cannot be cast to {type_name}."
        ) from None


def _to_int(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if not _INT_TEXT.fullmatch(text):
            raise ValueError(text)
        return int(text)
    if isinstance(value, float | Decimal):
        return _in_int64(int(value))
    if isinstance(value, int):
        return value
    raise ValueError(value)


def _to_double(value):
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value.strip()):
            raise ValueError(value)
        return float(value.strip())
    if is_number(value):
        return float(value)
    raise ValueError(value)


def _to_decimal(value):
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value.strip()):
            raise ValueError(value)
        return Decimal(value.strip())
    if isinstance(value, float):
        return Decimal(repr(value))
    if is_number(value):
        return Decimal(value)
    raise ValueError(value)


def _to_bool(value):
    if isinstance(value, bool):
        return value
    if is_number(value) and not isinstance(value, str):
        return value != 0
    truth = as_truth(value) if isinstance(value, str) else None
    if truth is None:
        raise ValueError(value)
    return truth


_CASTS = {
    "int": _to_int,
    "double": _to_double,
    "decimal": _to_decimal,
    "bool": _to_bool,
}


# -- text ------------------------------------------------------------------------------


def text_of(value):
    """A value as CSV output writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | Decimal):
        return str(value)
    return json_text(value)


def json_text(value):
    """Compact JSON; numbers kept as text (ParseJsonNumberAsString) stay numbers."""
    if isinstance(value, dict):
        members = (
            f"{json.dumps(key, ensure_ascii=False)}:{json_text(item)}"
            for key, item in value.items()
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(json_text(item) for item in value) + "]"
    if isinstance(value, JsonNumber | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "null"
    return json.dumps(value, ensure_ascii=False)


# -- aggregates ------------------------------------------------------------------------


class Aggregator:
    """One aggregate's running state over the records that pass WHERE."""

    def __init__(self, aggregate):
        self.aggregate = aggregate
        self.count = 0
        self.total = None
        self.best = None
        self.sign = -1 if aggregate.name == "min" else 1

    def add(self, value_of):
        name, operand = self.aggregate.name, self.aggregate.operand
        if operand is None:  # COUNT(*)
            self.count += 1
            return
        value = evaluate(operand, value_of)
        if value is None:
            return
        if name == "count":
            self.count += 1
        elif name in ("sum", "avg"):
            number = to_number(value)
            if number is None:
                return
            self.count += 1
            self.total = (
                number if self.total is None else _arithmetic("+", self.total, number)
            )
        else:
            order = None if self.best is None else compare(value, self.best)
            if self.best is None or (order is not None and order * self.sign > 0):
                self.best = value

    def result(self):
        name = self.aggregate.name
        if name == "count":
            return self.count
        if name == "sum":
            return self.total
        if name == "avg":
            if self.count == 0:
                return None
            return _arithmetic("/", self.total, self.count)
        return self.best
