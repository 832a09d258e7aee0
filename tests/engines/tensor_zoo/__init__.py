"""Buggy tensor engines, one bug a module: each is refimpl.tensor's `Tensor` with one operation
written the way students get it wrong (a subclass overriding that operation, or for
grad_overwritten a full copy), for the tensors suite to catch and blame on the right op."""

# Each module and the op its bug is in ("accumulation": every op's gradient bookkeeping).
BUGS = {
    "unbroadcast_missing": "add",
    "unbroadcast_leading_only": "add",
    "unbroadcast_wrong_axes": "add",
    "matmul_swapped": "matmul",
    "sum_not_expanded": "sum",
    "mean_not_divided": "mean",
    "max_all_ties": "max",
    "reshape_not_inverted": "reshape",
    "transpose_not_inverted": "transpose",
    "grad_overwritten": "accumulation",
    "inplace_relu": "relu",
    "pow_no_chain": "pow",
    "sigmoid_input": "sigmoid",
    "log_softmax_no_sum": "log_softmax",
    "sub_sign": "sub",
    "cross_entropy_not_divided": "cross_entropy",
    "div_no_square": "div",
}
