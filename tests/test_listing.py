import math
import uuid

import pytest

from buckets.listing import list_objects
from buckets.models import StoredObject


def add_keys(bucket, keys):
    """Rows only: listing never opens the bytes."""
    StoredObject.objects.bulk_create(
        StoredObject(
            bucket=bucket, key=key, blob=uuid.uuid4().hex, size=1, md5="0" * 32
        )
        for key in keys
    )


def entries(listing):
    """Keys and folders of one page, in key order."""
    return sorted([obj.key for obj in listing.objects] + listing.common_prefixes)


def page_through(bucket, max_keys, **options):
    """Every page from the first to the last not truncated, following next_marker."""
    pages, marker = [], ""
    while True:
        listing = list_objects(bucket, marker=marker, max_keys=max_keys, **options)
        pages.append(listing)
        if not listing.is_truncated:
            return pages
        assert len(pages) < 1000, "listing never ends"
        marker = listing.next_marker


def test_a_listing_returns_every_key_in_byte_order(bucket):
    add_keys(bucket, ["b", "a", "B", "é", "😀", "a/b", "a-b", "~", "中"])

    listing = list_objects(bucket)

    assert [obj.key for obj in listing.objects] == [
        "B",
        "a",
        "a-b",
        "a/b",
        "b",
        "~",
        "é",
        "中",
        "😀",
    ]
    assert listing.common_prefixes == []
    assert listing.is_truncated is False


def test_a_listing_shows_only_its_own_bucket(bucket, public_bucket):
    add_keys(bucket, ["mine.txt"])
    add_keys(public_bucket, ["other.txt"])

    assert [obj.key for obj in list_objects(bucket).objects] == ["mine.txt"]


def test_an_empty_bucket_lists_nothing(bucket):
    listing = list_objects(bucket, delimiter="/")

    assert (listing.objects, listing.common_prefixes, listing.is_truncated) == (
        [],
        [],
        False,
    )


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("photos/", ["photos/2023/a.jpg", "photos/2024/b.jpg"]),
        ("photo", ["photo", "photos.txt", "photos/2023/a.jpg", "photos/2024/b.jpg"]),
        ("photos/2023/", ["photos/2023/a.jpg"]),
        ("photos/2023/a.jpg", ["photos/2023/a.jpg"]),
        ("photos/2025/", []),
        ("v", ["videos/x.mp4"]),
        ("", [
            "Photos/c.jpg",
            "photo",
            "photos.txt",
            "photos/2023/a.jpg",
            "photos/2024/b.jpg",
            "videos/x.mp4",
        ]),
    ],
)  # fmt: skip
def test_a_prefix_keeps_only_the_keys_that_start_with_it(prefix, expected, bucket):
    add_keys(
        bucket,
        [
            "photos/2023/a.jpg",
            "photos/2024/b.jpg",
            "photos.txt",
            "photo",
            "Photos/c.jpg",
            "videos/x.mp4",
        ],
    )

    listing = list_objects(bucket, prefix=prefix)

    assert [obj.key for obj in listing.objects] == expected


@pytest.mark.parametrize(
    ("prefix", "objects", "folders"),
    [
        ("", ["a.txt", "docs", "z.txt"], ["docs/", "images/"]),
        ("docs/", ["docs/", "docs/readme.md"], ["docs/guide/"]),
        ("docs/guide/", ["docs/guide/intro.md"], ["docs/guide/deep/"]),
        ("images/", ["images/1.png", "images/2.png"], []),
        ("d", ["docs"], ["docs/"]),
    ],
)
def test_a_delimiter_rolls_keys_up_into_folders(prefix, objects, folders, bucket):
    add_keys(
        bucket,
        [
            "a.txt",
            "docs",
            "docs/",
            "docs/readme.md",
            "docs/guide/intro.md",
            "docs/guide/deep/x.md",
            "images/1.png",
            "images/2.png",
            "z.txt",
        ],
    )

    listing = list_objects(bucket, prefix=prefix, delimiter="/")

    assert [obj.key for obj in listing.objects] == objects
    assert listing.common_prefixes == folders
    assert listing.is_truncated is False


