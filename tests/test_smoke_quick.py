def test_get_existing_public_object(client, public_bucket, put_object):
    put_object(public_bucket, "a/b.txt", b"hello", content_type="text/plain")
    response = client.get("/alice-public/a/b.txt")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"hello"
