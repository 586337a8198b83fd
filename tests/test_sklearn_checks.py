"""scikit-learn's own conformance suite (``sklearn.utils.estimator_checks``) on both estimators.

Small settings keep it fast (about 15 s for both): two hidden units and a 0.05 s time limit, with the warm start
and the MIP as usual. The checks that fit twice and compare predictions (idempotence, data not an array, a
column-vector y, a pipeline, int targets) need both fits to return the same network: at 0.25 s the MIP sometimes
found its first improvement on the warm start in one fit and not in the other (check_classifier_data_not_an_array
failed in 4 of 9 runs on a quiet 2-core machine, 2026-12-02); at 0.05 s it stops with the warm start (seeded, the
same every time) as its incumbent in every run (0 of 8), and a slower or loaded machine only makes that more
certain. check_fit_idempotent and check_n_features_in_after_fitting set ``warm_start=False`` (scikit-learn's
meaning of the name: reuse the previous fit). Every solution still passes the numpy certificate (the objective is
evaluated at the returned solution, so a solve stopped right after accepting the start is reported honestly).
A check that is known to fail is listed with its reason in
:data:`mipnet.estimators.EXPECTED_FAILED_CHECKS` (strict: one that passes again fails here until it is taken off
the list).
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from mipnet import MIPNetClassifier, MIPNetRegressor
from mipnet.estimators import EXPECTED_FAILED_CHECKS

SMALL = {"hidden": (2,), "time_limit": 0.05}
#: The checks that turn the warm start off (``warm_start=False``) and compare two fits: without the warm start the
#: MIP's incumbent at 0.05 s depends on how far HiGHS got (check_fit_idempotent failed 4 of 24 times on a quiet
#: 2-core machine, 2026-12-04); with 1 s it ends at the same network every time (0 of 24, and 0 of 24 at 0.2 s).
COLD_CHECKS = {"check_fit_idempotent", "check_n_features_in_after_fitting"}
COLD_TIME_LIMIT = 1.0


def _expected_failures(estimator: object) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS[type(estimator).__name__]


@parametrize_with_checks([MIPNetClassifier(**SMALL), MIPNetRegressor(**SMALL)],
                         expected_failed_checks=_expected_failures, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    if getattr(check, "func", check).__name__ in COLD_CHECKS:
        estimator.set_params(time_limit=COLD_TIME_LIMIT)
    check(estimator)
