"""What a power analysis returns: :class:`PowerResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PowerResult"]

@dataclass(frozen=True)
class PowerResult:
    """What a committee records before launch (``to_dict`` for JSON)."""

    protocol_id: str
    protocol_digest: str
    metric: str
    higher_is_better: bool
    kind: str
    units: int
    power: float
    alpha_k: float
    sequence: int
    rule: str
    simulations: int
    resamples: int
    protocol_resamples: int
    method: str
    confidence: float
    family: dict[str, Any]
    absolute: dict[str, Any] | None
    baseline: dict[str, Any] | None
    notes: tuple[str, ...] = field(default=())

    @property
    def certifiable(self) -> bool:
        parts = [p for p in (self.absolute, self.baseline) if p is not None]
        return all(p["certifiable"] for p in parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": {"id": self.protocol_id, "digest": self.protocol_digest},
            "metric": {"name": self.metric, "higher_is_better": self.higher_is_better},
            "kind": self.kind, "units": self.units, "power": self.power,
            "alpha_k": self.alpha_k, "sequence": self.sequence, "rule": self.rule,
            "simulations": self.simulations, "resamples": self.resamples,
            "protocol_resamples": self.protocol_resamples, "method": self.method,
            "confidence": self.confidence, "family": dict(self.family),
            "certifiable": self.certifiable,
            "absolute": self.absolute, "baseline": self.baseline, "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A few readable lines."""
        better = "higher" if self.higher_is_better else "lower"
        lines = [
            f"Power of protocol {self.protocol_id} ({self.metric}, {better} is better) with "
            f"{self.units} units, at alpha_{self.sequence} = {self.alpha_k:.4g} "
            f"({self.rule}), "
            f"power {self.power:g}:",
        ]
        a = self.absolute
        if a is not None:
            if a["certifiable"]:
                lines.append(
                    f"  absolute threshold {a['threshold']:g}: minimum detectable true "
                    f"{self.metric} {a['minimum_detectable']:.4f} (certified in "
                    f"{a['rate']:.0%} of simulations)")
            else:
                lines.append(
                    f"  absolute threshold {a['threshold']:g}: NOT CERTIFIABLE with "
                    f"{self.units} units: even a near-perfect entry (true {self.metric} "
                    f"{a['best_metric']:.4f}) is certified in only {a['best_rate']:.0%} "
                    "of simulations")
        b = self.baseline
        if b is not None:
            head = (f"  baseline '{b['name']}' (true {self.metric} {b['baseline_value']:g}, "
                    f"margin {b['margin']:g}): ")
            if b["certifiable"]:
                lines.append(head + f"minimum detectable improvement "
                             f"{b['minimum_detectable_improvement']:.4f} (entry "
                             f"{b['minimum_detectable']:.4f}, certified in "
                             f"{b['rate']:.0%} of simulations)")
            else:
                lines.append(head + "NOT CERTIFIABLE with this many units (best rate "
                             f"{b['best_rate']:.0%})")
        lines.append(
            f"  by simulation: {self.simulations} test sets per effect, {self.resamples} "
            f"resamples each (the protocol preregisters {self.protocol_resamples}), "
            f"{self.method} at confidence {self.confidence:g}; family {self.family}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)
