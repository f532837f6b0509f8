"""The client's address, believing `X-Forwarded-For` only as far as the configured proxies append to it."""

from rest_framework.throttling import BaseThrottle


def client_address(request) -> str | None:
    """The address a request came from, as the API throttles, the login lockout and the audit see it.

    `NUM_PROXIES` (REST_FRAMEWORK, from the environment; default 0) says how many proxies in
    front of the portal append to `X-Forwarded-For`: with 0 the header is ignored and the
    connection's `REMOTE_ADDR` is the client; with N the N-th address from the right, the one
    the outermost trusted proxy saw. Whatever a client writes into the header itself stays to
    the left and is never believed. This is DRF's own rule (`BaseThrottle.get_ident`), so the
    throttles and the lockout always agree on who the client is.
    """
    return BaseThrottle().get_ident(request) or None
