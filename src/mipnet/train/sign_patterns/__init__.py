"""The exact decomposition of the training MIP by output signs (one hidden layer, one output, ``sign`` weights):
the sub-problem formulation and its extra rows, the root cut loop, OBBT of the big-M values, and the driver."""
