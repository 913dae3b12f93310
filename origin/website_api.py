"""PUT/GET/DELETE ?website: the OSS API onto the same rule rows the console edits."""

from django.http import HttpResponse

from buckets import errors
from buckets.oss_access import owned_bucket, read_xml_body
from origin import website_config
from origin.website_xml import WebsiteError


def _as_oss_error(error):
    if error.code == "MalformedXML":
        return errors.malformed_xml(error.message)
    return errors.invalid_argument(error.message, error.name, error.value)


def put_bucket_website(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    body = read_xml_body(request)
    try:
        website_config.replace_configuration(bucket, body)
    except WebsiteError as error:
        raise _as_oss_error(error) from None
    response = HttpResponse(status=200)
    response["Content-Length"] = "0"
    return response


def get_bucket_website(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    body = website_config.configuration_xml(bucket)
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
    bucket = owned_bucket(request, bucket_name)
    website_config.delete_configuration(bucket)
    response = HttpResponse(status=204)
    return response