def test_a_delimiter_may_be_longer_than_one_character(bucket):
    add_keys(bucket, ["a--b--c", "a--d", "a-e", "f"])

    listing = list_objects(bucket, delimiter="--")

    assert [obj.key for obj in listing.objects] == ["a-e", "f"]
    assert listing.common_prefixes == ["a--"]


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("", ["a", "b", "c", "d", "e"]),
        ("b", ["c", "d", "e"]),
        ("bb", ["c", "d", "e"]),
        ("B", ["a", "b", "c", "d", "e"]),
        ("e", []),
        ("zzz", []),
    ],
)
def test_a_marker_starts_the_listing_after_it(marker, expected, bucket):
    add_keys(bucket, ["a", "b", "c", "d", "e"])

    listing = list_objects(bucket, marker=marker)

    assert [obj.key for obj in listing.objects] == expected


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("a", ["p/1", "p/2"]),
        ("p/1", ["p/2"]),
        ("q", []),
    ],
)
def test_a_marker_and_a_prefix_combine(marker, expected, bucket):
    add_keys(bucket, ["a", "p/1", "p/2", "z"])

    listing = list_objects(bucket, prefix="p/", marker=marker)

    assert [obj.key for obj in listing.objects] == expected


def test_a_folder_as_marker_skips_the_whole_folder(bucket):
    add_keys(bucket, ["a.txt", "docs/1", "docs/2", "docs/sub/3", "e.txt"])

    listing = list_objects(bucket, delimiter="/", marker="docs/")

    assert [obj.key for obj in listing.objects] == ["e.txt"]
    assert listing.common_prefixes == []


def test_max_keys_cuts_a_listing_into_pages(bucket):
    add_keys(bucket, ["a", "b", "c", "d", "e"])

    pages = page_through(bucket, max_keys=2)

    assert [
        ([obj.key for obj in page.objects], page.is_truncated, page.next_marker)
        for page in pages
    ] == [
        (["a", "b"], True, "b"),
        (["c", "d"], True, "d"),
        (["e"], False, "e"),
    ]


def test_a_page_that_ends_exactly_at_the_last_key_is_not_truncated(bucket):
    add_keys(bucket, ["a", "b", "c"])

    listing = list_objects(bucket, max_keys=3)

    assert [obj.key for obj in listing.objects] == ["a", "b", "c"]
    assert listing.is_truncated is False


def test_max_keys_counts_folders_as_well_as_keys(bucket):
    add_keys(bucket, ["a/1", "a/2", "b/1", "c", "d/1"])

    pages = page_through(bucket, max_keys=2, delimiter="/")

    assert [
        (
            [obj.key for obj in page.objects],
            page.common_prefixes,
            page.is_truncated,
            page.next_marker,
        )
        for page in pages
    ] == [
        ([], ["a/", "b/"], True, "b/"),
        (["c"], ["d/"], False, "d/"),
    ]


def test_a_page_of_one_can_end_on_a_folder(bucket):
    add_keys(bucket, ["a/1", "a/2", "b"])

    pages = page_through(bucket, max_keys=1, delimiter="/")

    assert [entries(page) for page in pages] == [["a/"], ["b"]]
    assert [page.is_truncated for page in pages] == [True, False]


def _many_keys():
    keys = [f"a-{n:02d}.txt" for n in range(20)]
    keys += [f"m-{n:02d}.txt" for n in range(20)]
    keys += [f"z-{n:02d}.txt" for n in range(10)]
    # Neighbours of the folder "docs/": "-" sorts before "/", "0" after it.
    keys += ["docs", "docs-old.txt", "docs0"]
    keys += [f"docs/{n:02d}.md" for n in range(40)]
    keys += [f"images/{n:03d}.png" for n in range(30)]
    keys += [f"images/2023/{n:02d}.jpg" for n in range(35)]
    keys += [f"images/2024/{n:02d}.jpg" for n in range(35)]
    keys += [f"logs/{n:02d}.log" for n in range(57)]
    return keys


MANY_KEYS = _many_keys()


def expected_entries(prefix, delimiter):
    """What a listing must show, worked out the slow, obvious way."""
    shown = set()
    for key in MANY_KEYS:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if delimiter and delimiter in rest:
            shown.add(prefix + rest[: rest.index(delimiter) + len(delimiter)])
        else:
            shown.add(key)
    return sorted(shown)


@pytest.mark.parametrize(
    ("prefix", "delimiter", "expected_count"),
    [
        ("", "", 250),
        ("", "/", 56),
        ("images/", "/", 32),
        ("images/", "", 100),
        ("images/2023/", "/", 35),
        ("docs", "/", 4),
        ("logs/", "/", 57),
    ],
)
def test_paging_with_max_keys_7_neither_repeats_nor_skips_anything(
    prefix, delimiter, expected_count, bucket
):
    assert len(MANY_KEYS) == 250
    add_keys(bucket, MANY_KEYS)

    pages = page_through(bucket, max_keys=7, prefix=prefix, delimiter=delimiter)

    seen = [entry for page in pages for entry in entries(page)]
    assert seen == expected_entries(prefix, delimiter)
    assert len(seen) == expected_count
    assert len(pages) == math.ceil(expected_count / 7)
    assert [len(entries(page)) for page in pages[:-1]] == [7] * (len(pages) - 1)
    assert [page.is_truncated for page in pages] == [True] * (len(pages) - 1) + [False]


