"""scikit-learn's own conformance suite (``sklearn.utils.estimator_checks``) on both estimators.

Small settings keep it fast (one to one and a half minutes for both on a 2-core machine): two hidden units and a
0.25 s time limit, with the warm start and the MIP as usual. On most data sets of the suite (20 to 300 samples) the
MIP stops at the limit with the warm start as its incumbent. Measured on the data of the checks that fit twice and
compare (idempotence, a column-vector y, a pipeline, int targets), the result is the same for any limit from
0.05 s to 1 s (the first improvement comes later), so they see the same network on slower and faster machines.
check_fit_idempotent and check_n_features_in_after_fitting set ``warm_start=False`` (scikit-learn's meaning of the
name: reuse the previous fit); then the MIP starts from nothing, and its first solution comes within about 0.1 s.
Below about 0.15 s, HiGHS stopped right after accepting the start can report an objective that is not the one of
the solution it returns (check_regressor_multioutput's data): the certificate catches it (CertificateWarning, an
error in this test suite), hence 0.25 s and not less. A check that is known to fail is listed with its reason in
:data:`mipnet.estimators.EXPECTED_FAILED_CHECKS` (strict: one that passes again fails here until it is taken off
the list).
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from mipnet import MIPNetClassifier, MIPNetRegressor
from mipnet.estimators import EXPECTED_FAILED_CHECKS

SMALL = {"hidden": (2,), "time_limit": 0.25}


def _expected_failures(estimator: object) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS[type(estimator).__name__]


@parametrize_with_checks([MIPNetClassifier(**SMALL), MIPNetRegressor(**SMALL)],
                         expected_failed_checks=_expected_failures, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
