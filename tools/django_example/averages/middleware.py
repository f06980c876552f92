"""Refuse oversized requests before their body is read, so an upload is
never spooled to a temporary file."""
from django.conf import settings
from django.http import HttpResponse


def limit_request_size(get_response):
    def middleware(request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BYTES:
            return HttpResponse(f"Request too large (limit {settings.MAX_REQUEST_BYTES} bytes).\n",
                                status=413, content_type="text/plain")
        return get_response(request)
    return middleware
