"""Where a webhook may send: http(s) URLs whose host is, and resolves only to, public addresses.

Checked when a webhook is saved and again before every attempt (DNS can change); the attempt then
connects to the address that was checked, so a second lookup cannot swap in another.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}


class TargetRefused(Exception):
    """The URL is not one a webhook may send to; the message says why."""


@dataclass(frozen=True)
class Target:
    url: SplitResult
    host: str  # as written in the URL, without brackets
    port: int
    address: IPAddress  # the checked address to connect to


def parse(url: str) -> tuple[SplitResult, str, int]:
    """The URL's parts, host and port, if it is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"not a valid URL: {error}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise TargetRefused("the URL must start with https:// or http://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if any(character.isspace() for character in url):
        raise TargetRefused("the URL contains white space")
    return parts, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private, link-local, shared, multicast, reserved..."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` stands for (itself, if it is an address), without blocking the loop."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise TargetRefused(f"the host {host!r} could not be resolved") from error
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not found:
        raise TargetRefused(f"the host {host!r} could not be resolved")
    return list(dict.fromkeys(found))


async def check(url: str, *, allow_private: bool) -> Target:
    """The URL's target, with the address to connect to; TargetRefused if it may not be one."""
    parts, host, port = parse(url)
    addresses = await resolve(host, port)
    if not allow_private:
        refused = [address for address in addresses if not is_public(address)]
        if refused:
            shown = ", ".join(map(str, refused))
            raise TargetRefused(f"{host} is or resolves to a non-public address ({shown})")
    return Target(parts, host, port, addresses[0])
