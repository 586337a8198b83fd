"""Provable repair of trained networks (DESIGN.md section 6): the smallest change of the last layers' weights that
makes a VNN-LIB property provable over its whole region.

>>> from mipnet.repair import repair, Norm
>>> res = repair(net, "prop.vnnlib", layers=1, norm=Norm.L1, time_limit=300)   # doctest: +SKIP
>>> res.status, res.change["l1"], res.behaviour["drawdown"]                    # doctest: +SKIP
"""

from mipnet.repair.formulation import RepairFormulation
from mipnet.repair.loop import region_boxes, repair, safe_slack, sample_region, split_network, unsafe_depth
from mipnet.repair.results import (
    Decision,
    DecisionRows,
    Norm,
    OutputLoss,
    RepairResult,
    RepairStatus,
    behaviour_change,
    decisions,
    weight_change,
)

__all__ = ["Decision", "DecisionRows", "Norm", "OutputLoss", "RepairFormulation", "RepairResult", "RepairStatus",
           "behaviour_change", "decisions", "region_boxes", "repair", "safe_slack", "sample_region", "split_network",
           "unsafe_depth", "weight_change"]
