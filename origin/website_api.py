"""PUT/GET/DELETE ?website: the OSS API onto the same rule rows the console edits."""

from django.http import HttpResponse

from buckets import errors, operations
from origin import website


def _as_oss_error(error):
    if error.code == "MalformedXML":
        return errors.malformed_xml(error.message)
    return errors.invalid_argument(error.message, error.name, error.value)


def put_bucket_website(request, bucket_name):
    bucket = operations.owned_bucket(request, bucket_name)
    body = operations.read_xml_body(request)
    try:
        website.replace_configuration(bucket, body)
    except website.WebsiteError as error:
        raise _as_oss_error(error) from None
    response = HttpResponse(status=200)
    response["Content-Length"] = "0"
    return response


def get_bucket_website(request, bucket_name):
    bucket = operations.owned_bucket(request, bucket_name)
    body = website.website_xml(bucket)
    if body is None:
        raise errors.OssError(
            404,
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration.",
            BucketName=bucket_name,
        )
    response = HttpResponse(body, content_type="application/xml")
    response["Content-Length"] = str(len(body))
    return response


def delete_bucket_website(request, bucket_name):
    bucket = operations.owned_bucket(request, bucket_name)
    website.delete_configuration(bucket)
    response = HttpResponse(status=204)
    return response
