"""The compiled core: the blog's training loop over typed memoryviews.

Every epoch of a ``fit`` runs inside one ``nogil`` call to :func:`train`; the layer outputs,
deltas and the update step are allocated once per call, never per epoch. The network's
weights live in one flat, C-contiguous parameter vector: synapse ``i`` (``syn_i``, of shape
``(layer_sizes[i], layer_sizes[i + 1])``) starts at the sum of the sizes of those before it.

These functions trust their caller (:class:`tinynet.Network`) for dtypes and contents; they
still check every shape they index with, since bounds checks are compiled out.
"""

from cython cimport floating
from libcpp.vector cimport vector

import numpy as np

from tinynet._kernels cimport (
    forward_layer,
    hidden_delta,
    output_delta,
    sigmoid_all,
    transpose_dot,
    update,
)


cdef void forward_pass(const floating* l0, const floating* params, floating** layers,
                       const Py_ssize_t* sizes, const Py_ssize_t* syn_offsets,
                       Py_ssize_t n_synapses, Py_ssize_t n) noexcept nogil:
    """layers[i + 1] = sigmoid(layers[i] . syn_i) for each synapse, layers[0] being l0."""
    cdef Py_ssize_t i
    cdef const floating* l_prev = l0
    for i in range(n_synapses):
        forward_layer(l_prev, params + syn_offsets[i], layers[i + 1], n, sizes[i], sizes[i + 1])
        l_prev = layers[i + 1]


cdef void backward_pass(const floating* l0, floating* params, floating** layers,
                        floating** deltas, floating* step, const Py_ssize_t* sizes,
                        const Py_ssize_t* syn_offsets, Py_ssize_t n_synapses, Py_ssize_t n,
                        floating learning_rate) noexcept nogil:
    """Update every synapse from the output down, given the output delta in deltas[-1].

    Each synapse first sends the delta back to the layer below it, then takes its update
    ``syn_i += learning_rate * layers[i].T . deltas[i + 1]``: the blog's order, in which every
    delta is computed with the weights of the forward pass.
    """
    cdef Py_ssize_t i
    cdef floating* syn
    cdef const floating* l_prev
    for i in range(n_synapses - 1, -1, -1):
        syn = params + syn_offsets[i]
        if i > 0:
            hidden_delta(deltas[i + 1], syn, layers[i], deltas[i], n, sizes[i], sizes[i + 1])
            l_prev = layers[i]
        else:
            l_prev = l0
        transpose_dot(l_prev, deltas[i + 1], step, n, sizes[i], sizes[i + 1])
        update(syn, step, sizes[i] * sizes[i + 1], learning_rate)


cdef Py_ssize_t[::1] synapse_offsets(const Py_ssize_t[::1] layer_sizes):
    """Where each synapse starts in the parameter vector; the last entry is its length."""
    cdef Py_ssize_t n_synapses = layer_sizes.shape[0] - 1
    cdef Py_ssize_t[::1] offsets = np.zeros(n_synapses + 1, dtype=np.intp)
    cdef Py_ssize_t i
    if n_synapses < 1:
        raise ValueError("layer_sizes needs at least two entries")
    for i in range(n_synapses):
        if layer_sizes[i] < 1 or layer_sizes[i + 1] < 1:
            raise ValueError("every layer size must be positive")
        offsets[i + 1] = offsets[i] + layer_sizes[i] * layer_sizes[i + 1]
    return offsets


cdef object workspace(floating[::1] like, Py_ssize_t size):
    """A new uninitialised 1-D array of ``size`` elements of ``like``'s dtype."""
    return np.empty(size, dtype=np.float64 if floating is double else np.float32)


cdef void point_into(floating[::1] buffer, const Py_ssize_t[::1] layer_sizes, Py_ssize_t n,
                     vector[floating*]& pointers):
    """pointers[i] = the (n, layer_sizes[i]) block of layer i >= 1, laid end to end."""
    cdef Py_ssize_t i, offset = 0
    pointers.assign(layer_sizes.shape[0], NULL)
    for i in range(1, layer_sizes.shape[0]):
        pointers[i] = &buffer[offset]
        offset += n * layer_sizes[i]


