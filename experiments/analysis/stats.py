"""Statistics shared by the summaries, the report and the validation."""

from __future__ import annotations

#: Two-sided 95% Student-t quantiles t(0.975, df) for df = 1..30; 1.96 (normal) beyond.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(df: int) -> float:
    """t(0.975, df) from :data:`T975`; 1.96 for df > 30."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    return T975[df - 1] if df <= len(T975) else 1.96


