"""The newer Mirror elements at runtime (SPEC §10), each against loopback origins:
alternates and switching, transparent status codes, HEAD on a miss, proxy only,
origin metadata, the origin's Last-Modified, slashes and response headers."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils.http import http_date

from buckets.models import StoredObject
from buckets.storage import open_blob
from origin.models import OriginFetch
from tests.origin_server import OriginServer, unused_port


@pytest.fixture
def second_origin():
    server = OriginServer()
    yield server
    server.close()


def read(response):
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def saved(bucket, key):
    return StoredObject.objects.filter(bucket=bucket, key=key).first()


# -- MirrorMultiAlternates + MirrorSwitchAllErrors ------------------------------------


def test_a_5xx_from_the_primary_moves_on_to_the_alternate_which_is_saved(
    alice_client, bucket, origin_server, second_origin, mirror_rule
):
    origin_server.route("/a.txt", status=500, body=b"broken")
    second_origin.route("/b/a.txt", body=b"from the alternate")
    mirror_rule(alternates=[[1, second_origin.url("/b/")]])

    response = alice_client.get("/alice-bucket/a.txt")

    assert (response.status_code, read(response)) == (200, b"from the alternate")
    with open_blob(saved(bucket, "a.txt")) as handle:
        assert handle.read() == b"from the alternate"
    logged = OriginFetch.objects.get(bucket=bucket, key="a.txt")
    assert logged.origin_url == second_origin.url(
        "/b/a.txt"
    )  # the origin that answered
    assert logged.outcome == OriginFetch.Outcome.SAVED


def test_alternates_are_tried_in_number_order_after_a_refused_connection(
    alice_client, bucket, origin_server, second_origin, mirror_rule
):
    dead = f"http://127.0.0.1:{unused_port()}/"
    second_origin.route("/x.txt", body=b"third")
    origin_server.route("/x.txt", body=b"second")
    rule = mirror_rule(
        alternates=[[9, second_origin.url("/")], [2, origin_server.url("/")]]
    )
    rule.host = dead.removeprefix("http://").rstrip("/")
    rule.save()

    response = alice_client.get("/alice-bucket/x.txt")

    assert read(response) == b"second"  # number 2 before number 9
    assert second_origin.requests_to("/x.txt") == []


def test_without_switch_on_all_errors_a_404_from_the_primary_is_the_answer(
    alice_client, bucket, origin_server, second_origin, mirror_rule
):
    second_origin.route("/n.txt", body=b"only here")
    mirror_rule(alternates=[[1, second_origin.url("/")]])

    response = alice_client.get("/alice-bucket/n.txt")

    assert response.status_code == 404
    assert second_origin.requests_to("/n.txt") == []


@pytest.mark.parametrize("status", [403, 404])
def test_with_switch_on_all_errors_any_non_200_moves_on(
    alice_client, bucket, origin_server, second_origin, mirror_rule, status
):
    origin_server.route("/n.txt", status=status, body=b"no")
    second_origin.route("/n.txt", body=b"only here")
    mirror_rule(alternates=[[1, second_origin.url("/")]], switch_on_all_errors=True)

    response = alice_client.get("/alice-bucket/n.txt")

    assert (response.status_code, read(response)) == (200, b"only here")
    assert saved(bucket, "n.txt") is not None


def test_when_every_origin_fails_the_answer_names_each_failure(
    alice_client, bucket, origin_server, second_origin, mirror_rule
):
    origin_server.route("/f.txt", status=502, body=b"bad gateway")
    second_origin.route("/f.txt", status=503, body=b"unavailable")
    mirror_rule(alternates=[[1, second_origin.url("/")]])

    response = alice_client.get("/alice-bucket/f.txt")

    assert response.status_code == 424
    assert b"HTTP 503" in response.content
    assert origin_server.url("/f.txt").encode() in response.content
    assert saved(bucket, "f.txt") is None


def test_a_failing_probe_without_a_secondary_skips_to_the_alternates(
    alice_client, bucket, origin_server, second_origin, mirror_rule, fresh_probe_cache
):
    origin_server.route("/health", status=503)
    origin_server.route("/p.txt", body=b"primary")
    second_origin.route("/p.txt", body=b"alternate")
    mirror_rule(
        probe_url=origin_server.url("/health"),
        alternates=[[1, second_origin.url("/")]],
    )

    response = alice_client.get("/alice-bucket/p.txt")

    assert read(response) == b"alternate"
    assert origin_server.requests_to("/p.txt") == []


# -- TransparentMirrorResponseCodes -----------------------------------------------------


@pytest.mark.parametrize("status", [403, 429])
def test_transparent_codes_reach_the_client_as_they_are_and_nothing_is_saved(
    alice_client, bucket, origin_server, mirror_rule, status
):
    origin_server.route(
        "/t.txt",
        status=status,
        body=b"origin says no",
        headers={"Content-Type": "text/plain"},
    )
    mirror_rule(transparent_codes=[403, 429])

    response = alice_client.get("/alice-bucket/t.txt")

    assert (response.status_code, response.content) == (status, b"origin says no")
    assert response["Content-Type"] == "text/plain"
    assert saved(bucket, "t.txt") is None


def test_a_transparent_body_is_cut_at_64_kib(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/big-error", status=403, body=b"e" * 200_000)
    mirror_rule(transparent_codes=[403])

    response = alice_client.get("/alice-bucket/big-error")

    assert (response.status_code, len(response.content)) == (403, 64 * 1024)


def test_a_code_not_listed_is_still_a_mirror_failure(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/t.txt", status=403, body=b"no")
    mirror_rule(transparent_codes=[429])

    assert alice_client.get("/alice-bucket/t.txt").status_code == 424


# -- MirrorAllowHeadObject -----------------------------------------------------------


def test_head_on_a_miss_asks_the_origin_with_head_and_saves_nothing(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route(
        "/h.txt",
        body=b"twelve bytes",
        headers={
            "Content-Type": "text/plain",
            "ETag": '"abc"',
            "Last-Modified": "Mon, 02 Nov 2026 10:00:00 GMT",
        },
    )
    mirror_rule(mirror_head=True)

    first = alice_client.head("/alice-bucket/h.txt")
    second = alice_client.head("/alice-bucket/h.txt")

    assert first.status_code == 200
    assert (first["Content-Length"], first["Content-Type"], first["ETag"]) == (
        "12",
        "text/plain",
        '"abc"',
    )
    assert first["Last-Modified"] == "Mon, 02 Nov 2026 10:00:00 GMT"
    assert second.status_code == 200  # asked again, not cached
    assert [r.method for r in origin_server.requests_to("/h.txt")] == ["HEAD", "HEAD"]
    assert saved(bucket, "h.txt") is None


def test_head_on_a_miss_answers_the_origins_404(
    alice_client, bucket, origin_server, mirror_rule
):
    mirror_rule(mirror_head=True)

    assert alice_client.head("/alice-bucket/nothing.txt").status_code == 404
    assert [r.method for r in origin_server.requests_to("/nothing.txt")] == ["HEAD"]


def test_without_the_option_head_on_a_miss_stays_404_and_the_origin_is_not_asked(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/h.txt", body=b"x")
    mirror_rule()

    assert alice_client.head("/alice-bucket/h.txt").status_code == 404
    assert origin_server.requests_to("/h.txt") == []


# -- MirrorProxyPass -----------------------------------------------------------------


def test_proxy_only_streams_the_answer_and_saves_nothing(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/live.json", body=b'{"n": 1}')
    mirror_rule(proxy_only=True)

    first = alice_client.get("/alice-bucket/live.json")
    assert read(first) == b'{"n": 1}'
    origin_server.route("/live.json", body=b'{"n": 2}')
    second = alice_client.get("/alice-bucket/live.json")

    assert read(second) == b'{"n": 2}'  # fetched again: nothing was kept
    assert saved(bucket, "live.json") is None
    outcomes = set(
        OriginFetch.objects.filter(key="live.json").values_list("outcome", flat=True)
    )
    assert outcomes == {OriginFetch.Outcome.NOT_SAVED}


# -- MirrorSaveOssMeta / MirrorUserLastModified -----------------------------------------


def test_save_origin_meta_keeps_oss_and_amz_user_metadata(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route(
        "/m.txt",
        body=b"meta",
        headers={
            "x-oss-meta-owner": "alice",
            "x-amz-meta-project": "move",
            "x-other": "dropped",
        },
    )
    mirror_rule(save_origin_meta=True)

    response = alice_client.get("/alice-bucket/m.txt")
    read(response)

    assert response["x-oss-meta-owner"] == "alice"
    assert saved(bucket, "m.txt").user_meta == {"owner": "alice", "project": "move"}
    head = alice_client.head("/alice-bucket/m.txt")
    assert head["x-oss-meta-project"] == "move"


def test_without_save_origin_meta_the_origins_metadata_is_not_kept(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/m.txt", body=b"meta", headers={"x-oss-meta-owner": "alice"})
    mirror_rule()

    read(alice_client.get("/alice-bucket/m.txt"))

    assert saved(bucket, "m.txt").user_meta == {}


def test_keep_origin_last_modified(alice_client, bucket, origin_server, mirror_rule):
    stamp = "Tue, 03 Feb 2015 04:05:06 GMT"
    origin_server.route("/old.txt", body=b"old", headers={"Last-Modified": stamp})
    mirror_rule(keep_origin_last_modified=True)

    response = alice_client.get("/alice-bucket/old.txt")
    read(response)

    assert response["Last-Modified"] == stamp
    assert saved(bucket, "old.txt").last_modified == datetime(
        2015, 2, 3, 4, 5, 6, tzinfo=UTC
    )


def test_an_unreadable_origin_last_modified_falls_back_to_the_fetch_time(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/odd.txt", body=b"x", headers={"Last-Modified": "yesterday"})
    mirror_rule(keep_origin_last_modified=True)

    response = alice_client.get("/alice-bucket/odd.txt")
    read(response)

    stored = saved(bucket, "odd.txt")
    assert response["Last-Modified"] == http_date(stored.last_modified.timestamp())
    assert stored.last_modified.year >= 2026


# -- MirrorPassOriginalSlashes / MirrorReturnHeaders -------------------------------------


def test_repeated_slashes_collapse_unless_the_rule_keeps_them(
    alice_client, bucket, origin_server, make_rule, allow_private_origins
):
    origin_server.route("/a/b.txt", body=b"collapsed")
    origin_server.route("/keep//a//b.txt", body=b"kept")
    make_rule(
        bucket,
        key_prefix="keep/",
        protocol="http",
        host=origin_server.netloc,
        pass_original_slashes=True,
    )
    make_rule(bucket, protocol="http", host=origin_server.netloc)

    assert read(alice_client.get("/alice-bucket/a//b.txt")) == b"collapsed"
    assert read(alice_client.get("/alice-bucket/keep//a//b.txt")) == b"kept"


def test_return_headers_are_added_to_the_mirrored_answer(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/r.txt", body=b"r")
    mirror_rule(return_headers=[["Access-Control-Allow-Origin", "*"]])

    response = alice_client.get("/alice-bucket/r.txt")
    read(response)

    assert response["Access-Control-Allow-Origin"] == "*"


# -- MirrorTaggings --------------------------------------------------------------------


def test_mirror_taggings_tag_the_saved_copy(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/tagged.txt", body=b"t")
    mirror_rule(mirror_tags=[["source", "old site"], ["team", "web"]])

    read(alice_client.get("/alice-bucket/tagged.txt"))

    assert saved(bucket, "tagged.txt").tags == {"source": "old site", "team": "web"}
    head = alice_client.head("/alice-bucket/tagged.txt")
    assert head["x-oss-tagging-count"] == "2"


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ([["k", "v"]] * 2, "unique"),
        ([[f"k{n}", "v"] for n in range(11)], "at most 10 tags"),
        ([["", "v"]], "1 to 128 characters"),
        ([["bad<key>", "v"]], "may hold only"),
    ],
)
def test_bad_mirror_tags_are_refused(bucket, make_rule, tags, message):
    with pytest.raises(ValidationError) as refused:
        make_rule(bucket, mirror_tags=tags)

    assert message in " ".join(refused.value.message_dict["mirror_tags"])
