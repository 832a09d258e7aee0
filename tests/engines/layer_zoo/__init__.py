"""Buggy layer-function engines, one bug a module: each is refimpl's layers with one function
written the way students get it wrong (`--engine layers:tests.engines.layer_zoo.NAME`)."""

# Each bug: (the layer it is in, the tensor that shows it, the verdict: "fail" for wrong math or
# a DIFFERENCE_KINDS kind for a convention, and words of the hint a student needs).
BUGS = {
    "bias_not_summed": ("affine", "db", "fail", "not summed over the batch"),
    "softmax_not_divided": ("softmax_loss", "dx", "fail", "divide by N"),
    "layernorm_wrong_axis": ("layernorm", "out", "fail", "over the wrong axis"),
    "transposed_dw": ("affine", "dw", "fail", "transposed"),
    "batchnorm_no_mean_terms": ("batchnorm", "dx", "fail", "the mean and variance depend on x"),
    "dropout_ignores_mask": ("dropout", "dx", "fail", "use the forward's mask"),
    "dropout_no_scale": ("dropout", "dx", "fail", "forgets the 1/p scale"),
    "conv_not_flipped": ("conv", "dx", "fail", "the kernel is flipped"),
    "conv_padding_kept": ("conv", "dx", "fail", "crop it"),
    "sigmoid_input": ("sigmoid", "dx", "fail", "takes the output s, not the input x"),
    "maxpool_all_ties": ("max_pool", "dx", "ieee", "tied maxima"),
    "softmax_no_max": ("softmax_loss", "loss", "ieee", "subtract each row's max"),
    "relu_ge_zero": ("relu", "dx", "ieee", "relu's derivative is a convention"),
    "net_no_reg_grad": ("two_layer_net", "dW1", "fail", "reg·W1, is missing"),
    "net_relu_mask_after": ("two_layer_net", "dW1", "fail", ""),
}
