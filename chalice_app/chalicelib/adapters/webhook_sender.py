"""One webhook attempt: a POST to the merchant's URL, checked again just before it is sent.

The URL's name is resolved here and every address checked (``domain.webhook_urls``); the
connection goes to a checked address (TLS still verifies the name), so a name re-pointed
at an internal address after the endpoint was created is never reached. No redirects are
followed, nothing of the answer is kept but its status.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

from chalicelib.domain.webhook_urls import Resolver, UnsafeUrl, check
from chalicelib.domain.webhooks import Attempt

if TYPE_CHECKING:
    import urllib3


def system_resolve(host: str, port: int) -> Iterable[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class WebhookSender:
    def __init__(
        self, timeout_seconds: float, allow_local: bool, resolve: Resolver | None = None
    ) -> None:
        self._timeout = timeout_seconds
        self._allow_local = allow_local
        self._resolve = resolve or system_resolve

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        import urllib3

        try:
            target = check(url, allow_local=self._allow_local, resolve=self._resolve)
        except UnsafeUrl as refused:
            return Attempt(error=f"url refused: {refused}")
        address = target.addresses[0]
        host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
        timeout = urllib3.Timeout(total=self._timeout)
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                target.port,
                server_hostname=target.host,
                assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED",
                timeout=timeout,
                retries=False,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False)
        try:
            with pool:
                response = pool.urlopen(
                    "POST",
                    target.path,
                    body=body,
                    headers={**headers, "Host": host_header},
                    redirect=False,
                    preload_content=False,
                )
                response.release_conn()
                return Attempt(status_code=response.status)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return Attempt(error=type(error).__name__)
