"""Behaviour of the models: contract, predictions, numerics, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from retention.exceptions import ConvergenceError, NotFittedError, ValidationError
from retention.forecast import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    ConvergenceWarning,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)
from retention.forecast._special import hyp2f1_one
from retention.forecast.paretonbd import pareto_parts

BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
BGBB = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
TRANSACTION_MODELS = [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel]


def make(model_class, params):
    return model_class.from_dict({"model": model_class.__name__, "format": 1, "params": params})


def params_for(model_class):
    return PARETO if model_class is ParetoNBDModel else BG


def customers():
    return pd.DataFrame(
        {
            "frequency": [0.0, 1.0, 2.0, 10.0, 60.0],
            "recency": [0.0, 5.0, 30.43, 38.0, 38.5],
            "T": [38.86, 38.86, 38.86, 38.86, 38.86],
        },
        index=pd.Index(["c0", "c1", "c2", "c3", "c4"], name="customer_id"),
    )


# ---------------------------------------------------------------- the estimator contract
@pytest.mark.parametrize(
    "model_class",
    [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel, BetaGeoBetaBinomModel, GammaGammaModel],
)
def test_unfitted_models_say_to_call_fit(model_class):
    model = model_class()
    with pytest.raises(
        NotFittedError,
        match=rf"^{model_class.__name__} is not fitted yet; call fit\(summary\) first$",
    ):
        model.to_dict()
    assert isinstance(NotFittedError("x"), AttributeError)
    assert not hasattr(model, "params_")


def test_bgnbd_not_fitted_message_is_the_style_guides():
    with pytest.raises(NotFittedError) as error:
        BetaGeoModel().probability_alive(customers())
    assert str(error.value) == "BetaGeoModel is not fitted yet; call fit(summary) first"


def test_init_stores_parameters_and_fit_returns_self(cdnow_calibration):
    model = BetaGeoModel(penalizer=0.1, on_convergence_failure="warn")
    assert model.get_params() == {
        "penalizer": 0.1,
        "on_convergence_failure": "warn",
        "max_iterations": 1000,
    }
    assert model.set_params(penalizer=0.0) is model
    assert model.fit(cdnow_calibration) is model
    assert repr(model).startswith("BetaGeoModel(penalizer=0.0")
    with pytest.raises(ValidationError, match="no parameter 'alpha'"):
        model.set_params(alpha=1)


def test_init_does_not_validate_but_fit_does(cdnow_calibration):
    model = BetaGeoModel(penalizer=-1)
    with pytest.raises(ValidationError, match="penalizer"):
        model.fit(cdnow_calibration)
    with pytest.raises(ValidationError, match="on_convergence_failure"):
        BetaGeoModel(on_convergence_failure="ignore").fit(cdnow_calibration)


def test_penalizer_shrinks_the_parameters(cdnow_calibration):
    plain = BetaGeoModel().fit(cdnow_calibration)
    penalized = BetaGeoModel(penalizer=0.1).fit(cdnow_calibration)
    norm = sum(v**2 for v in plain.params_.values())
    assert sum(v**2 for v in penalized.params_.values()) < norm
    assert penalized.log_likelihood_ < plain.log_likelihood_


# ------------------------------------------------------------------------- predictions
@pytest.mark.parametrize("model_class", TRANSACTION_MODELS)
def test_predictions_are_series_keyed_by_customer_id(model_class):
    model = make(model_class, params_for(model_class))
    frame = customers()
    for series in (
        model.probability_alive(frame),
        model.expected_purchases(10, frame),
        model.probability_of_purchases(2, 10, frame),
    ):
        assert series.index.equals(frame.index)
        assert np.isfinite(series).all()


@pytest.mark.parametrize("model_class", TRANSACTION_MODELS)
def test_pmf_sums_to_one_and_its_mean_is_the_expectation(model_class):
    model = make(model_class, params_for(model_class))
    frame = customers()
    probabilities = np.array(
        [model.probability_of_purchases(n, 39, frame).to_numpy() for n in range(400)]
    )
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, atol=1e-9)
    mean = (np.arange(400)[:, None] * probabilities).sum(axis=0)
    np.testing.assert_allclose(mean, model.expected_purchases(39, frame).to_numpy(), rtol=1e-7)
    new = np.array([model.probability_of_purchases_new_customer(n, 39.0) for n in range(400)])
    assert new.sum() == pytest.approx(1.0, abs=1e-9)
    assert (np.arange(400) * new).sum() == pytest.approx(
        float(model.expected_purchases_new_customer(39.0)), rel=1e-7
    )


def test_bgnbd_one_time_buyers_are_alive_but_mbgnbd_ones_may_not_be():
    frame = customers()
    assert (
        BetaGeoModel.from_dict(
            {"model": "BetaGeoModel", "format": 1, "params": BG}
        ).probability_alive(frame)["c0"]
        == 1.0
    )
    mbg = make(ModifiedBetaGeoModel, BG).probability_alive(frame)["c0"]
    assert 0 < mbg < 1
    # MBG/NBD eq. 5 for x = 0: 1 / (1 + a/b ((alpha+T)/alpha)^r)
    r, alpha, a, b = BG.values()
    assert mbg == pytest.approx(1 / (1 + a / b * ((alpha + 38.86) / alpha) ** r))


def test_bgnbd_expectation_at_a_equal_one_is_continuous():
    frame = customers()
    values = [
        make(BetaGeoModel, {**BG, "a": a}).expected_purchases(20, frame).to_numpy()
        for a in (1 - 1e-3, 1.0, 1 + 1e-3)
    ]
    np.testing.assert_allclose(values[1], (values[0] + values[2]) / 2, rtol=1e-4)


def test_bgnbd_expectation_without_hypergeometric_form_uses_quadrature():
    # a + b <= 1: the 2F1 of eq. 7 has c <= 0; the quadrature still gives the integral.
    params = {"r": 0.5, "alpha": 3.0, "a": 0.4, "b": 0.5}
    model = make(BetaGeoModel, params)
    t = 20.0

    def integrand(p):
        density = p ** (0.4 - 1) * (1 - p) ** (0.5 - 1) / special.beta(0.4, 0.5)
        return density * (1 - (3.0 / (3.0 + p * t)) ** 0.5) / p

    reference = integrate.quad(integrand, 0, 1, limit=200)[0]
    assert float(model.expected_purchases_new_customer(t)) == pytest.approx(reference, rel=1e-6)


def test_mbgnbd_likelihood_matches_direct_numerical_integration():
    r, alpha, a, b = 0.6, 5.0, 0.9, 1.7
    model = ModifiedBetaGeoModel()
    for x, t_x, T in [(0, 0.0, 30.0), (1, 4.0, 30.0), (3, 20.5, 38.0), (7, 36.0, 38.0)]:
        data = {"frequency": np.array([x], float), "recency": np.array([t_x]), "T": np.array([T])}
        value = model._log_likelihood(np.array([r, alpha, a, b]), data)[0]

        def individual(p, lam, x=x, t_x=t_x, T=T):
            gamma_pdf = alpha**r * lam ** (r - 1) * math.exp(-alpha * lam) / math.gamma(r)
            beta_pdf = p ** (a - 1) * (1 - p) ** (b - 1) / special.beta(a, b)
            alive = (1 - p) ** (x + 1) * lam**x * math.exp(-lam * T)
            dead = p * (1 - p) ** x * lam**x * math.exp(-lam * t_x)
            return (alive + dead) * gamma_pdf * beta_pdf

        reference, _ = integrate.dblquad(individual, 0, np.inf, 0, 1, epsabs=1e-14, epsrel=1e-10)
        assert value == pytest.approx(math.log(reference), abs=1e-6)


@pytest.mark.parametrize(
    "params",
    [
        PARETO,
        {"r": 0.55, "alpha": 12.0, "s": 0.6, "beta": 3.0},
        {"r": 2.0, "alpha": 1.0, "s": 2.5, "beta": 1.0},
    ],
)
def test_pareto_likelihood_matches_quadrature_in_both_branches(params):
    r, alpha, s, beta = params.values()
    cases = [
        (0, 0.0, 38.86),
        (2, 30.43, 38.86),
        (25, 3.0, 39.0),
        (150, 38.0, 39.0),
        (1, 0.01, 1000.0),
    ]
    for x, t_x, T in cases:
        constant, alive, dead = pareto_parts(
            (r, alpha, s, beta), np.array([float(x)]), np.array([t_x]), np.array([T])
        )
        value = (constant + np.logaddexp(alive, dead))[0]
        integral = integrate.quad(
            lambda u, x=x, t_x=t_x: (
                ((alpha + u) / (alpha + t_x)) ** -(r + x) * (beta + u) ** -(s + 1)
            ),
            t_x,
            T,
            epsabs=0,
            epsrel=1e-12,
            limit=200,
        )[0]
        log_integral = math.log(integral) - (r + x) * math.log(alpha + t_x)
        reference = (
            special.gammaln(r + x)
            - special.gammaln(r)
            + r * math.log(alpha)
            + s * math.log(beta)
            + np.logaddexp(
                -(r + x) * math.log(alpha + T) - s * math.log(beta + T),
                math.log(s) + log_integral,
            )
        )
        assert value == pytest.approx(reference, abs=1e-8), (x, t_x, T)


def test_pareto_stays_finite_where_naive_formulas_overflow():
    model = make(ParetoNBDModel, {"r": 0.55, "alpha": 0.01, "s": 0.6, "beta": 500.0})
    frame = pd.DataFrame(
        {
            "frequency": [300.0, 2000.0, 0.0],
            "recency": [1.0, 50.0, 0.0],
            "T": [5000.0, 5000.0, 1e5],
        },
        index=["a", "b", "c"],
    )
    alive = model.probability_alive(frame)
    assert np.isfinite(alive).all()
    assert ((alive >= 0) & (alive <= 1)).all()
    assert np.isfinite(model.expected_purchases(100, frame)).all()


def test_pareto_expectation_at_s_equal_one_is_its_limit():
    model = make(ParetoNBDModel, {**PARETO, "s": 1.0})
    r, alpha, beta = PARETO["r"], PARETO["alpha"], PARETO["beta"]
    assert float(model.expected_purchases_new_customer(39.0)) == pytest.approx(
        r / alpha * beta * math.log1p(39.0 / beta)
    )


# ------------------------------------------------------------------------ time units
def test_a_frame_in_another_unit_is_refused(cdnow_calibration):
    model = BetaGeoModel().fit(cdnow_calibration)
    daily = cdnow_calibration.copy()
    daily.attrs = {"time_unit": "D", "time_scaler": 1.0}
    with pytest.raises(
        ValidationError,
        match=r"time_scaler=1\.0 but BetaGeoModel was fitted on time_unit='D', time_scaler=7\.0",
    ):
        model.expected_purchases(10, daily)
    # A literal frame without attrs is taken as given.
    assert len(model.expected_purchases(10, customers())) == 5


# ----------------------------------------------------------------------- bad input
BAD_SUMMARIES = [
    ("frequency", [-1.0, 1.0], "negative or non-integer frequency"),
    ("frequency", [1.5, 1.0], "negative or non-integer frequency"),
    ("recency", [40.0, 5.0], "recency greater than T"),
    ("recency", [float("nan"), 5.0], "missing or infinite 'recency'"),
    ("T", [float("inf"), 10.0], "missing or infinite 'T'"),
    ("T", [-1.0, 10.0], "negative recency or T"),
]


@pytest.mark.parametrize(("column", "values", "problem"), BAD_SUMMARIES)
@pytest.mark.parametrize("model_class", TRANSACTION_MODELS)
def test_bad_summaries_are_refused_naming_the_customer(model_class, column, values, problem):
    frame = pd.DataFrame(
        {"frequency": [1.0, 1.0], "recency": [5.0, 5.0], "T": [10.0, 10.0]},
        index=pd.Index(["bad-1", "ok-2"], name="customer_id"),
    )
    frame[column] = values
    with pytest.raises(ValidationError, match=problem) as error:
        model_class().fit(frame)
    assert "'bad-1'" in str(error.value)
    assert "ok-2" not in str(error.value)
    with pytest.raises(ValidationError, match=problem):
        make(model_class, params_for(model_class)).probability_alive(frame)


def test_other_bad_inputs_are_refused():
    model = make(BetaGeoModel, BG)
    empty = customers().iloc[:0]
    with pytest.raises(ValidationError, match="no customers"):
        BetaGeoModel().fit(empty)
    with pytest.raises(ValidationError, match="positive recency with frequency 0"):
        model.probability_alive(customers().assign(recency=[1.0, 5, 30.43, 38, 38.5]))
    with pytest.raises(ValidationError, match="duplicated customer ids"):
        model.probability_alive(pd.concat([customers(), customers().iloc[:1]]))
    with pytest.raises(ValidationError, match="must be numeric"):
        model.probability_alive(customers().assign(T="38"))
    with pytest.raises(ValidationError, match="t must be a finite number"):
        model.expected_purchases(-1, customers())
    with pytest.raises(ValidationError, match="n must be a whole number"):
        model.probability_of_purchases(1.5, 1, customers())
    with pytest.raises(ValidationError, match="no column 'freq'"):
        model.probability_alive(customers(), frequency_col="freq")


def test_unidentified_data_raise_convergence_error_or_warn():
    # Nobody ever comes back: the purchase rate runs to the edge of the parameter space.
    frame = pd.DataFrame(
        {"frequency": [0.0] * 50, "recency": [0.0] * 50, "T": np.linspace(1, 50, 50)}
    )
    with pytest.raises(ConvergenceError, match=r"did not converge.*penalizer"):
        BetaGeoModel().fit(frame)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        model = BetaGeoModel(on_convergence_failure="warn").fit(frame)
    assert hasattr(model, "params_")


def test_from_dict_refuses_another_model():
    with pytest.raises(ValidationError, match="describes a 'ParetoNBDModel'"):
        BetaGeoModel.from_dict({"model": "ParetoNBDModel", "format": 1, "params": PARETO})
    with pytest.raises(ValidationError, match="lacks parameters b"):
        BetaGeoModel.from_dict(
            {"model": "BetaGeoModel", "format": 1, "params": {"r": 1, "alpha": 1, "a": 1}}
        )
    json.dumps(make(BetaGeoModel, BG).to_dict())


# --------------------------------------------------------------------- BG/BB specifics
def test_bgbb_predictions_for_donors(donations):
    model = make(BetaGeoBetaBinomModel, BGBB)
    frame = donations.rename(columns={"periods": "T"}).drop(columns="weights")
    frame.index = [f"pattern-{i}" for i in range(len(frame))]
    alive = model.probability_alive(frame)
    assert ((alive > 0) & (alive < 1)).all()
    # Donors who gave in the last year are alive there; P(alive next year) = B(g, d+7)/B(g, d+6)
    # whatever their frequency (eq. 11); lapsed donors are less likely to be alive.
    recent = (frame["recency"] == 6).to_numpy()
    expected = math.exp(special.betaln(0.657, 2.783 + 7) - special.betaln(0.657, 2.783 + 6))
    np.testing.assert_allclose(alive[recent], expected, rtol=1e-12)
    assert (alive[~recent] < expected).all()
    lapsed = frame[(frame["recency"] == 1).to_numpy()].index
    assert (alive[lapsed] < 0.2).all()
    total = sum(model.probability_of_purchases(n, 5, frame) for n in range(6))
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    with pytest.raises(ValidationError, match="whole number"):
        model.expected_purchases(2.5, frame)
    with pytest.raises(ValidationError, match="frequency > recency"):
        model.probability_alive(pd.DataFrame({"frequency": [3.0], "recency": [2.0], "T": [6.0]}))


def test_bgbb_unconditional_expectation_matches_the_pmf():
    model = make(BetaGeoBetaBinomModel, BGBB)
    for n in (1, 5, 10):
        mean = sum(
            k * float(model.probability_of_purchases_new_customer(k, n)) for k in range(n + 1)
        )
        assert float(model.expected_purchases_new_customer(n)) == pytest.approx(mean, rel=1e-10)
    at_one = make(BetaGeoBetaBinomModel, {**BGBB, "gamma": 1.0})
    near = make(BetaGeoBetaBinomModel, {**BGBB, "gamma": 1.0 + 1e-5})
    assert float(at_one.expected_purchases_new_customer(6)) == pytest.approx(
        float(near.expected_purchases_new_customer(6)), rel=1e-4
    )


# ----------------------------------------------------------------------- Gamma-Gamma
def test_gamma_gamma_nonpositive_spend_is_raised_or_excluded():
    rng = np.random.default_rng(7)
    n = 400
    frequency = rng.integers(1, 8, size=n).astype(float)
    nu = rng.gamma(3.7, 1 / 15.4, size=n)
    spend = rng.gamma(6.25 * frequency, 1 / (nu * frequency))
    frame = pd.DataFrame(
        {"frequency": [*frequency, 3.0, 0.0], "monetary_value": [*spend, 0.0, 0.0]},
        index=pd.Index([*(f"c{i}" for i in range(n)), "free", "new"], name="customer_id"),
    )
    with pytest.raises(ValidationError, match=r"zero or negative 'monetary_value'.*'free'"):
        GammaGammaModel().fit(frame)
    model = GammaGammaModel(nonpositive_spend="exclude").fit(frame)
    assert model.excluded_customers_ == ["free"]
    assert model.n_customers_ == n
    assert model.params_["p"] == pytest.approx(6.25, rel=0.3)
    spend = model.expected_spend(frame)
    assert spend["free"] == pytest.approx(model.mean_spend())
    assert spend["new"] == pytest.approx(model.mean_spend())
    assert (spend > 0).all()


def test_gamma_gamma_expected_spend_is_the_notes_weighted_mean():
    model = make(GammaGammaModel, {"p": 6.25, "q": 3.74, "v": 15.44})
    frame = pd.DataFrame(
        {"frequency": [2.0, 10.0], "monetary_value": [50.0, 50.0]}, index=["a", "b"]
    )
    spend = model.expected_spend(frame)
    assert spend["a"] == pytest.approx(6.25 * (15.44 + 2 * 50) / (6.25 * 2 + 3.74 - 1))
    # More transactions: closer to the customer's own mean.
    assert abs(spend["b"] - 50) < abs(spend["a"] - 50)


def test_pareto_fitting_path_equals_the_plain_likelihood(cdnow_calibration):
    model = ParetoNBDModel()
    arrays = {
        "frequency": cdnow_calibration["frequency"].to_numpy(),
        "recency": cdnow_calibration["recency"].to_numpy(),
        "T": cdnow_calibration["T"].to_numpy(),
    }
    augmented = dict(arrays)
    model._augment(augmented)
    for params in (PARETO, {"r": 0.5, "alpha": 3.0, "s": 2.0, "beta": 30.0}):
        theta = np.array(list(params.values()))
        np.testing.assert_allclose(
            model._log_likelihood(theta, augmented),
            model._log_likelihood(theta, arrays),
            rtol=1e-12,
            atol=1e-10,
        )


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel, GammaGammaModel])
def test_analytic_gradients_match_finite_differences(model_class, cdnow_calibration):
    model = model_class()
    repeat = cdnow_calibration[cdnow_calibration["frequency"] > 0]
    data = {
        "frequency": repeat["frequency"].to_numpy(),
        "recency": repeat["recency"].to_numpy(),
        "T": repeat["T"].to_numpy(),
        "monetary_value": repeat["monetary_value"].to_numpy(),
    }
    theta = np.array([0.7, 3.0, 1.3, 2.2][: len(model._param_names)])
    _, gradient = model._log_likelihood_gradient(theta, data)
    for i in range(len(theta)):
        step = np.zeros_like(theta)
        step[i] = 1e-6 * theta[i]
        numeric = (
            model._log_likelihood(theta + step, data) - model._log_likelihood(theta - step, data)
        ) / (2 * step[i])
        np.testing.assert_allclose(gradient[i], numeric, rtol=1e-5, atol=1e-7)


def test_hypergeometric_term_survives_scipys_overflow():
    # scipy.special.hyp2f1(1, 2, 101, 10/11) is inf; the series gives the true value.
    b, c, z = 2.0, 101.0, 10 / 11
    terms = np.cumprod(np.r_[1.0, (b + np.arange(400)) / (c + np.arange(400)) * z])
    assert float(hyp2f1_one(b, c, z)) == pytest.approx(terms.sum(), rel=1e-13)
    assert float(hyp2f1_one(0.5, 0.9, 0.3)) == pytest.approx(
        float(special.hyp2f1(1, 0.5, 0.9, 0.3))
    )
