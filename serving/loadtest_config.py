"""``python -m serving loadtest``'s settings and its loopback check, without FastAPI or the HTTP
clients (``--help`` shows them at once); serving.loadtest runs the load with them."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from serving.paths import ROOT

EXAMPLE_IMAGE = ROOT / "examples" / "digit_3.png"


@dataclass(frozen=True)
class LoadConfig:
    """One load test: each concurrency level sends ``requests`` requests (or stops at the limit)."""

    url: str = "http://127.0.0.1:8000"
    concurrency: tuple[int, ...] = (1, 8, 64)
    requests: int = 2000
    body: str = "pixels"  # "pixels": JSON 28x28; "png": the image file itself
    image: Path = EXAMPLE_IMAGE
    max_seconds: float = 60.0
    timeout_s: float = 30.0  # per request

    def __post_init__(self) -> None:
        check_loopback(self.url)
        if self.body not in ("pixels", "png"):
            raise ValueError(f"body must be pixels or png, got {self.body!r}")
        if self.requests < 1 or not self.concurrency or min(self.concurrency) < 1:
            raise ValueError("requests and every concurrency level must be >= 1")
        if self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}")


def check_loopback(url: str) -> None:
    """ValueError unless the URL points at this machine: the tool never loads anyone else.

    The name is resolved and every address it has must be loopback (a name that merely starts
    with "127." can point anywhere: 127.attacker.example)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname is None:
        raise ValueError(f"{url!r} is not an http:// URL; use e.g. http://127.0.0.1:8000")
    refused = (
        f"{url!r} is not on this machine; the load test only targets loopback "
        "(127.0.0.1, localhost, ::1)"
    )
    try:
        infos = socket.getaddrinfo(parts.hostname, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"{refused}: cannot resolve {parts.hostname!r} ({exc})") from None
    addresses = {info[4][0].split("%")[0] for info in infos}  # drop an IPv6 zone (%lo)
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise ValueError(f"{refused}: {parts.hostname} is {', '.join(sorted(addresses))}")