def test_one_page_of_everything_matches_paging(bucket):
    add_keys(bucket, MANY_KEYS)

    listing = list_objects(bucket, delimiter="/")

    assert entries(listing) == expected_entries("", "/")
    assert listing.common_prefixes == ["docs/", "images/", "logs/"]
    assert listing.is_truncated is False


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"prefix": "photos"}, ["photos.txt", "photos/b.jpg"]),
        ({"prefix": "Photos"}, ["Photos/a.jpg"]),
        ({"prefix": "PHOTOS"}, ["PHOTOS.txt"]),
        ({"prefix": "pH"}, ["pHoto"]),
        (
            {"delimiter": "/"},
            ["PHOTOS.txt", "Photos/", "pHoto", "photos.txt", "photos/"],
        ),
        ({"marker": "Photos/z"}, ["pHoto", "photos.txt", "photos/b.jpg"]),
        ({"marker": "p"}, ["pHoto", "photos.txt", "photos/b.jpg"]),
        ({"prefix": "photos", "marker": "photos.txt"}, ["photos/b.jpg"]),
    ],
)
def test_listings_are_case_sensitive(options, expected, bucket):
    # SQLite's LIKE ignores ASCII case; keys must not.
    add_keys(
        bucket, ["PHOTOS.txt", "Photos/a.jpg", "photos.txt", "photos/b.jpg", "pHoto"]
    )

    listing = list_objects(bucket, **options)

    assert entries(listing) == expected


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a_", ["a_b"]),
        ("a%", ["a%c"]),
        ("a\\", ["a\\d"]),
        ("a", ["a%c", "a\\d", "a_b", "abc", "axb"]),
    ],
)
def test_like_wildcards_in_a_prefix_are_plain_characters(prefix, expected, bucket):
    add_keys(bucket, ["a_b", "axb", "a%c", "abc", "a\\d"])

    listing = list_objects(bucket, prefix=prefix)

    assert [obj.key for obj in listing.objects] == expected


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("\U0010ffff", ["\U0010ffff", "\U0010ffff/x", "\U0010ffffz"]),
        ("\ud7ff", ["\ud7ffa"]),
        ("\ue000", ["\ue000"]),
        ("\uffff", ["\uffff"]),
        ("\U00010000", ["\U00010000"]),
        ("é", ["é/1"]),
    ],
)
def test_prefixes_at_the_edges_of_unicode(prefix, expected, bucket):
    add_keys(
        bucket,
        [
            "\U0010ffff",
            "\U0010ffff/x",
            "\U0010ffffz",
            "\ud7ffa",
            "\ue000",
            "\uffff",
            "\U00010000",
            "é/1",
            "ê",
        ],
    )

    listing = list_objects(bucket, prefix=prefix)

    assert [obj.key for obj in listing.objects] == expected


def test_a_folder_is_skipped_even_past_keys_made_of_the_highest_character(bucket):
    add_keys(bucket, ["a/b", "a/\U0010ffff", "a/\U0010ffffz", "b"])

    pages = page_through(bucket, max_keys=1, delimiter="/")

    assert [entries(page) for page in pages] == [["a/"], ["b"]]


def test_a_page_of_keys_costs_one_query(bucket, django_assert_num_queries):
    add_keys(bucket, MANY_KEYS)

    with django_assert_num_queries(1):
        listing = list_objects(bucket, max_keys=7)
    with django_assert_num_queries(1):
        everything = list_objects(bucket)

    assert len(listing.objects) == 7
    assert len(everything.objects) == 250


def test_a_page_of_folders_costs_one_query_per_folder_and_one_more(
    bucket, django_assert_max_num_queries
):
    add_keys(bucket, [f"folder-{f}/{n:02d}" for f in range(10) for n in range(20)])

    with django_assert_max_num_queries(8):
        listing = list_objects(bucket, delimiter="/", max_keys=7)

    assert listing.common_prefixes == [f"folder-{f}/" for f in range(7)]
    assert listing.is_truncated is True
