import pytest
from django.core.exceptions import ValidationError

from buckets.models import Bucket
from buckets.names import key_range, validate_bucket_name, validate_object_key


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "a" * 63,
        "my-bucket-1",
        "123",
        "a-b",
        "0-9",
        "bucket--with--double-hyphens",
        "consoles",  # only the exact reserved words are refused
        "my-api",
        "healthz2",
    ],
)
def test_valid_bucket_names_are_accepted(name):
    validate_bucket_name(name)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "length"),
        ("ab", "length"),
        ("a" * 64, "length"),
        ("-abc", "characters"),
        ("abc-", "characters"),
        ("-", "length"),
        ("---", "characters"),
        ("My-Bucket", "characters"),
        ("ABC", "characters"),
        ("my_bucket", "characters"),
        ("my.bucket", "characters"),
        ("my bucket", "characters"),
        ("bücket", "characters"),
        ("abc/def", "characters"),
        ("abc\n", "characters"),  # "$" alone would let a trailing newline through
        ("\nabc", "characters"),
        ("console", "reserved"),
        ("api", "reserved"),
        ("admin", "reserved"),
        ("static", "reserved"),
        ("accounts", "reserved"),
        ("healthz", "reserved"),
    ],
)
def test_invalid_bucket_names_are_rejected_with_a_reason(name, code):
    with pytest.raises(ValidationError) as excinfo:
        validate_bucket_name(name)
    assert excinfo.value.code == code


def test_the_bucket_model_refuses_a_reserved_name(alice):
    with pytest.raises(ValidationError) as excinfo:
        Bucket(owner=alice, name="console").full_clean()
    assert excinfo.value.message_dict == {
        "name": ["'console' is reserved and cannot be a bucket name."]
    }


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "a/b/c.txt",
        "folder/",
        "with space.txt",
        " leading and trailing ",
        "ünïcödé/文件.txt",
        "emoji-😀.png",
        "?#%&+=;.txt",
        "a\\b",
        "../../etc/passwd",
        "a//b",
        "\U0010ffff",
        "a" * 1023,
        "é" * 511 + "a",  # 1023 bytes of UTF-8 in 512 characters
        "中" * 341,  # 1023 bytes in 341 characters
        "😀" * 255 + "abc",  # 1023 bytes in 258 characters
    ],
)
def test_valid_object_keys_are_accepted(key):
    validate_object_key(key)


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("", "empty"),
        ("a" * 1024, "length"),
        ("é" * 512, "length"),  # only 512 characters, but 1024 bytes
        ("中" * 341 + "a", "length"),
        ("😀" * 256, "length"),
        ("/a", "leading_slash"),
        ("/", "leading_slash"),
        ("\\a", "leading_slash"),
        ("a\x00b", "control"),
        ("a\ud800b", "encoding"),  # a lone surrogate has no UTF-8 form
    ],
)
def test_invalid_object_keys_are_rejected_with_a_reason(key, code):
    with pytest.raises(ValidationError) as excinfo:
        validate_object_key(key)
    assert excinfo.value.code == code


def test_an_over_long_key_reports_its_size_in_bytes():
    with pytest.raises(ValidationError) as excinfo:
        validate_object_key("é" * 512)
    assert excinfo.value.messages == [
        "The object name is 1024 bytes long; the limit is 1023 bytes of UTF-8."
    ]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("", ("", None)),
        ("a", ("a", "b")),
        ("az", ("az", "a{")),
        ("photos/", ("photos/", "photos0")),
        ("A", ("A", "B")),
        ("é", ("é", "ê")),
        ("\uffff", ("\uffff", "\U00010000")),
        ("a\ud7ff", ("a\ud7ff", "a\ue000")),  # steps over the surrogate block
        ("a\U0010ffff", ("a\U0010ffff", "b")),
        ("ab\U0010ffff\U0010ffff", ("ab\U0010ffff\U0010ffff", "ac")),
        ("\U0010ffff", ("\U0010ffff", None)),
        ("\U0010ffff\U0010ffff", ("\U0010ffff\U0010ffff", None)),
    ],
)
def test_key_range_is_the_half_open_range_of_keys_with_the_prefix(prefix, expected):
    assert key_range(prefix) == expected


@pytest.mark.parametrize(
    ("prefix", "key"),
    [
        ("a", "a"),
        ("a", "ab"),
        ("a", "a\U0010ffff"),
        ("a", "b"),
        ("a", "A"),
        ("a", "`"),
        ("photos/", "photos/2024/x.jpg"),
        ("photos/", "photos0"),
        ("photos/", "photos.txt"),
        ("a\ud7ff", "a\ud7ffz"),
        ("a\ud7ff", "a\ue000"),
        ("a\U0010ffff", "a\U0010ffff\U0010ffff"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", "\U0010ffffz"),
        ("\U0010ffff", "\U0010fffe"),
        ("", "anything"),
    ],
)
def test_a_key_is_in_the_range_exactly_when_it_starts_with_the_prefix(prefix, key):
    low, high = key_range(prefix)
    in_range = low <= key and (high is None or key < high)
    assert in_range == key.startswith(prefix)
