"""Request size limits for the API: an oversized body answers 413 in the API's error shape.

Django checks `DATA_UPLOAD_MAX_MEMORY_SIZE` only when it parses a form itself, and answers an
HTML "Bad Request (400)"; DRF reads JSON bodies from the stream, which that check never sees.
Here every API request whose declared length is over the limit is refused before anything reads
it. Multipart uploads are exempt from the up-front check because their files do not count
towards the limit (the gap import has its own, `GAP_IMPORT_MAX_BYTES`); their form fields still
do, and Django's `RequestDataTooBig` for them is answered as 413 here too.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from hedis_portal.errors import request_too_large_body

API_PREFIX = "/api/"


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _too_large() -> JsonResponse:
    return JsonResponse(request_too_large_body(), status=413)


class RequestSizeLimitMiddleware:
    """Refuses API request bodies over `DATA_UPLOAD_MAX_MEMORY_SIZE` with a 413 JSON error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        max_bytes = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if (
            max_bytes is not None
            and request.path.startswith(API_PREFIX)
            and not request.content_type.startswith("multipart/")
            and _declared_length(request) > max_bytes
        ):
            return _too_large()
        return self.get_response(request)

    def process_exception(self, request, exception):
        """Django's own size check (form fields of a multipart body), raised outside DRF's handler."""
        if isinstance(exception, RequestDataTooBig) and request.path.startswith(API_PREFIX):
            return _too_large()
        return None
