"""The score-to-probability calibration of a model version, fitted on its validation window.

Monitoring turns a day's scores into a label-free performance estimate (`monitoring.estimation`); that
needs P(fraud | score), which a model trained with class weights does not output. An isotonic
regression of the label on the score, fitted on the validation window (rows the model early-stopped on
but never fitted), gives it. It is stored with the version (tag `calibration`), so whoever scores with
the version can estimate without the training data. Fitted with scikit-learn's `IsotonicRegression`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

MAX_CALIBRATION_POINTS = 100  # keeps the calibration small enough for a model-version tag


@dataclass(frozen=True)
class Calibration:
    """A monotone map from model score to P(fraud), as breakpoints for linear interpolation."""

    scores: tuple[float, ...]
    probabilities: tuple[float, ...]

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated fraud probabilities for raw model scores (clipped at the fitted range)."""
        return np.interp(np.asarray(scores, dtype=np.float64), self.scores, self.probabilities)

    def to_json(self) -> str:
        """Compact JSON, as stored in the model version's `calibration` tag."""
        return json.dumps(
            {
                "scores": [round(s, 6) for s in self.scores],
                "probabilities": [round(p, 6) for p in self.probabilities],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        """Read back what `to_json` wrote."""
        data = json.loads(text)
        return cls(tuple(data["scores"]), tuple(data["probabilities"]))


def fit_calibration(scores: np.ndarray, labels: np.ndarray) -> Calibration:
    """Isotonic regression of the label on the score (the validation window's rows)."""
    from sklearn.isotonic import IsotonicRegression

    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if len(np.unique(labels)) < 2:
        raise ValueError("calibration needs both fraud and genuine rows")
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    x, y = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
    if len(x) > MAX_CALIBRATION_POINTS:  # keep the ends and evenly spaced breakpoints between them
        keep = np.unique(np.linspace(0, len(x) - 1, MAX_CALIBRATION_POINTS).round().astype(int))
        x, y = x[keep], y[keep]
    return Calibration(tuple(float(v) for v in x), tuple(float(v) for v in y))
