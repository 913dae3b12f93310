"""QoS: the caps' arithmetic, validation, and the OSS operations that set and show
them (GetUserQoSInfo, ?qosInfo, ?requesterQosInfo, resource pools). Enforcement on
a real server: tests/test_qos_enforcement.py."""

import xml.etree.ElementTree as ET

import pytest
from django.test import RequestFactory

from buckets import qos
from buckets.models import Bucket, QosConfiguration
from tests.oss_responses import error_fields

ALL_NO_CAP = dict.fromkeys(qos.XML_NAMES.values(), "-1")


def qos_xml(**elements):
    inner = "".join(f"<{tag}>{value}</{tag}>" for tag, value in elements.items())
    return f"<QoSConfiguration>{inner}</QoSConfiguration>".encode()


def fields_of(response, path="."):
    root = ET.fromstring(response.content).find(path)
    return {child.tag: child.text or "" for child in root}


# -- the virtual clocks ------------------------------------------------------------------


def test_a_qps_cap_lets_a_second_s_worth_in_then_one_per_interval():
    state, limits = {}, [("qps:bucket", 2)]

    assert qos.admit(state, limits, 100.0)
    assert qos.admit(state, limits, 100.0)
    assert not qos.admit(state, limits, 100.1)  # the third within the second
    assert qos.admit(state, limits, 100.5)  # half a second on: room for one more
    assert not qos.admit(state, limits, 100.5)


def test_a_request_refused_by_one_cap_uses_up_none_of_the_others():
    state = {}
    assert qos.admit(state, [("a", 1)], 100.0)
    before = dict(state)

    assert not qos.admit(state, [("b", 5), ("a", 1)], 100.0)

    assert state == before
    assert qos.retry_after(state, [("a", 1)], 100.0) == pytest.approx(1.0)


def test_bytes_wait_until_the_bytes_before_them_had_their_time():
    state, limits = {}, [("down", 1000.0)]

    assert qos.reserve(state, limits, 500, 100.0) == 0  # the link is free
    assert qos.reserve(state, limits, 500, 100.1) == pytest.approx(0.4)
    assert qos.reserve(state, limits, 500, 101.0) == pytest.approx(0.0)


def test_the_tightest_cap_sets_the_wait_and_each_cap_is_charged():
    state = {"slow": 102.0}
    limits = [("slow", 100.0), ("fast", 1000.0)]

    assert qos.reserve(state, limits, 100, 100.0) == pytest.approx(2.0)
    assert state == {"slow": pytest.approx(103.0), "fast": pytest.approx(100.1)}


class FakeLedger:
    def __init__(self):
        self.state, self.now = {}, 100.0

    def update(self, change):
        return change(self.state, self.now)


def test_a_shaped_transfer_pieces_wait_their_turn():
    slept = []
    shaper = qos.Shaper(1, [("down", 1)], sleep=slept.append)  # 1 Gbit/s
    shaper.ledger = FakeLedger()
    piece = shaper.piece  # a tenth of a second's worth
    assert piece == 12_500_000

    chunks = list(qos.shaped(iter([b"x" * piece] * 3), shaper))

    assert len(chunks) == 3
    # At 1 Gbit/s, never faster; the first piece's wait (none) is not slept at all.
    assert slept == pytest.approx([0.1, 0.2])


def test_waits_under_a_millisecond_are_not_slept_but_add_up():
    slept = []
    shaper = qos.Shaper(1, [("down", 1)], sleep=slept.append)  # 1 Gbit/s
    shaper.ledger = FakeLedger()
    small = 12_500  # 0.1 ms at 1 Gbit/s
    for _ in range(30):
        shaper.pending = small
        shaper.sleep(shaper.charge())
    # The ledger moved on 0.1 ms per transfer: from the 11th, each waits over 1 ms.
    assert len(slept) == 20
    assert slept[0] == pytest.approx(0.001)
    assert slept[-1] == pytest.approx(0.0029)


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("127.0.0.1", "intranet"),
        ("10.1.2.3", "intranet"),
        ("192.168.0.9", "intranet"),
        ("::1", "intranet"),
        ("8.8.8.8", "extranet"),
        ("", "extranet"),
    ],
)
def test_the_network_is_told_by_the_client_address(address, network):
    request = RequestFactory().get("/", REMOTE_ADDR=address)
    assert qos.network_of(request) == network


# -- validation ----------------------------------------------------------------------------

ACCOUNT = qos.Caps(total_upload_bw=10, total_download_bw=10, total_qps=100)


