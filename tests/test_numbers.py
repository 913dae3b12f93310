"""The bounded decimal parser every request number goes through (buckets/numbers.py)."""

import pytest

from buckets.numbers import parse_decimal

NINES = "9" * 4301  # more digits than int() accepts


@pytest.mark.parametrize(
    ("text", "max_value", "value"),
    [
        ("0", 10, 0),
        ("7", 10, 7),
        ("10", 10, 10),
        ("007", 10, 7),
        ("0" * 5000 + "1", 10, 1),
        ("0" * 5000, 10, 0),
        ("999999999999999999", 10**18, 999999999999999999),
    ],
)
def test_ascii_decimals_up_to_the_bound_are_read(text, max_value, value):
    assert parse_decimal(text, max_value=max_value) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 1",
        "1 ",
        "1\n",
        "+1",
        "-1",
        "1.0",
        "1e3",
        "0x10",
        "1_000",
        "\u00b2",  # superscript two: isdigit() says yes, int() says no
        "\u0663",  # Arabic-Indic three: int() would read it
        "\uff11",  # fullwidth one
    ],
    ids=repr,
)
def test_anything_but_ascii_digits_is_refused(text):
    with pytest.raises(ValueError, match="not a decimal number"):
        parse_decimal(text, max_value=10**18)


@pytest.mark.parametrize("text", ["11", "100", NINES], ids=["11", "100", "4301-nines"])
def test_a_value_above_the_bound_is_refused(text):
    with pytest.raises(ValueError, match="larger than 10"):
        parse_decimal(text, max_value=10)


@pytest.mark.parametrize("text", ["11", NINES], ids=["11", "4301-nines"])
def test_clamp_answers_the_bound_for_larger_values(text):
    assert parse_decimal(text, max_value=10, clamp=True) == 10


def test_clamp_still_refuses_what_is_not_a_number():
    with pytest.raises(ValueError, match="not a decimal number"):
        parse_decimal("\u00b2", max_value=10, clamp=True)
