"""Constraints on trained networks, enforced in training and proved by the verifier (DESIGN.md section 6).

>>> from mipnet import MIPNetRegressor, constraints as C
>>> reg = MIPNetRegressor(hidden=(4,), l1=0.01, constraints=[C.Monotone("income"), C.MaxInputs(5)],
...                       region=(lower, upper)).fit(X_df, y)               # doctest: +SKIP
>>> reg.report_.certified                                                   # doctest: +SKIP
"""

from mipnet.constraints.loop import explain_infeasible, train_with_constraints
from mipnet.constraints.objects import (
                                        Active,
                                        ClassAt,
                                        Constraint,
                                        Excludes,
                                        Fairness,
                                        FairnessKind,
                                        FilterActive,
                                        Implies,
                                        LayerActive,
                                        MaxFilters,
                                        MaxInputs,
                                        MaxNeurons,
                                        Monotone,
                                        MonotoneMode,
                                        OutputAt,
                                        OutputBound,
                                        SafeRegion,
                                        Uses,
                                        WeightBound,
                                        WeightSign,
)
from mipnet.constraints.rows import ConstraintSet

__all__ = ["Active", "ClassAt", "Constraint", "ConstraintSet", "Excludes", "Fairness", "FairnessKind",
           "FilterActive", "Implies", "LayerActive", "MaxFilters", "MaxInputs", "MaxNeurons", "Monotone",
           "MonotoneMode", "OutputAt", "OutputBound", "SafeRegion", "Uses", "WeightBound", "WeightSign",
           "explain_infeasible", "train_with_constraints"]