@pytest.mark.parametrize(
    "caps",
    [
        qos.Caps(),
        qos.Caps(total_upload_bw=10, intranet_upload_bw=10, extranet_upload_bw=0),
        qos.Caps(intranet_download_bw=2, extranet_download_bw=2),
        qos.Caps(total_qps=100, intranet_qps=50),
    ],
)
def test_caps_within_their_limits_are_accepted(caps):
    qos.check_caps(caps, ACCOUNT)


@pytest.mark.parametrize(
    ("caps", "element"),
    [
        (qos.Caps(total_upload_bw=11), "TotalUploadBandwidth"),
        (qos.Caps(total_upload_bw=5, intranet_upload_bw=6), "IntranetUploadBandwidth"),
        (qos.Caps(extranet_download_bw=11), "ExtranetDownloadBandwidth"),
        (qos.Caps(extranet_qps=101), "ExtranetQps"),
        (qos.Caps(total_qps=-2), "TotalQps"),
    ],
)
def test_caps_beyond_their_limits_are_refused_naming_the_field(caps, element):
    with pytest.raises(qos.errors.OssError) as raised:
        qos.check_caps(caps, ACCOUNT)
    assert raised.value.code == "InvalidArgument"
    assert raised.value.details["ArgumentName"] == element


# -- the bucket's caps through the API --------------------------------------------------


@pytest.mark.django_db
def test_a_bucket_without_caps_answers_no_caps(alice_signed_client, bucket):
    response = alice_signed_client("GET", bucket.name, params={"qosInfo": ""})

    assert response.status_code == 200
    assert fields_of(response) == ALL_NO_CAP


@pytest.mark.django_db
def test_bucket_caps_are_stored_shown_and_deleted(alice_signed_client, bucket):
    put = alice_signed_client(
        "PUT",
        bucket.name,
        params={"qosInfo": ""},
        body=qos_xml(TotalDownloadBandwidth=5, IntranetDownloadBandwidth=2, TotalQps=7),
    )
    shown = alice_signed_client("GET", bucket.name, params={"qosInfo": ""})
    deleted = alice_signed_client("DELETE", bucket.name, params={"qosInfo": ""})

    assert put.status_code == 200
    assert fields_of(shown) == {
        **ALL_NO_CAP,
        "TotalDownloadBandwidth": "5",
        "IntranetDownloadBandwidth": "2",
        "TotalQps": "7",
    }
    assert deleted.status_code == 204
    assert not QosConfiguration.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code", "argument"),
    [
        (qos_xml(TotalQps="ten"), "InvalidArgument", "TotalQps"),
        (qos_xml(TotalQps="1.5"), "InvalidArgument", "TotalQps"),
        (qos_xml(TotalQps="-3"), "InvalidArgument", "TotalQps"),
        (qos_xml(TotalQps="9" * 40), "InvalidArgument", "TotalQps"),
        (qos_xml(TotalUploadBandwidth=11), "InvalidArgument", "TotalUploadBandwidth"),
        (
            qos_xml(TotalUploadBandwidth=4, ExtranetUploadBandwidth=5),
            "InvalidArgument",
            "ExtranetUploadBandwidth",
        ),
        (qos_xml(TotalQps=5, IntranetQps=6), "InvalidArgument", "IntranetQps"),
        (
            b"<QoSConfiguration><Speed>1</Speed></QoSConfiguration>",
            "MalformedXML",
            None,
        ),
        (
            b"<QoSConfiguration><TotalQps>1</TotalQps><TotalQps>2</TotalQps>"
            b"</QoSConfiguration>",
            "MalformedXML",
            None,
        ),
        (b"<Other/>", "MalformedXML", None),
        (b"not xml", "MalformedXML", None),
    ],
)
def test_bad_bucket_caps_are_refused_and_nothing_is_stored(
    alice_signed_client, bucket, body, code, argument
):
    response = alice_signed_client(
        "PUT", bucket.name, params={"qosInfo": ""}, body=body
    )

    assert response.status_code == 400
    fields = error_fields(response)
    assert fields["Code"] == code
    if argument:
        assert fields["ArgumentName"] == argument
    assert not QosConfiguration.objects.exists()


@pytest.mark.django_db
def test_only_the_owner_sees_or_sets_a_bucket_s_caps(
    bob_client, bucket, alice_signed_client
):
    alice_signed_client(
        "PUT", bucket.name, params={"qosInfo": ""}, body=qos_xml(TotalQps=5)
    )

    shown = bob_client.get(f"/{bucket.name}", {"qosInfo": ""})

    assert shown.status_code == 403
    assert error_fields(shown)["Code"] == "AccessDenied"