def train(const floating[:, ::1] X, const floating[:, ::1] y, floating[::1] params,
          const Py_ssize_t[::1] layer_sizes, Py_ssize_t epochs, double learning_rate,
          double[::1] mae, double[::1] loss):
    """Train ``params`` in place for ``epochs`` full-batch epochs of the blog's update.

    ``mae[e]`` and ``loss[e]`` receive the mean absolute error and half the summed squared
    error per sample of epoch ``e``'s forward pass, taken before that epoch's update.
    """
    cdef Py_ssize_t n = X.shape[0], n_synapses = layer_sizes.shape[0] - 1
    cdef Py_ssize_t[::1] offsets = synapse_offsets(layer_sizes)
    cdef Py_ssize_t i, epoch, n_out = layer_sizes[n_synapses], units = 0, largest_synapse = 0
    if n < 1 or X.shape[1] != layer_sizes[0] or y.shape[0] != n or y.shape[1] != n_out:
        raise ValueError("X and y do not match the layer sizes")
    if params.shape[0] != offsets[n_synapses]:
        raise ValueError("params does not match the layer sizes")
    if epochs < 0 or mae.shape[0] < epochs or loss.shape[0] < epochs:
        raise ValueError("mae and loss need one entry per epoch")
    for i in range(n_synapses):
        units += layer_sizes[i + 1]
        largest_synapse = max(largest_synapse, offsets[i + 1] - offsets[i])

    cdef floating[::1] layer_buffer = workspace(params, n * units)
    cdef floating[::1] delta_buffer = workspace(params, n * units)
    cdef floating[::1] step = workspace(params, largest_synapse)
    cdef vector[floating*] layers, deltas
    point_into(layer_buffer, layer_sizes, n, layers)
    point_into(delta_buffer, layer_sizes, n, deltas)

    cdef double abs_error_sum, squared_error_sum
    with nogil:
        for epoch in range(epochs):
            forward_pass(&X[0, 0], &params[0], layers.data(), &layer_sizes[0], &offsets[0],
                         n_synapses, n)
            output_delta(&y[0, 0], layers[n_synapses], deltas[n_synapses], n * n_out,
                         &abs_error_sum, &squared_error_sum)
            mae[epoch] = abs_error_sum / (n * n_out)
            loss[epoch] = 0.5 * squared_error_sum / n
            backward_pass(&X[0, 0], &params[0], layers.data(), deltas.data(), &step[0],
                          &layer_sizes[0], &offsets[0], n_synapses, n,
                          <floating>learning_rate)


def forward(const floating[:, ::1] X, const floating[::1] params,
            const Py_ssize_t[::1] layer_sizes, floating[:, ::1] out):
    """Write the network's output for the rows of ``X`` into ``out``."""
    cdef Py_ssize_t n = X.shape[0], n_synapses = layer_sizes.shape[0] - 1
    cdef Py_ssize_t[::1] offsets = synapse_offsets(layer_sizes)
    cdef Py_ssize_t i, hidden_units = 0
    if n < 1 or X.shape[1] != layer_sizes[0]:
        raise ValueError("X does not match the layer sizes")
    if out.shape[0] != n or out.shape[1] != layer_sizes[n_synapses]:
        raise ValueError("out does not match X and the layer sizes")
    if params.shape[0] != offsets[n_synapses]:
        raise ValueError("params does not match the layer sizes")
    for i in range(1, n_synapses):
        hidden_units += layer_sizes[i]

    # One spare element keeps &hidden_buffer[0] valid for a network without hidden layers.
    cdef floating[::1] hidden_buffer = workspace(out[0], n * hidden_units + 1)
    cdef vector[floating*] layers
    point_into(hidden_buffer, layer_sizes, n, layers)
    layers[n_synapses] = &out[0, 0]
    with nogil:
        forward_pass(&X[0, 0], &params[0], layers.data(), &layer_sizes[0], &offsets[0],
                     n_synapses, n)


# A thin twin of the elementwise kernel, for testing it against numpy.

def sigmoid(const floating[::1] x, floating[::1] out):
    """out = 1 / (1 + exp(-x)) elementwise."""
    if out.shape[0] != x.shape[0]:
        raise ValueError("x and out differ in length")
    if x.shape[0] > 0:
        with nogil:
            sigmoid_all(&x[0], &out[0], x.shape[0])
