"""The SSRF guard at fetch time (SPEC §8): origins, redirect hops, probes and
secondary origins on internal addresses are refused, and the connection goes to
the address that was checked.

Rules are saved while private origins are allowed, then disallowed: these tests are
about the check at fetch time (the save-time check is tested with the rule forms).
There is no public internet here, so "public" hosts are simulated in two ways only:
DNS answers (`buckets.outbound.resolve_addresses`), and 127.0.0.2 being declared public.
"""

import pytest

from buckets import outbound
from buckets.outbound import internal_address_reason
from origin import fetch
from origin.models import OriginFetch
from tests.origin_server import OriginServer
from tests.oss_responses import oss_error

PUBLIC_STAND_IN = "127.0.0.2"


@pytest.fixture
def rule_on(bucket, make_rule, settings):
    """Save a mirroring rule while private origins are allowed, then refuse them."""
    settings.ORIGIN_TIMEOUT_SECONDS = 2

    def make(host, **fields):
        settings.ORIGIN_ALLOW_PRIVATE = True
        rule = make_rule(bucket, mode="mirror", protocol="http", host=host, **fields)
        settings.ORIGIN_ALLOW_PRIVATE = False
        return rule

    return make


@pytest.fixture
def public_stand_in(monkeypatch):
    """127.0.0.2 plays a public internet host, which cannot exist on this machine."""

    def reason(address):
        return None if address == PUBLIC_STAND_IN else internal_address_reason(address)

    monkeypatch.setattr(outbound, "internal_address_reason", reason)


@pytest.fixture
def public_origin(public_stand_in):
    """Origin servers on the public stand-in address."""
    servers = []

    def make():
        servers.append(OriginServer(PUBLIC_STAND_IN))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


class FakeDns:
    """Answers for made-up names, one per lookup (the last one repeats); other
    names resolve as usual. DNS is the only thing these tests fake."""

    def __init__(self, real):
        self.real = real
        self.answers = {}
        self.asked = []

    def answer(self, host, *answers):
        self.answers[host] = list(answers)

    def resolve(self, host, port):
        self.asked.append(host)
        queue = self.answers.get(host)
        if queue is None:
            return self.real(host, port)
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def fake_dns(monkeypatch):
    dns = FakeDns(outbound.resolve_addresses)
    monkeypatch.setattr(outbound, "resolve_addresses", dns.resolve)
    return dns


# -- check_address on its own -------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.255.254", "a loopback address"),
        ("10.0.0.1", "a private-network address"),
        ("172.16.0.1", "a private-network address"),
        ("192.168.1.1", "a private-network address"),
        ("169.254.169.254", "a link-local address"),
        ("100.64.0.1", "an internal-use address"),
        ("198.18.0.1", "a private-network address"),
        ("224.0.0.1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("240.0.0.1", "a private-network address"),
        ("255.255.255.255", "a private-network address"),
        ("::1", "a loopback address"),
        ("::", "an unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a private-network address"),
        ("fec0::1", "a site-local address"),
        ("ff02::1", "a multicast address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:10.0.0.1", "a private-network address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("::127.0.0.1", "a reserved address"),
        ("64:ff9b::7f00:1", "a reserved address"),
    ],
)
def test_check_address_refuses_internal_addresses(settings, address, reason):
    settings.ORIGIN_ALLOW_PRIVATE = False
    with pytest.raises(fetch.OriginRefused) as refused:
        fetch.check_address(address, address)
    assert refused.value.message == (
        f"Origin refused: {address} is {reason}; origins on internal networks are not allowed."
    )


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:1.1.1.1"]
)
def test_check_address_lets_public_addresses_through(settings, address):
    settings.ORIGIN_ALLOW_PRIVATE = False
    assert fetch.check_address(address, address) is None


def test_check_address_names_the_host_and_what_it_resolved_to(settings):
    settings.ORIGIN_ALLOW_PRIVATE = False
    with pytest.raises(fetch.OriginRefused) as refused:
        fetch.check_address("db.example.com", "10.0.0.5")
    assert refused.value.message == (
        "Origin refused: db.example.com resolves to 10.0.0.5, which is a private-network address;"
        " origins on internal networks are not allowed."
    )


