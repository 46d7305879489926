"""Where an alert webhook may point: never, by default, inside the operator's network.

A rule's webhook is a URL any user who can add a rule chooses, and the monitoring pass
POSTs to it from the server's network. Left open, that is a server-side request forgery:
a rule pointing at ``http://169.254.169.254/`` (a cloud's metadata service) or at an
internal admin port. So a target is refused when any address its host resolves to is
loopback, private, link-local, multicast, reserved or unspecified, unless the operator
allows it in ``SHOAL_WEBHOOK_ALLOW`` (a host name, an address or a network).

It is checked twice: when the rule is added (a clear error at once) and before each
delivery (the name may resolve elsewhere by then). What this does not stop: a DNS answer
that changes between the check and urllib's own lookup a moment later.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from shoal import config
from shoal.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_webhook(url: str, *, resolve: bool = True) -> str:
    """``url`` if a webhook may POST to it, else InvalidInput naming the field and the fix."""
    if not isinstance(url, str) or len(url) > 2000:
        raise InvalidInput("webhook must be an http(s) URL of at most 2000 characters",
                           field="webhook")  # fmt: skip
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"webhook {url!r} must be an http(s) URL with a host",
                           field="webhook")  # fmt: skip
    host = parts.hostname
    allowed = config.webhook_allow()
    if host in allowed:
        return url
    for address in _addresses(host, parts.port, resolve=resolve):
        reason = _internal(address)
        if reason and not _allowed(address, allowed):
            raise InvalidInput(
                f"webhook {url!r} reaches {address}, a {reason} address: alerts may not post "
                "inside the server's network. An operator can allow it with "
                f"SHOAL_WEBHOOK_ALLOW={host}",
                field="webhook",
            )
    return url


def _addresses(host: str, port: int | None, *, resolve: bool) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if not resolve:
        return []
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"webhook host {host!r} does not resolve ({exc}): check the URL",
                           field="webhook") from None  # fmt: skip
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def _internal(address: Address) -> str | None:
    """What kind of internal address this is, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    checks = (
        ("loopback", address.is_loopback), ("link-local", address.is_link_local),
        ("private", address.is_private), ("multicast", address.is_multicast),
        ("reserved", address.is_reserved), ("unspecified", address.is_unspecified),
    )  # fmt: skip
    return next((name for name, hit in checks if hit), None)


def _allowed(address: Address, allowed: list[str]) -> bool:
    for entry in allowed:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue  # a host name: matched on the URL's host above
        if address in network and (network.num_addresses > 1 or address == network[0]):
            if _is_metadata(address) and network.num_addresses > 1:
                continue  # metadata only when named exactly
            return True
    return False


def _is_metadata(address: Address) -> bool:
    return str(address) in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
