"""The browsable API's renderer, with the one relaxation of the Content-Security-Policy it needs."""

from csp.constants import UNSAFE_INLINE
from rest_framework import renderers


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's HTML pages, allowed inline styles (their templates use `style` attributes).

    Scripts stay limited to the portal's own files: an inline style cannot run code, and
    the pages' scripts are DRF's static files.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            response._csp_update = {"style-src": [UNSAFE_INLINE]}
        return super().render(data, accepted_media_type, renderer_context)