def test_check_address_allows_everything_when_the_operator_does(settings):
    settings.ORIGIN_ALLOW_PRIVATE = True
    assert fetch.check_address("127.0.0.1", "127.0.0.1") is None


# -- origins ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("host", "named"),
    [
        ("127.0.0.1:{port}", "127.0.0.1 is a loopback address"),
        ("127.1:{port}", "127.1 resolves to 127.0.0.1, which is a loopback address"),
        (
            "2130706433:{port}",
            "2130706433 resolves to 127.0.0.1, which is a loopback address",
        ),
        ("0.0.0.0:{port}", "0.0.0.0 is an unspecified address"),
        ("[::ffff:127.0.0.1]:{port}", "::ffff:127.0.0.1 is a loopback address"),
        ("[::1]:{port}", "::1 is a loopback address"),
    ],
)
def test_origin_on_an_internal_address_is_refused_before_connecting(
    alice_client, origin_server, rule_on, host, named
):
    origin_server.route("/k", body=b"internal")
    rule_on(host.format(port=origin_server.port))

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 424
    assert oss_error(response) == (
        "MirrorFailed",
        f"Origin refused: {named}; origins on internal networks are not allowed.",
    )
    assert origin_server.received == []
    assert OriginFetch.objects.get().outcome == OriginFetch.Outcome.REFUSED


@pytest.mark.django_db
def test_localhost_is_refused_whatever_it_resolves_to(
    alice_client, origin_server, rule_on
):
    rule_on(f"localhost:{origin_server.port}")

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 424
    code, message = oss_error(response)
    assert code == "MirrorFailed"
    assert message.startswith("Origin refused: localhost resolves to ")
    assert "which is a loopback address" in message
    assert origin_server.received == []


@pytest.mark.django_db
def test_public_looking_name_that_resolves_to_loopback_is_refused(
    alice_client, origin_server, rule_on, fake_dns
):
    fake_dns.answer("public-origin.test", ["127.0.0.1"])
    rule_on(f"public-origin.test:{origin_server.port}")

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 424
    assert oss_error(response)[1] == (
        "Origin refused: public-origin.test resolves to 127.0.0.1, which is a loopback address;"
        " origins on internal networks are not allowed."
    )
    assert origin_server.received == []


@pytest.mark.django_db
def test_name_with_one_internal_address_among_public_ones_is_refused(
    alice_client, rule_on, fake_dns, public_origin
):
    public = public_origin()
    public.route("/k", body=b"public")
    # Every address is checked before any connection, not only the first one tried.
    fake_dns.answer("mixed.test", [PUBLIC_STAND_IN, "127.0.0.1"])
    rule_on(f"mixed.test:{public.port}")

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 424
    assert "mixed.test resolves to 127.0.0.1" in oss_error(response)[1]
    assert public.received == []


# -- redirect hops ------------------------------------------------------------


@pytest.mark.django_db
def test_public_origin_redirecting_to_loopback_is_refused(
    alice_client, origin_server, rule_on, public_origin
):
    public = public_origin()
    public.route("/k", status=302, headers={"Location": origin_server.url("/x")})
    origin_server.route("/x", body=b"internal")
    rule_on(public.netloc)

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 424
    assert oss_error(response)[1] == (
        "Origin refused: 127.0.0.1 is a loopback address; origins on internal networks are not allowed."
    )
    assert [request.path for request in public.received] == ["/k"]
    assert origin_server.received == []


@pytest.mark.django_db
def test_redirect_to_a_name_resolving_to_loopback_is_refused(
    alice_client, origin_server, rule_on, public_origin, fake_dns
):
    fake_dns.answer("cdn.test", ["127.0.0.1"])
    public = public_origin()
    location = f"http://cdn.test:{origin_server.port}/x"
    public.route("/k", status=301, headers={"Location": location})
    rule_on(public.netloc)

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 424
    assert "cdn.test resolves to 127.0.0.1" in oss_error(response)[1]
    assert len(public.received) == 1
    assert origin_server.received == []


