"""scikit-learn's own conformance suite (``sklearn.utils.estimator_checks``) on both estimators.

Small settings keep it fast: two hidden units and a 0.05 s time limit, with the warm start and the MIP as usual.
The checks that fit twice and compare predictions (idempotence, data not an array, a column-vector y, a pipeline,
int targets) need both fits to return the same network, which no time limit can promise (see
:data:`TWO_FIT_CHECKS`): they run with ``node_limit=1`` and no time limit, a deterministic amount of work.
check_fit_idempotent and check_n_features_in_after_fitting set ``warm_start=False`` (scikit-learn's meaning of the
name: reuse the previous fit). Every solution still passes the numpy certificate (the objective is evaluated at the
returned solution, so a solve stopped right after accepting the start is reported honestly).
A check that is known to fail is listed with its reason in
:data:`mipnet.estimators.EXPECTED_FAILED_CHECKS` (strict: one that passes again fails here until it is taken off
the list).
"""

from __future__ import annotations

from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from mipnet import MIPNetClassifier, MIPNetRegressor
from mipnet.estimators import EXPECTED_FAILED_CHECKS

SMALL = {"hidden": (2,), "time_limit": 0.05}
#: The checks that fit twice and compare the two fits' predictions. A time limit cannot make two fits the same
#: network: how far HiGHS gets in 0.05 s varies from run to run (check_fit_idempotent, warm start off, failed 4 of 24
#: times on a quiet 2-core machine on 2026-12-04; check_classifier_data_not_an_array, warm start on, 2 of 8 runs of
#: this file). These run with a node limit and no time limit instead: a fixed amount of work, the same network
#: every time, however loaded the machine.
TWO_FIT_CHECKS = {"check_fit_idempotent", "check_n_features_in_after_fitting", "check_classifier_data_not_an_array",
                  "check_regressor_data_not_an_array", "check_supervised_y_2d", "check_pipeline_consistency",
                  "check_regressors_int"}
TWO_FIT = {"time_limit": None, "node_limit": 1}


def _expected_failures(estimator: object) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS[type(estimator).__name__]


@parametrize_with_checks([MIPNetClassifier(**SMALL), MIPNetRegressor(**SMALL)],
                         expected_failed_checks=_expected_failures, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    if getattr(check, "func", check).__name__ in TWO_FIT_CHECKS:
        estimator = clone(estimator).set_params(**TWO_FIT)   # a copy: the same instance serves every check
    check(estimator)