# -- a requester's caps -----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_requester_s_caps_are_stored_listed_and_deleted(
    alice_signed_client, bucket, bob
):
    put = alice_signed_client(
        "PUT",
        bucket.name,
        params={"requesterQosInfo": "", "qosRequester": str(bob.pk)},
        body=qos_xml(TotalQps=3, TotalUploadBandwidth=100),
    )
    shown = alice_signed_client(
        "GET", bucket.name, params={"requesterQosInfo": "", "qosRequester": str(bob.pk)}
    )
    listed = alice_signed_client("GET", bucket.name, params={"requesterQosInfo": ""})
    deleted = alice_signed_client(
        "DELETE",
        bucket.name,
        params={"requesterQosInfo": "", "qosRequester": str(bob.pk)},
    )

    assert put.status_code == 200
    assert ET.fromstring(shown.content).findtext("Requester") == str(bob.pk)
    assert fields_of(shown, "QoSConfiguration")["TotalQps"] == "3"
    root = ET.fromstring(listed.content)
    assert root.findtext("Bucket") == bucket.name
    assert root.findtext("IsTruncated") == "false"
    assert [node.text for node in root.iter("Requester")] == [str(bob.pk)]
    assert deleted.status_code == 204
    assert not QosConfiguration.objects.exists()


@pytest.mark.django_db
def test_the_requester_list_pages_by_continuation_token(
    alice_signed_client, bucket, make_user
):
    uids = sorted(str(make_user(f"user{n}").pk) for n in range(3))
    for uid in uids:
        QosConfiguration.objects.create(bucket=bucket, requester=uid, total_qps=1)

    first = ET.fromstring(
        alice_signed_client(
            "GET", bucket.name, params={"requesterQosInfo": "", "max-keys": "2"}
        ).content
    )
    rest = ET.fromstring(
        alice_signed_client(
            "GET",
            bucket.name,
            params={
                "requesterQosInfo": "",
                "continuation-token": first.findtext("NextContinuationToken"),
            },
        ).content
    )

    assert [node.text for node in first.iter("Requester")] == uids[:2]
    assert first.findtext("IsTruncated") == "true"
    assert [node.text for node in rest.iter("Requester")] == uids[2:]
    assert rest.findtext("IsTruncated") == "false"
    assert rest.findtext("NextContinuationToken") == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("requester", "body"),
    [
        ("999999", qos_xml(TotalQps=1)),  # no such account here
        ("bob", qos_xml(TotalQps=1)),  # not a UID
        ("BOB_PK", qos_xml(TotalQps="x")),
    ],
)
def test_bad_requester_caps_are_refused_and_nothing_is_stored(
    alice_signed_client, bucket, bob, requester, body
):
    requester = str(bob.pk) if requester == "BOB_PK" else requester
    response = alice_signed_client(
        "PUT",
        bucket.name,
        params={"requesterQosInfo": "", "qosRequester": requester},
        body=body,
    )

    assert response.status_code == 400
    assert error_fields(response)["Code"] == "InvalidArgument"
    assert not QosConfiguration.objects.exists()


@pytest.mark.django_db
def test_a_requester_s_caps_stay_within_the_bucket_s(alice_signed_client, bucket, bob):
    QosConfiguration.objects.create(bucket=bucket, total_qps=10)

    response = alice_signed_client(
        "PUT",
        bucket.name,
        params={"requesterQosInfo": "", "qosRequester": str(bob.pk)},
        body=qos_xml(TotalQps=11),
    )

    assert error_fields(response)["ArgumentName"] == "TotalQps"
    assert QosConfiguration.objects.count() == 1


# -- the account and resource pools ---------------------------------------------------------


@pytest.mark.django_db
def test_the_account_s_caps_are_the_server_s_settings(alice_signed_client, settings):
    settings.QOS_ACCOUNT_LIMITS = {**settings.QOS_ACCOUNT_LIMITS, "total_qps": 42}

    response = alice_signed_client("GET", "", params={"qosInfo": ""})

    fields = fields_of(response)
    assert fields["Region"] == settings.OSS_REGION
    assert fields["TotalQps"] == "42"
    assert fields["TotalUploadBandwidth"] == "10"


@pytest.mark.django_db
def test_anonymous_requests_get_no_account_caps(client):
    response = client.get("/", {"qosInfo": ""})

    assert response.status_code == 403


