"""Fault injection: latency, error statuses, throttling, busy LBs and lost responses.

``FaultConfig`` is plain data (JSON round-trippable for ``PUT /_emulator/faults``);
``FaultInjector`` turns it into one deterministic decision per request from a seeded RNG.
Each request draws a single number, so at most one fault fires and a seed replays the
same sequence for the same request order. Faults never touch ``/_emulator/`` routes.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

from .exceptions import (
    ApiError,
    InternalError,
    ServiceUnavailable,
    Throttled,
)


@dataclass(frozen=True)
class FaultConfig:
    latency_ms: int = 0
    error_500_rate: float = 0.0
    error_503_rate: float = 0.0
    error_429_rate: float = 0.0
    retry_after_seconds: int = 1
    lost_response_rate: float = 0.0  # the change is committed, then the connection is closed
    # Changes of a load balancer's resources only: 409 busy, as the provisioning model
    # answers (certificates belong to no load balancer and are never busy).
    busy_rate: float = 0.0
    only_methods: tuple[str, ...] | None = None  # e.g. ("POST",); None = every method
    seed: int | None = None

    def __post_init__(self) -> None:
        rates = (
            self.error_500_rate,
            self.error_503_rate,
            self.error_429_rate,
            self.lost_response_rate,
            self.busy_rate,
        )
        if any(not 0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError("fault rates must each be in [0, 1] and sum to at most 1")
        if self.latency_ms < 0 or self.retry_after_seconds < 0:
            raise ValueError("latency_ms and retry_after_seconds must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["only_methods"] = list(self.only_methods) if self.only_methods else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        values = dict(data)
        if values.get("only_methods") is not None:
            values["only_methods"] = tuple(str(m).upper() for m in values["only_methods"])
        return cls(**values)


@dataclass(frozen=True)
class Decision:
    latency_ms: int = 0
    error: ApiError | None = None  # raised before the request touches state
    busy: bool = False  # raised before the request touches state, mutating calls only
    lost: bool = False  # process normally, then drop the connection


class FaultInjector:
    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self.configure(config)

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)

    def decide(self, method: str) -> Decision:
        config = self._config
        if config.only_methods is not None and method not in config.only_methods:
            return Decision()
        with self._lock:
            draw = self._rng.random()
        bands: list[tuple[float, str]] = [
            (config.error_500_rate, "500"),
            (config.error_503_rate, "503"),
            (config.error_429_rate, "429"),
            (config.busy_rate, "busy"),
            (config.lost_response_rate, "lost"),
        ]
        outcome = ""
        edge = 0.0
        for rate, name in bands:
            edge += rate
            if draw < edge:
                outcome = name
                break
        return self._decision(config, outcome, method)

    @staticmethod
    def _decision(config: FaultConfig, outcome: str, method: str) -> Decision:
        latency = config.latency_ms
        if outcome == "500":
            return Decision(latency, InternalError("Injected fault: internal server error."))
        if outcome == "503":
            return Decision(latency, ServiceUnavailable("Injected fault: service unavailable."))
        if outcome == "429":
            message = (
                "The throttling threshold has been reached: policy user over ratelimit,"
                "limit:10,time:1 second"  # gateway wording, docs/api-notes.md §8
            )
            return Decision(latency, Throttled(message, config.retry_after_seconds))
        if outcome == "busy":
            return Decision(latency, busy=method != "GET")
        return Decision(latency, lost=outcome == "lost")
