"""Where a build's git may connect: public addresses, and the internal hosts an operator lists in
LAUNCHUI_GIT_ALLOWED_HOSTS. Loopback, link-local, private (RFC 1918, fc00::/7, 100.64/10) and this
server's own addresses are refused after resolving the name, so a member cannot make the worker probe
the metadata service, Redis or PostgreSQL."""

import functools
import ipaddress
import socket

from django.conf import settings

INTERNAL = (
    "an internal address (loopback, link-local, a private network or this server's own): builds may "
    "not reach it unless an operator lists it in LAUNCHUI_GIT_ALLOWED_HOSTS"
)


class TargetRefused(Exception):
    """The host is internal and not allowed."""


class TargetUnresolved(Exception):
    """The host name does not resolve (here and now)."""


@functools.lru_cache(maxsize=1)
def _own_addresses() -> frozenset:
    found: set[str] = set()
    for name in {socket.gethostname(), socket.getfqdn()}:
        try:
            found.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:
            continue
    return frozenset(ipaddress.ip_address(a.split("%")[0]) for a in found)


def is_internal(address) -> bool:
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    # is_global is False for loopback, link-local, RFC 1918, ULA, CGNAT, documentation and reserved ranges.
    return not ip.is_global or ip.is_multicast or ip in _own_addresses()


def _allowed(host: str, port: int, ip) -> bool:
    for kind, value, allowed_port in settings.LAUNCHUI_GIT_ALLOWED_HOSTS:
        if allowed_port not in (None, port):
            continue
        if kind == "host" and value == host:
            return True
        if kind == "network" and isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)) and ip in value:
            return True
    return False


def resolve(host: str, port: int) -> list[str]:
    """The addresses of host (an IP address resolves to itself); TargetUnresolved if there are none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TargetUnresolved(host) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_target(host: str, port: int) -> list[str]:
    """The resolved addresses git may use for host:port; TargetRefused if any of them is internal and not
    allowed (a name with one internal address is refused whole: DNS may hand either out)."""
    addresses = resolve(host, port)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if is_internal(ip) and not _allowed(host, port, ip):
            raise TargetRefused(f"{host} is {INTERNAL}.")
    return addresses
