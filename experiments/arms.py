"""The arms every experiment compares: baseline, L2, dropout, L2+dropout,
plus optional L2-strength sweeps (SCIENCE.md sections 1 and 7)."""

from __future__ import annotations

from dataclasses import dataclass

ARM_NAMES = ("baseline", "l2", "dropout", "l2+dropout")


@dataclass(frozen=True)
class Arm:
    name: str
    l2: float       # lambda of the L2 rule (0 = none)
    dropout: float  # dropout rate (0 = none)

    def describe(self, mode: str, decoupled_label: str = "decoupled decay") -> str:
        """Legend text that says exactly which regulariser this is."""
        parts = []
        if self.l2 > 0:
            parts.append(f"L2 {self.l2:g}*sum||W||^2" if mode == "penalty"
                         else f"{decoupled_label} {self.l2:g}")
        if self.dropout > 0:
            parts.append(f"dropout p={self.dropout:g}")
        return self.name + (" (" + ", ".join(parts) + ")" if parts else " (no regulariser)")


def build_arms(names, l2: float, dropout: float, l2_sweep=()) -> list[Arm]:
    """Arms named in ``names`` (a subset of :data:`ARM_NAMES`) with strength
    ``l2`` and rate ``dropout``, then one ``l2=<lambda>`` arm per sweep value."""
    table = {"baseline": Arm("baseline", 0.0, 0.0), "l2": Arm("l2", l2, 0.0),
             "dropout": Arm("dropout", 0.0, dropout), "l2+dropout": Arm("l2+dropout", l2, dropout)}
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"arms: unknown {unknown}; expected some of {list(ARM_NAMES)}")
    return [table[n] for n in names] + [Arm(f"l2={lam:g}", float(lam), 0.0) for lam in l2_sweep]
