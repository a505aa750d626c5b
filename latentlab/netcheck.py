"""Checks of a server's ``--address``/``--port`` before anything is loaded (``latentlab explore``).

* the port must be 0..65535 and free on that address (one line if not); ``--port 0`` is resolved
  to a real free port here, so the address printed is the one the browser needs;
* an address other than loopback prints a warning: the app runs code on this machine for anyone
  who can reach it;
* the websocket origin allow-list fits the bound address: loopback names for a loopback address,
  the address itself for a specific one, and this host's names and addresses for a wildcard
  (``0.0.0.0``/``::``), so that remote browsers can connect when sharing was asked for.
"""

from __future__ import annotations

import ipaddress
import socket
import warnings

from .exceptions import ConfigError

__all__ = ["check_serve_address", "websocket_origins", "is_loopback"]

_WILDCARD = {"0.0.0.0", "::", ""}


def is_loopback(address: str) -> bool:
    if address in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(ai[4][0]).is_loopback for ai in socket.getaddrinfo(address, None))
        except (socket.gaierror, ValueError):
            return False


def _host_addresses() -> set:
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names |= {ai[4][0] for ai in socket.getaddrinfo(name, None)}
        except socket.gaierror:
            pass
    try:  # the address of the default route (no packet is sent)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            names.add(s.getsockname()[0])
    except OSError:
        pass
    return {n for n in names if n}


def websocket_origins(address: str, port: int) -> list:
    """``host:port`` origins a browser may open the app's websocket from, for a server bound to ``address``."""
    hosts = {"localhost", "127.0.0.1"} if is_loopback(address) or address in _WILDCARD else set()
    if address in _WILDCARD:
        hosts |= _host_addresses()
    else:
        hosts.add(address)
    return sorted(f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in hosts)


def check_serve_address(address: str, port: int) -> tuple:
    """Validate ``address``/``port`` for a server; returns ``(port, origins)`` with port 0 resolved."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"--port must be a whole number 0..65535 (0 = any free port), got {port!r}")
    try:
        infos = socket.getaddrinfo(address or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise ConfigError(
            f"--address {address!r} is not an address of this machine ({e.strerror}); "
            "use 127.0.0.1, or 0.0.0.0 to share"
        ) from None
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind(sockaddr)
        except OSError as e:
            if e.errno in (98, 48, 10048):  # EADDRINUSE (Linux, macOS, Windows)
                raise ConfigError(
                    f"port {port} on {address} is in use; choose another --port (or --port 0 for any free one)"
                ) from None
            raise ConfigError(
                f"cannot listen on {address}:{port} ({e.strerror}); choose another --address or --port"
            ) from None
        port = s.getsockname()[1]
    if not is_loopback(address):
        warnings.warn(
            f"--address {address}: the explorer is reachable from the network and runs code on this "
            "machine for anyone who can reach it; share it only on a network you trust",
            stacklevel=2,
        )
    return port, websocket_origins(address, port)
