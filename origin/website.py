"""IndexDocument and ErrorDocument: the executor for a missing key that no rule matched.

The documents are part of the ?website configuration (origin/website_config.py
stores it, origin/website_xml.py reads and writes the XML); they apply after the
rules (reference §3.1). `WebsiteDocuments.fallback_for()` decides; this serves.
"""

from buckets.serving import serve_object
from origin.models import WebsiteDocuments
from origin.redirection import redirect_response


def serve_fallback(request, target):
    """The index page, folder redirect or error document for `target`, or None."""
    documents = WebsiteDocuments.objects.filter(bucket=target.bucket).first()
    fallback = documents.fallback_for(target.key) if documents else None
    if fallback is None:
        return None
    if fallback.location:
        return redirect_response(302, fallback.location)
    response = serve_object(request, fallback.serve)
    if fallback.status != 200:
        response.status_code = fallback.status
    return response
