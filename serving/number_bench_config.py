"""``python -m serving number-bench``'s settings, without the HTTP client or the server
(``--help`` shows them at once); serving.number_bench times the routes with them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True)
class NumberBenchConfig:
    number_image: Path = EXAMPLES / "number_2024.png"  # four digits on the 560x280 canvas
    digit_image: Path = EXAMPLES / "digit_3.png"  # one digit on the 280x280 canvas
    requests: int = 200  # per route
    warmup: int = 10  # per route, untimed
    server_args: tuple[str, ...] = ("--engine", "embedded")

    def __post_init__(self) -> None:
        if self.requests < 1 or self.warmup < 0:
            raise ValueError("requests must be >= 1 and warmup >= 0")
        for path in (self.number_image, self.digit_image):
            if not Path(path).is_file():
                raise ValueError(f"{path}: no such image file")
