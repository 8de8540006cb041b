"""The neural family: a small MLP for tabular features, CPU only, seeded and early-stopped.

Missing-value filling and standardization live inside the module (buffers fitted on the training
rows), so the registered model takes raw features with NaN for undefined values, exactly like the
LightGBM one, and no scaler can get lost between training and serving. `forward` returns
probabilities (what the registry serves); training uses `logits`.

The registry stores the module in MLflow's default `pt2` format (`torch.export`): a traced graph, no
pickle, so loading it needs neither this class nor any code from this package.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mlops_assets.defs.training.models import (
    SERVING_THREADS,
    TORCH,
    TrainedModel,
    feature_tuple,
    positive_weight,
)

STD_FLOOR = 1e-6
CLIP = 10.0  # standardized values beyond +-10 sd are outliers; clipping keeps one row from exploding


@dataclass(frozen=True)
class TorchParams:
    """Hyperparameters of the MLP and its training loop."""

    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 2048
    max_epochs: int = 30
    patience: int = 4
    class_weighting: str = "sqrt"
    seed: int = 42
    num_threads: int = 2


@functools.cache
def fraud_mlp_class() -> Any:
    """The `FraudMLP` module class, built on first use so that importing this module skips torch."""
    import torch
    from torch import nn

    class FraudMLP(nn.Module):
        """Fill missing values, standardize, clip, then a ReLU MLP with one logit out."""

        def __init__(self, n_features: int, hidden: Sequence[int], dropout: float) -> None:
            super().__init__()
            self.register_buffer("fill", torch.zeros(n_features))
            self.register_buffer("mean", torch.zeros(n_features))
            self.register_buffer("std", torch.ones(n_features))
            layers: list[nn.Module] = []
            width = n_features
            for size in hidden:
                layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
                width = size
            layers.append(nn.Linear(width, 1))
            self.net = nn.Sequential(*layers)

        fill: torch.Tensor
        mean: torch.Tensor
        std: torch.Tensor

        def logits(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.where(torch.isnan(x), self.fill, x)
            z = ((x - self.mean) / self.std).clamp(-CLIP, CLIP)
            return self.net(z).squeeze(-1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.logits(x))

    return FraudMLP


def torch_predictor(module: Any, num_threads: int = SERVING_THREADS) -> Callable[[np.ndarray], np.ndarray]:
    """A predict function (float32 matrix -> probabilities) for a module in eval mode."""
    import torch

    with contextlib.suppress(NotImplementedError):  # a loaded torch.export module refuses eval()
        module.eval()

    def predict(x: np.ndarray) -> np.ndarray:
        torch.set_num_threads(num_threads)
        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    return predict


def train_torch(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    features: Sequence[str],
    params: TorchParams | None = None,
    fill_values: Mapping[str, float] | None = None,
) -> TrainedModel:
    """Fit the MLP with AdamW and a weighted BCE loss; keep the epoch with the best validation PR AUC.

    NaN inputs (features undefined for a row) are replaced by `fill_values[feature]`, or by the training
    mean of the feature when it has no fill value.
    """
    import torch
    from sklearn.metrics import average_precision_score

    params = params or TorchParams()
    features = feature_tuple(features)
    torch.set_num_threads(params.num_threads)
    torch.manual_seed(params.seed)
    generator = torch.Generator().manual_seed(params.seed)

    x = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))
    y = torch.from_numpy(y_train.astype(np.float32))
    model = fraud_mlp_class()(x.shape[1], params.hidden, params.dropout)
    means = np.nan_to_num(np.nanmean(x_train, axis=0, dtype=np.float64))
    fill = [(fill_values or {}).get(f, float(m)) for f, m in zip(features, means, strict=True)]
    model.fill.copy_(torch.tensor(fill, dtype=torch.float32))
    x = torch.where(torch.isnan(x), model.fill, x)
    model.mean.copy_(x.mean(dim=0))
    model.std.copy_(x.std(dim=0).clamp_min(STD_FLOOR))
    pos_weight = positive_weight(y_train, params.class_weighting)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    predict = torch_predictor(model, params.num_threads)

    best_score, best_epoch, best_state, stale = -1.0, 0, copy.deepcopy(model.state_dict()), 0
    history: dict[str, list[float]] = {"train_loss": [], "validation_pr_auc": []}
    start = time.perf_counter()
    for epoch in range(1, params.max_epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total, batches = 0.0, 0
        for begin in range(0, len(x), params.batch_size):
            idx = order[begin : begin + params.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model.logits(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        model.eval()  # dropout off: score the validation rows with the network that would be kept
        score = float(average_precision_score(y_valid, predict(x_valid)))
        history["train_loss"].append(total / max(batches, 1))
        history["validation_pr_auc"].append(score)
        if score > best_score + 1e-5:
            best_score, best_epoch, best_state, stale = score, epoch, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= params.patience:
                break
    seconds = time.perf_counter() - start
    model.load_state_dict(best_state)
    model.eval()
    return TrainedModel(
        family=TORCH,
        model=model,
        features=features,
        params={
            **asdict(params),
            "hidden": "x".join(map(str, params.hidden)),
            "pos_weight": round(pos_weight, 4),
        },
        predict=torch_predictor(model),
        best_iteration=best_epoch,
        train_seconds=seconds,
        history=history,
    )