@pytest.mark.django_db
def test_there_are_no_resource_pools(alice_signed_client, alice):
    listed = fields_of(alice_signed_client("GET", "", params={"resourcePool": ""}))

    assert listed == {
        "Region": "cn-hangzhou",
        "Owner": str(alice.pk),
        "ContinuationToken": "",
        "NextContinuationToken": "",
        "IsTruncated": "false",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("GET", {"resourcePoolInfo": "", "resourcePool": "pool"}),
        ("GET", {"resourcePoolBuckets": "", "resourcePool": "pool"}),
        ("GET", {"requesterQosInfo": "", "resourcePool": "pool"}),
        ("GET", {"requesterQosInfo": "", "qosRequester": "1", "resourcePool": "pool"}),
        ("PUT", {"requesterQosInfo": "", "qosRequester": "1", "resourcePool": "pool"}),
        (
            "DELETE",
            {"requesterQosInfo": "", "qosRequester": "1", "resourcePool": "pool"},
        ),
    ],
)
def test_every_named_resource_pool_is_missing(alice_signed_client, method, params):
    body = qos_xml(TotalQps=1) if method == "PUT" else b""
    response = alice_signed_client(method, "", params=params, body=body)

    assert response.status_code == 404
    fields = error_fields(response)
    assert fields["Message"] == "The specified resource pool does not exist."


# -- the hot path ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_bucket_s_caps_are_read_once_then_cached(bucket, django_assert_num_queries):
    QosConfiguration.objects.create(bucket=bucket, total_qps=3)
    qos._cache.clear()
    with django_assert_num_queries(1):  # the bucket joined with its configurations
        first = qos.bucket_caps(bucket.name)

    with django_assert_num_queries(0):
        again = qos.bucket_caps(bucket.name)

    assert first is again
    assert first.own.total_qps == 3


@pytest.mark.django_db
def test_a_change_of_caps_reaches_the_cache(bucket):
    qos.bucket_caps(bucket.name)
    QosConfiguration.objects.create(bucket=bucket, total_qps=3)

    qos._touch_generation()  # what caps_changed does once the change commits

    assert qos.bucket_caps(bucket.name).own.total_qps == 3
    assert qos.bucket_caps("no-such-bucket") is None
    Bucket.objects.filter(pk=bucket.pk).delete()
    qos._touch_generation()
    assert qos.bucket_caps(bucket.name) is None


def test_a_transfer_the_cap_passes_within_a_quarter_second_is_charged_whole(
    settings, tmp_path
):
    """It then goes at full speed (sendfile for a local file); the cap's clock moves
    on by all of it, so the next transfer waits its turn."""
    settings.DATA_DIR = tmp_path
    request = RequestFactory().get("/")
    request.oss_qos = qos.RequestLimits(7, "intranet", {"download_bw": [("down", 1)]})
    at_one_gbit = 125_000_000  # bytes per second
    assert qos.shaper_for(request, "download_bw", at_one_gbit // 5) is None  # 0.2 s
    paced = qos.shaper_for(request, "download_bw", at_one_gbit // 2)  # 0.5 s
    assert paced is not None
    assert paced.upfront == at_one_gbit // 4
    # The whole first transfer was charged: a piece charged now waits for it.
    paced.pending = paced.piece
    assert paced.charge() == pytest.approx(0.2, abs=0.05)


def test_small_transfers_are_charged_together_once_they_add_up(settings, tmp_path):
    """Under a millisecond's worth of the tightest cap, a transfer joins the process's
    tally; the ledger is charged with the whole tally once it reaches that much."""
    settings.DATA_DIR = tmp_path
    qos._tallies.clear()  # another test's tally of the same caps
    request = RequestFactory().get("/")
    request.oss_qos = qos.RequestLimits(8, "intranet", {"download_bw": [("down", 1)]})
    ledger = qos.Ledger(8)

    def charged_seconds():
        return ledger.update(lambda state, now: state.get("down", now) - now)

    tally = 125_000  # a millisecond at 1 Gbit/s
    for _ in range(tally // 1000 - 1):
        assert qos.shaper_for(request, "download_bw", 1000) is None
    assert charged_seconds() == 0  # nothing written yet

    assert qos.shaper_for(request, "download_bw", 1000) is None  # fills the tally

    assert charged_seconds() == pytest.approx(0.001, abs=0.0005)
    # A transfer of another account starts its own tally.
    request.oss_qos = qos.RequestLimits(9, "intranet", {"download_bw": [("down", 1)]})
    assert qos.shaper_for(request, "download_bw", 1000) is None
    assert qos._tallies[(9, (("down", 1),))] == 1000
