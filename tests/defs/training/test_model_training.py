import numpy as np
import polars as pl
import pytest
from sklearn.metrics import average_precision_score, log_loss

from mlops_assets.defs.training.data import feature_matrix, labels, prepare_splits
from mlops_assets.defs.training.evaluation import evaluate
from mlops_assets.defs.training.flow import fit_family
from mlops_assets.defs.training.models import positive_weight
from mlops_assets.defs.training.torch_model import TorchParams


@pytest.fixture(scope="module")
def split(training_frame, features, small_split):
    return prepare_splits(training_frame, features, small_split)


def test_lightgbm_same_seed_same_data_same_metrics(split, features, tiny_lightgbm):
    first = fit_family("lightgbm", split, features, tiny_lightgbm)
    second = fit_family("lightgbm", split, features, tiny_lightgbm)
    x = feature_matrix(split.holdout, features)
    np.testing.assert_array_equal(first.predict(x), second.predict(x))
    assert first.best_iteration == second.best_iteration
    a, b = evaluate(split.holdout, first.predict(x)), evaluate(split.holdout, second.predict(x))
    assert (a.pr_auc, a.roc_auc, a.log_loss, a.brier, a.slice_pr_auc) == (
        b.pr_auc,
        b.roc_auc,
        b.log_loss,
        b.brier,
        b.slice_pr_auc,
    )
    # A different seed draws different bagging samples: the model changes.
    from dataclasses import replace

    other = fit_family("lightgbm", split, features, replace(tiny_lightgbm, seed=7))
    assert not np.array_equal(first.predict(x), other.predict(x))
    assert a.roc_auc > 0.8  # the signal in f0..f2 is learned


def test_torch_stops_early_keeps_the_best_epoch_and_beats_a_trivial_baseline(split, features):
    params = TorchParams(max_epochs=40, patience=3, batch_size=256, num_threads=1)
    model = fit_family("torch", split, features, params)
    curve = model.history["validation_pr_auc"]
    # Early stopping ran: it stopped `patience` epochs after the best one, well before max_epochs.
    assert len(curve) == model.best_iteration + params.patience < params.max_epochs
    assert curve[model.best_iteration - 1] == max(curve)
    assert all(score <= max(curve) + 1e-5 for score in curve[model.best_iteration :])
    assert len(model.history["train_loss"]) == len(curve)
    # The model returned is the best epoch's, scored as it was during training (dropout off).
    x_valid, y_valid = feature_matrix(split.validation, features), labels(split.validation)
    assert average_precision_score(y_valid, model.predict(x_valid)) == pytest.approx(max(curve), abs=1e-9)
    x, y = feature_matrix(split.holdout, features), labels(split.holdout)
    p = model.predict(x)
    assert p.shape == (len(y),) and ((p > 0) & (p < 1)).all()
    base_rate = labels(split.train).mean()
    # Trivial baseline: predict the training base rate for every row (PR AUC = prevalence).
    assert average_precision_score(y, p) > 2 * y.mean()
    assert log_loss(y, p) < log_loss(y, np.full(len(y), base_rate))


def test_torch_is_deterministic_and_fills_missing_values(split, features):
    params = TorchParams(max_epochs=2, batch_size=512, num_threads=1)
    train = split.train.with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0).then(None).otherwise(pl.col("f_noise")).alias("f_noise")
    )
    nullable_split = type(split)(train=train, validation=split.validation, holdout=split.holdout)
    a = fit_family("torch", nullable_split, features, params, fill_values={"f_noise": 0.25})
    b = fit_family("torch", nullable_split, features, params, fill_values={"f_noise": 0.25})
    x = feature_matrix(split.holdout.head(50), features)
    np.testing.assert_allclose(a.predict(x), b.predict(x), rtol=0, atol=1e-7)
    assert a.model.fill[3].item() == pytest.approx(0.25)
    assert a.model.fill[0].item() == pytest.approx(
        float(np.nanmean(feature_matrix(train, features)[:, 0])), abs=1e-5
    )
    x_nan = x.copy()
    x_nan[:, 3] = np.nan
    x_filled = x.copy()
    x_filled[:, 3] = 0.25
    np.testing.assert_allclose(a.predict(x_nan), a.predict(x_filled), atol=1e-7)


def test_positive_weight_modes():
    y = np.array([1] + [0] * 99)
    assert positive_weight(y, "balanced") == pytest.approx(99.0)
    assert positive_weight(y, "sqrt") == pytest.approx(99**0.5)
    assert positive_weight(y, "none") == 1.0
    with pytest.raises(ValueError, match="unknown class weighting 'odd'"):
        positive_weight(y, "odd")


def test_unknown_family_is_refused(split, features):
    with pytest.raises(ValueError, match="unknown model family 'xgboost'"):
        fit_family("xgboost", split, features)