@pytest.mark.django_db
def test_redirect_to_a_non_http_url_is_refused(alice_client, rule_on, public_origin):
    public = public_origin()
    public.route("/k", status=302, headers={"Location": "file:///etc/passwd"})
    rule_on(public.netloc)

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 424
    assert oss_error(response)[1] == (
        "The origin redirected to an unsupported URL: file:///etc/passwd"
    )


# -- probe and secondary origin ----------------------------------------------


@pytest.mark.django_db
def test_probe_on_loopback_counts_as_failed_and_secondary_is_used(
    alice_client, origin_server, rule_on, public_origin
):
    primary, secondary = public_origin(), public_origin()
    primary.route("/k", body=b"from primary")
    secondary.route("/k", body=b"from secondary")
    origin_server.route("/probe-loopback", body=b"ok")
    rule_on(
        primary.netloc,
        probe_url=origin_server.url("/probe-loopback"),
        secondary_url=secondary.url("/"),
    )

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"from secondary"
    assert origin_server.received == []
    assert primary.received == []


@pytest.mark.django_db
def test_secondary_origin_on_loopback_is_refused(
    alice_client, origin_server, rule_on, public_origin
):
    primary = public_origin()  # its probe answers 404, so the secondary is chosen
    origin_server.route("/k", body=b"internal")
    rule_on(
        primary.netloc,
        probe_url=primary.url("/probe-missing"),
        secondary_url=origin_server.url("/"),
    )

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 424
    assert oss_error(response)[1] == (
        "Origin refused: 127.0.0.1 is a loopback address; origins on internal networks are not allowed."
    )
    assert [request.path for request in primary.received] == ["/probe-missing"]
    assert origin_server.received == []


# -- the connection goes to the checked address -------------------------------


@pytest.mark.django_db
def test_connection_goes_to_the_address_that_was_checked(
    alice_client, rule_on, public_origin, fake_dns
):
    """DNS rebinding: the name answers a public address once, loopback afterwards.
    The guard resolves once per connection and connects to what it checked; a
    second lookup (ours or the socket library's) would find loopback or nothing."""
    public = public_origin()
    public.route("/k", body=b"public bytes")
    fake_dns.answer("rebind.test", [PUBLIC_STAND_IN], ["127.0.0.1"])
    rule_on(f"rebind.test:{public.port}")

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"public bytes"
    assert fake_dns.asked == ["rebind.test"]
    [received] = public.received
    assert received.headers["host"] == f"rebind.test:{public.port}"


# -- positive controls: the operator allows private origins -------------------


@pytest.mark.django_db
def test_loopback_origin_works_when_private_origins_are_allowed(
    alice_client, origin_server, rule_on, settings
):
    origin_server.route("/k", body=b"loopback bytes")
    rule_on(f"localhost:{origin_server.port}")
    settings.ORIGIN_ALLOW_PRIVATE = True

    response = alice_client.get("/alice-bucket/k")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"loopback bytes"
    assert len(origin_server.received) == 1


@pytest.mark.django_db
def test_redirect_and_probe_to_loopback_work_when_private_origins_are_allowed(
    alice_client, origin_server, rule_on, settings
):
    primary = OriginServer()
    try:
        primary.route("/k", status=302, headers={"Location": origin_server.url("/x")})
        origin_server.route("/x", body=b"redirected bytes")
        origin_server.route("/probe-ok", body=b"ok")
        rule_on(
            primary.netloc,
            probe_url=origin_server.url("/probe-ok"),
            secondary_url=origin_server.url("/never/"),
        )
        settings.ORIGIN_ALLOW_PRIVATE = True

        response = alice_client.get("/alice-bucket/k")

        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"redirected bytes"
        assert [request.path for request in origin_server.received] == [
            "/probe-ok",
            "/x",
        ]
    finally:
        primary.close()
