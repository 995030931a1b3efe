"""The compiled core: the blog's training loop over typed memoryviews.

A :class:`Trainer` holds one ``fit``'s buffers (layer outputs, deltas, the update step,
momentum, shuffled batches), allocated once when it is made; each :meth:`Trainer.run`
then trains for a number of epochs inside one ``nogil`` block, allocating nothing, and
taking the GIL only to look for Ctrl-C every 20 ms (in the main thread). An epoch that
is interrupted, or that ends with a non-finite measure or weight, is rolled back to the
weights it started from. Matrix products of at least :func:`blas_crossover` multiply-adds
go to BLAS (numpy's bundled OpenBLAS if found, else scipy's; see :func:`blas_libraries`),
smaller ones to the kernels' loops; the elementwise kernels run in the widest instruction
set the CPU has.
The network's parameters live in one flat, C-contiguous vector (see ``tinynet._layout``):
synapse ``i`` is a block of ``layer_sizes[i]`` rows of weights, plus one row of biases if
the network has bias units, of ``layer_sizes[i + 1]`` columns, after the blocks before it.
Networks no wider than ``SMALL_MAX_UNITS`` trained on full batches take a shorter road
(``csrc/tinynet_small.hh``): a whole epoch in one call compiled for the CPU's instruction
set, on a copy of the weights with every row padded to that width, written back when the
run ends; the results are the same as the general loop's without BLAS.

These functions trust their caller (:class:`tinynet.Network`) for dtypes and contents; they
still check every shape they index with, since bounds checks are compiled out.
"""

from cpython.exc cimport PyErr_CheckSignals
from cython cimport floating
from libc.math cimport isfinite
from libc.stdint cimport uint64_t
from libcpp.vector cimport vector

import threading

import numpy as np

from tinynet._blas import numpy_gemm

from tinynet._kernels cimport (
    Activation,
    SignalClock,
    all_finite,
    clip_all,
    column_sums,
    copy_all,
    decay,
    drop_units,
    exp_all,
    forward_layer,
    gather_rows,
    hidden_delta,
    kLinear,
    kRelu,
    kSigmoid,
    kSoftmax,
    kTanh,
    momentum_update,
    output_delta,
    random_order,
    sigmoid_all,
    tanh_all,
    transpose_dot,
    transpose_dot_update,
    update,
)
from tinynet._kernels cimport best_isa, current_isa, kBaseline, kX86V3, kX86V4, use_isa
from tinynet._kernels cimport Plan, kAvailable, kMaxLanes, pad_all, run_epoch, unpad_all

cimport tinynet._kernels as kernels
from scipy.linalg.cython_blas cimport dgemm as scipy_dgemm, sgemm as scipy_sgemm

ACTIVATIONS = {
    "sigmoid": kSigmoid, "tanh": kTanh, "relu": kRelu, "linear": kLinear, "softmax": kSoftmax
}

cdef extern from *:
    bint TINYNET_BOUNDS_CHECKED  # set by setup.py: TINYNET_DEBUG_BUILD=1

# Whether this build indexes memoryviews with bounds and wraparound checks.
BOUNDS_CHECKED = bool(TINYNET_BOUNDS_CHECKED)

# The instruction sets the elementwise kernels are compiled for, narrowest first.
INSTRUCTION_SETS = {"baseline": kBaseline, "x86-64-v3": kX86V3, "x86-64-v4": kX86V4}
use_isa(best_isa())

# The widest layer, and the most rows, of a full-batch fit that takes the small networks' road
# (where the general loop's bookkeeping, not its arithmetic, is most of an epoch); it also
# needs every product to be below blas_crossover().
SMALL_MAX_UNITS = kMaxLanes
SMALL_MAX_ROWS = 256
cdef bint small_road = kAvailable  # see set_small_road

# Big matrix products go to BLAS (see csrc/tinynet_blas.hh): numpy's if found, else scipy's.
kernels.dgemm = <kernels.dgemm_t>scipy_dgemm
kernels.sgemm = <kernels.sgemm_t>scipy_sgemm
NUMPY_GEMM = numpy_gemm()


def blas_libraries():
    """The BLAS libraries the matrix products can go to, first the one they go to by default:
    ``"numpy"`` (the ILP64 OpenBLAS numpy's wheel bundles), if found, and ``"scipy"``
    (``scipy.linalg.cython_blas``)."""
    return (["numpy"] if NUMPY_GEMM is not None else []) + ["scipy"]


def blas_library():
    """Which of :func:`blas_libraries` the matrix products go to."""
    return "numpy" if kernels.dgemm64 != NULL else "scipy"


def use_blas_library(str name):
    """Send the matrix products to ``name``, one of :func:`blas_libraries`, for tests and
    benchmarks. Not thread-safe: no fit may be running."""
    if name not in blas_libraries():
        raise ValueError(f"BLAS library {name!r} is not available: {blas_libraries()}")
    if name == "numpy":
        kernels.dgemm64 = <kernels.dgemm64_t><size_t>NUMPY_GEMM.dgemm
        kernels.sgemm64 = <kernels.sgemm64_t><size_t>NUMPY_GEMM.sgemm
    else:
        kernels.dgemm64 = NULL
        kernels.sgemm64 = NULL


use_blas_library(blas_libraries()[0])


cdef struct Net:
    # What the parameter vector means, and where each synapse's block starts in it.
    Py_ssize_t n_synapses
    const Py_ssize_t* sizes
    const Py_ssize_t* offsets
    Activation hidden
    Activation output
    bint bias


cdef struct Settings:
    # One fit's options, as the nogil loop reads them.
    double learning_rate, momentum, l2, dropout, dropout_scale, clip
    bint nesterov, shuffle
    Py_ssize_t batch_size, hidden_units
    uint64_t shuffle_key, dropout_key


cdef inline void forward_pass(const Net* net, const floating* l0, const floating* params,
                       floating** layers, floating** slopes, floating* log_out, Py_ssize_t n,
                       const Settings* dropout, uint64_t first_row) noexcept nogil:
    """layers[i + 1] = f(layers[i] . syn_i + bias_i) for each synapse, layers[0] being l0.

    With ``slopes`` (not NULL), the hidden layers are dropped out as ``dropout`` says, rows
    counted from ``first_row``, and ``slopes[i]`` receives layer i's slopes. ``log_out``
    (or NULL) receives the log-probabilities of a softmax output.
    """
    cdef Py_ssize_t i, k, j, unit = 0, last = net.n_synapses - 1
    cdef const floating* l_prev = l0
    cdef const floating* syn
    for i in range(net.n_synapses):
        k = net.sizes[i]
        j = net.sizes[i + 1]
        syn = params + net.offsets[i]
        forward_layer(net.output if i == last else net.hidden, l_prev, syn,
                      syn + k * j if net.bias else NULL, layers[i + 1],
                      log_out if i == last else NULL, n, k, j)
        if slopes != NULL and i < last:
            drop_units(net.hidden, layers[i + 1], slopes[i + 1], n, j, dropout.dropout_key,
                       first_row, dropout.hidden_units, unit, dropout.dropout,
                       <floating>dropout.dropout_scale)
            unit += j
        l_prev = layers[i + 1]


cdef inline void backward_pass(const Net* net, const Settings* s, const floating* l0,
                        floating* params, floating* velocity, floating** layers,
                        floating** deltas, floating** slopes, floating* step,
                        Py_ssize_t n) noexcept nogil:
    """Update every synapse from the output down, given the output delta in deltas[-1].

    Each synapse first sends the delta back to the layer below it, then takes its update
    ``syn_i += learning_rate * (layers[i].T . deltas[i + 1] - l2 * syn_i)`` (through the
    velocity with momentum): the blog's order, in which every delta is computed with the
    weights of the forward pass.
    """
    # Local copies: the compiler cannot tell that the weight updates leave them alone.
    cdef floating learning_rate = <floating>s.learning_rate, momentum = <floating>s.momentum
    cdef floating l2 = <floating>s.l2, clip = <floating>s.clip
    cdef bint bias = net.bias, nesterov = s.nesterov
    cdef Activation hidden = net.hidden
    cdef Py_ssize_t i, k, j, size
    cdef floating* syn
    cdef const floating* l_prev
    for i in range(net.n_synapses - 1, -1, -1):
        k = net.sizes[i]
        j = net.sizes[i + 1]
        syn = params + net.offsets[i]
        if i > 0:
            hidden_delta(hidden, deltas[i + 1], syn, layers[i],
                         slopes[i] if slopes != NULL else NULL, deltas[i], n, k, j)
            if clip > 0:
                clip_all(deltas[i], n * k, clip)
            l_prev = layers[i]
        else:
            l_prev = l0
        if l2 == 0 and momentum == 0 and not bias:
            # The blog's update, without a pass through the step buffer.
            transpose_dot_update(l_prev, deltas[i + 1], syn, step, n, k, j, learning_rate)
            continue
        transpose_dot(l_prev, deltas[i + 1], step, n, k, j)
        if l2 != 0:
            decay(step, syn, k * j, l2)
        size = k * j
        if bias:
            column_sums(deltas[i + 1], step + size, n, j)
            size += j
        if momentum != 0:
            momentum_update(syn, velocity + net.offsets[i], step, size, learning_rate, momentum,
                            nesterov)
        else:
            update(syn, step, size, learning_rate)


cdef Py_ssize_t[::1] block_offsets(const Py_ssize_t[::1] layer_sizes, bint bias):
    """Where each synapse's block starts in the parameter vector; the last entry is its
    length."""
    cdef Py_ssize_t n_synapses = layer_sizes.shape[0] - 1
    cdef Py_ssize_t[::1] offsets = np.zeros(n_synapses + 1, dtype=np.intp)
    cdef Py_ssize_t i
    if n_synapses < 1:
        raise ValueError("layer_sizes needs at least two entries")
    for i in range(n_synapses):
        if layer_sizes[i] < 1 or layer_sizes[i + 1] < 1:
            raise ValueError("every layer size must be positive")
        offsets[i + 1] = offsets[i] + (layer_sizes[i] + bias) * layer_sizes[i + 1]
    return offsets


cdef Net describe(architecture, const Py_ssize_t[::1] sizes,
                      const Py_ssize_t[::1] offsets):
    """The Net record of ``architecture`` (its sizes and offsets must stay alive)."""
    cdef Net net
    net.n_synapses = sizes.shape[0] - 1
    net.sizes = &sizes[0]
    net.offsets = &offsets[0]
    net.hidden = ACTIVATIONS[architecture.activation]
    net.output = ACTIVATIONS[architecture.output]
    net.bias = architecture.bias
    return net


cdef object workspace(dtype, Py_ssize_t size):
    """A new uninitialised 1-D array of ``size`` (at least 1) elements of ``dtype``."""
    return np.empty(max(size, 1), dtype=dtype)


cdef void point_into(floating[::1] buffer, const Py_ssize_t[::1] layer_sizes, Py_ssize_t n,
                     Py_ssize_t first, Py_ssize_t stop, vector[floating*]& pointers):
    """pointers[i] = the (n, layer_sizes[i]) block of layer i, for first <= i < stop, laid
    end to end in ``buffer``; the other entries are NULL."""
    cdef Py_ssize_t i, offset = 0
    pointers.assign(layer_sizes.shape[0], NULL)
    for i in range(first, stop):
        pointers[i] = &buffer[offset]
        offset += n * layer_sizes[i]


cdef class Trainer:
    """Trains a parameter vector in place, epoch after epoch, for one ``fit``: the compiled
    twin of :class:`tinynet.reference.Trainer`, with the same arguments. Every buffer is
    allocated here, once; each :meth:`run` only lists pointers into them (one small vector
    per kind of buffer) and then allocates nothing, whatever the number of epochs.
    """

    cdef readonly object X, y, params, X_val, y_val
    cdef object layer_sizes, offsets, velocity, layers, deltas, slopes, step
    cdef object batch_X, batch_y, order, sort_keys, val_layers, val_delta, saved
    cdef object padded, padded_velocity, padded_offsets, transposed_offsets  # small road
    cdef object pending  # what a signal handler raised during run, to raise after it
    cdef Net net
    cdef Settings s
    cdef readonly Py_ssize_t epoch
    cdef readonly bint small  # whether run takes the small networks' road
    cdef Py_ssize_t lanes  # on it, the padded width of every row

    def __init__(self, X, y, params, architecture, training, validation=None):
        cdef Py_ssize_t n = X.shape[0], units, hidden_units, n_in, n_out, b
        cdef Settings* s = &self.s
        self.layer_sizes = np.ascontiguousarray(architecture.layer_sizes, dtype=np.intp)
        self.offsets = np.asarray(block_offsets(self.layer_sizes, architecture.bias))
        self.net = describe(architecture, self.layer_sizes, self.offsets)
        cdef Py_ssize_t last = self.net.n_synapses  # (no negative indices: wraparound is off)
        n_in = self.layer_sizes[0]
        n_out = self.layer_sizes[last]
        if X.ndim != 2 or n < 1 or X.shape[1] != n_in or y.shape != (n, n_out):
            raise ValueError("X and y do not match the layer sizes")
        if params.shape != (self.offsets[last],) or X.dtype != params.dtype or y.dtype != X.dtype:
            raise ValueError("params does not match the layer sizes or the dtype of X")
        if not 1 <= training.batch_size <= n:
            raise ValueError("batch_size must be between 1 and the number of samples")
        self.X, self.y, self.params = X, y, params
        self.epoch = 0
        self.pending = None

        s.learning_rate = training.learning_rate
        s.momentum = training.momentum
        s.nesterov = training.nesterov
        s.l2 = training.l2
        s.dropout = training.dropout
        s.dropout_scale = training.dropout_scale
        s.clip = training.clip
        s.batch_size = training.batch_size
        # Shuffling a full batch would only reorder the sums of its gradient.
        s.shuffle = training.shuffle and training.batch_size < n
        s.shuffle_key = training.shuffle_key
        s.dropout_key = training.dropout_key

        dtype = params.dtype
        units = int(np.sum(self.layer_sizes[1:]))
        hidden_units = units - n_out
        s.hidden_units = hidden_units
        b = s.batch_size
        # Only where the general loop would hand no product to BLAS, so that the two roads
        # (and predict, which takes the general one) give the same results.
        self.small = (small_road and b == n and n <= SMALL_MAX_ROWS and s.dropout == 0
                      and validation is None and int(np.max(self.layer_sizes)) <= kMaxLanes
                      and self.net.output in (kSigmoid, kLinear)
                      and n * int(np.max(self.layer_sizes[:last] * self.layer_sizes[1:]))
                      < kernels.crossover)
        if self.small:
            # Every row padded to `lanes`; the deltas' padding must start, and stays, zero.
            self.lanes = 4 if int(np.max(self.layer_sizes)) <= 4 else kMaxLanes
            # Synapse i's rows (k + bias of them), then the columns (j) of synapses 1..:
            # block sizes, laid end to end.
            rows = (self.layer_sizes[:last] + architecture.bias) * self.lanes
            columns = self.layer_sizes[2:] * self.lanes
            starts = np.cumsum(np.concatenate(([0], rows, columns)))
            self.padded_offsets = starts[:last + 1].astype(np.intp)
            # Entry 0 (the first synapse has no columns) is not used.
            self.transposed_offsets = np.concatenate(
                (starts[last:last + 1], starts[last:2 * last - 1])).astype(np.intp)
            size = int(starts[2 * last - 1])
            units = last * self.lanes
            self.padded = workspace(dtype, size)
            self.padded_velocity = np.zeros(size if s.momentum != 0 else 1, dtype=dtype)
        self.layers = workspace(dtype, b * units)
        self.deltas = np.zeros(max(b * units, 1), dtype=dtype)
        self.slopes = workspace(dtype, b * hidden_units if s.dropout > 0 else 0)
        self.step = workspace(dtype, int(np.max(np.diff(self.offsets))))
        self.velocity = np.zeros_like(params) if s.momentum != 0 else workspace(dtype, 0)
        self.saved = workspace(dtype, self.padded.shape[0] if self.small else params.shape[0])
        self.batch_X = workspace(dtype, b * n_in if s.shuffle else 0)
        self.batch_y = workspace(dtype, b * n_out if s.shuffle else 0)
        self.order = np.zeros(n if s.shuffle else 1, dtype=np.intp)
        self.sort_keys = np.zeros(n if s.shuffle else 1, dtype=np.uint64)
        if validation is None:
            self.X_val = self.y_val = None
            self.val_layers = self.val_delta = workspace(dtype, 0)
        else:
            self.X_val, self.y_val = validation
            if (self.X_val.shape[0] < 1 or self.X_val.shape[1:] != (n_in,)
                    or self.y_val.shape != (self.X_val.shape[0], n_out)
                    or self.X_val.dtype != dtype or self.y_val.dtype != dtype):
                raise ValueError("validation data do not match the layer sizes")
            self.val_layers = workspace(dtype, self.X_val.shape[0] * units)
            self.val_delta = workspace(dtype, self.X_val.shape[0] * n_out)

    def run(self, Py_ssize_t epochs, double[:, ::1] history):
        """Train for up to ``epochs`` more epochs and return how many were completed.

        Row ``e`` of ``history`` receives epoch ``e``'s loss and mean absolute error, then
        (with validation data) the validation's. Training stops early, after rolling the
        weights back to where the epoch started, at the first epoch with a non-finite
        measure or weight (it diverged: fewer epochs are returned) or during which a signal
        handler raised (that exception is raised). :attr:`epoch` counts the epochs completed
        by every run.
        """
        if epochs < 0 or history.shape[0] < epochs or history.shape[1] != 4:
            raise ValueError("history needs one row of 4 per epoch")
        # Only the main thread handles signals.
        cdef bint watch = threading.current_thread() is threading.main_thread()
        if self.small and self.params.dtype == np.float64:
            done = run_small_epochs[double](self, self.params, epochs, history, watch)
        elif self.small:
            done = run_small_epochs[float](self, self.params, epochs, history, watch)
        elif self.params.dtype == np.float64:
            done = run_epochs[double](self, self.params, epochs, history, watch)
        else:
            done = run_epochs[float](self, self.params, epochs, history, watch)
        if self.pending is not None:
            error, self.pending = self.pending, None
            raise error
        return done


cdef bint signalled(Trainer t) noexcept with gil:
    """Run the Python handlers of pending signals; whether one raised (kept in t.pending)."""
    try:
        PyErr_CheckSignals()
    except BaseException as error:
        t.pending = error
        return True
    return False


cdef Py_ssize_t run_epochs(Trainer t, floating[::1] params, Py_ssize_t epochs,
                           double[:, ::1] history, bint watch) except -1:
    cdef const Net* net = &t.net
    cdef const Settings* s = &t.s
    cdef const floating[:, ::1] X = t.X
    cdef const floating[:, ::1] y = t.y
    cdef floating[::1] layer_buffer = t.layers, delta_buffer = t.deltas
    cdef floating[::1] velocity = t.velocity, step = t.step, slope_buffer = t.slopes
    cdef floating[::1] batch_X = t.batch_X, batch_y = t.batch_y
    cdef floating[::1] val_layer_buffer = t.val_layers, val_delta = t.val_delta
    cdef Py_ssize_t[::1] order = t.order
    cdef uint64_t[::1] sort_keys = t.sort_keys
    cdef const Py_ssize_t[::1] sizes = t.layer_sizes
    cdef const floating[:, ::1] X_val
    cdef const floating[:, ::1] y_val
    cdef Py_ssize_t n = X.shape[0], b = s.batch_size, L = net.n_synapses
    cdef Py_ssize_t n_in = sizes[0], n_out = sizes[L], n_val = 0
    cdef vector[floating*] layers, deltas, slopes, val_layers
    point_into(layer_buffer, sizes, b, 1, L + 1, layers)
    point_into(delta_buffer, sizes, b, 1, L + 1, deltas)
    # Without dropout slope_buffer is a one-element placeholder: rows of 0 keep in bounds.
    point_into(slope_buffer, sizes, b if s.dropout > 0 else 0, 1, L, slopes)
    cdef floating** slopes_or_null = slopes.data() if s.dropout > 0 else NULL
    if t.X_val is not None:
        X_val = t.X_val
        y_val = t.y_val
        n_val = X_val.shape[0]
        point_into(val_layer_buffer, sizes, n_val, 1, L + 1, val_layers)

    cdef Py_ssize_t e, start, m
    cdef uint64_t first_row
    cdef const floating* l0
    cdef const floating* targets
    cdef double abs_sum, loss_sum, abs_total, loss_total
    cdef floating[::1] saved = t.saved
    cdef Py_ssize_t size = params.shape[0], completed = 0
    cdef SignalClock clock
    cdef bint interrupted = False, finite
    with nogil:
        for e in range(epochs):
            copy_all(&params[0], &saved[0], size)
            first_row = <uint64_t>t.epoch * <uint64_t>n
            if s.shuffle:
                random_order(s.shuffle_key, first_row, &order[0], &sort_keys[0], n)
            abs_total = loss_total = 0.0
            start = 0
            while start < n:
                m = min(b, n - start)
                if s.shuffle:
                    gather_rows(&X[0, 0], &order[start], &batch_X[0], m, n_in)
                    gather_rows(&y[0, 0], &order[start], &batch_y[0], m, n_out)
                    l0 = &batch_X[0]
                    targets = &batch_y[0]
                else:
                    l0 = &X[start, 0]
                    targets = &y[start, 0]
                forward_pass(net, l0, &params[0], layers.data(), slopes_or_null, deltas[L], m,
                             s, first_row + start)
                output_delta(net.output, targets, layers[L], deltas[L], m, n_out,
                             &abs_sum, &loss_sum)
                abs_total += abs_sum
                loss_total += loss_sum
                if s.clip > 0:
                    clip_all(deltas[L], m * n_out, <floating>s.clip)
                backward_pass(net, s, l0, &params[0], &velocity[0], layers.data(),
                              deltas.data(), slopes_or_null, &step[0], m)
                start += m
                if start < n and watch and clock.due() and signalled(t):
                    interrupted = True
                    break
            if interrupted:
                copy_all(&saved[0], &params[0], size)
                break
            history[e, 0] = loss_total / n
            history[e, 1] = abs_total / (n * n_out)
            finite = isfinite(loss_total) and isfinite(abs_total)
            if n_val > 0:
                forward_pass(net, &X_val[0, 0], &params[0], val_layers.data(), NULL,
                             &val_delta[0], n_val, s, 0)
                output_delta(net.output, &y_val[0, 0], val_layers[L], &val_delta[0], n_val,
                             n_out, &abs_sum, &loss_sum)
                history[e, 2] = loss_sum / n_val
                history[e, 3] = abs_sum / (n_val * n_out)
                finite = finite and isfinite(loss_sum) and isfinite(abs_sum)
            if not (finite and all_finite(&params[0], size)):
                copy_all(&saved[0], &params[0], size)  # diverged: the last finite epoch
                break
            t.epoch += 1
            completed += 1
            if watch and clock.due() and signalled(t):
                break
    return completed


cdef Py_ssize_t run_small_epochs(Trainer t, floating[::1] params, Py_ssize_t epochs,
                                 double[:, ::1] history, bint watch) except -1:
    """run_epochs on the small networks' road: a whole batch per epoch, on padded weights,
    written back to ``params`` (and the velocity) however the run ends. Each epoch writes
    its weights into the other of two buffers, so the one it read is its snapshot."""
    cdef const Net* net = &t.net
    cdef const Settings* s = &t.s
    cdef const floating[:, ::1] X = t.X
    cdef const floating[:, ::1] y = t.y
    cdef floating[::1] padded = t.padded, saved = t.saved
    cdef floating[::1] velocity = t.velocity, padded_velocity = t.padded_velocity
    cdef floating[::1] layer_buffer = t.layers, delta_buffer = t.deltas
    cdef const Py_ssize_t[::1] padded_offsets = t.padded_offsets
    cdef const Py_ssize_t[::1] transposed_offsets = t.transposed_offsets
    cdef Py_ssize_t n = X.shape[0], L = net.n_synapses, n_out = net.sizes[L]
    cdef Py_ssize_t size = padded.shape[0], lanes = t.lanes, i, e, completed = 0
    if padded_offsets.shape[0] != L + 1 or transposed_offsets.shape[0] != L:
        raise ValueError("the small networks' offsets do not match the network")
    # The rows of every synapse, then the columns of every synapse but the first, exactly:
    # each epoch writes all of the spare buffer, which is then checked for finite values.
    cdef Py_ssize_t needed = (transposed_offsets[L - 1] + net.sizes[L] * lanes if L > 1
                              else padded_offsets[L])
    if ((lanes != 4 and lanes != kMaxLanes) or size != needed or saved.shape[0] < size
            or layer_buffer.shape[0] < L * n * lanes or delta_buffer.shape[0] < L * n * lanes
            or y.shape[0] != n
            or (s.momentum != 0 and padded_velocity.shape[0] < size)):
        raise ValueError("the small networks' buffers do not match the network")
    cdef Plan[floating] plan
    plan.n_synapses = L
    plan.lanes = lanes
    plan.sizes = net.sizes
    plan.padded_offsets = &padded_offsets[0]
    plan.transposed_offsets = &transposed_offsets[0]
    plan.hidden = net.hidden
    plan.output = net.output
    plan.bias = net.bias
    plan.nesterov = s.nesterov
    plan.learning_rate = <floating>s.learning_rate
    plan.momentum = <floating>s.momentum
    plan.l2 = <floating>s.l2
    plan.clip = <floating>s.clip
    cdef vector[floating*] layers, deltas
    layers.assign(L + 1, NULL)
    deltas.assign(L + 1, NULL)
    for i in range(1, L + 1):
        layers[i] = &layer_buffer[(i - 1) * n * lanes]
        deltas[i] = &delta_buffer[(i - 1) * n * lanes]

    cdef double abs_sum, loss_sum
    cdef SignalClock clock
    cdef floating* weights = &padded[0]
    cdef floating* spare = &saved[0]
    with nogil:
        pad_all(plan, net.offsets, &params[0], weights)
        if s.momentum != 0:
            pad_all(plan, net.offsets, &velocity[0], &padded_velocity[0])
        for e in range(epochs):
            run_epoch(plan, &X[0, 0], &y[0, 0], n, weights, spare, &padded_velocity[0],
                      layers.data(), deltas.data(), &abs_sum, &loss_sum)
            history[e, 0] = loss_sum / n
            history[e, 1] = abs_sum / (n * n_out)
            if not (isfinite(loss_sum) and isfinite(abs_sum) and all_finite(spare, size)):
                break  # diverged: `weights` holds the last finite epoch
            weights, spare = spare, weights
            t.epoch += 1
            completed += 1
            if watch and clock.due() and signalled(t):
                break
        unpad_all(plan, net.offsets, weights, &params[0])
        if s.momentum != 0:
            unpad_all(plan, net.offsets, &padded_velocity[0], &velocity[0])
    return completed


def forward(const floating[:, ::1] X, const floating[::1] params, architecture,
            floating[:, ::1] out):
    """Write the network's output for the rows of ``X`` into ``out``."""
    cdef const Py_ssize_t[::1] sizes = np.ascontiguousarray(
        architecture.layer_sizes, dtype=np.intp)
    cdef const Py_ssize_t[::1] offsets = block_offsets(sizes, architecture.bias)
    cdef Net net = describe(architecture, sizes, offsets)
    cdef Py_ssize_t n = X.shape[0], L = net.n_synapses
    if n < 1 or X.shape[1] != sizes[0]:
        raise ValueError("X does not match the layer sizes")
    if out.shape[0] != n or out.shape[1] != sizes[L]:
        raise ValueError("out does not match X and the layer sizes")
    if params.shape[0] != offsets[L]:
        raise ValueError("params does not match the layer sizes")

    cdef Py_ssize_t i, hidden_units = 0
    for i in range(1, L):
        hidden_units += sizes[i]
    cdef floating[::1] hidden_buffer = workspace(
        np.float64 if floating is double else np.float32, n * hidden_units)
    cdef vector[floating*] layers
    point_into(hidden_buffer, sizes, n, 1, L, layers)
    layers[L] = &out[0, 0]
    with nogil:
        forward_pass(&net, &X[0, 0], &params[0], layers.data(), NULL, NULL, n, NULL, 0)


# The elementwise kernels' instruction set, and thin twins of them for testing against numpy.

def instruction_sets():
    """The instruction sets this CPU runs, of those the elementwise kernels are compiled for,
    narrowest first."""
    return [name for name, isa in INSTRUCTION_SETS.items() if isa <= best_isa()]


def instruction_set():
    """The instruction set the elementwise kernels use: the widest this CPU runs, unless
    :func:`use_instruction_set` chose another."""
    return next(name for name, isa in INSTRUCTION_SETS.items() if isa == current_isa)


def use_instruction_set(str name):
    """Run the elementwise kernels compiled for ``name``, one of :func:`instruction_sets`, for
    tests and benchmarks. Not thread-safe: no fit may be running."""
    if name not in INSTRUCTION_SETS:
        raise ValueError(f"unknown instruction set {name!r}")
    if not use_isa(INSTRUCTION_SETS[name]):
        raise ValueError(f"this CPU does not run {name}")


def set_small_road(bint enabled):
    """Whether fits of small networks (see ``SMALL_MAX_UNITS``) made from now on take their
    own road (the default, where the compiler built it) or the general loop, for tests and
    benchmarks. Not thread-safe: no fit may be starting."""
    global small_road
    small_road = enabled and kAvailable


def blas_crossover():
    """The number of multiply-adds from which a matrix product goes to BLAS."""
    return kernels.crossover


def set_blas_crossover(Py_ssize_t multiply_adds):
    """Send matrix products of at least ``multiply_adds`` multiply-adds to BLAS (0: all of
    them), for tests and benchmarks. Not thread-safe: no fit may be running."""
    if multiply_adds < 0:
        raise ValueError("multiply_adds must be at least 0")
    kernels.crossover = multiply_adds


cdef bint copy_to(const floating[::1] x, floating[::1] out) except -1:
    """out[:] = x, for a kernel to work on in place; whether there is anything to do."""
    cdef Py_ssize_t i
    if out.shape[0] != x.shape[0]:
        raise ValueError("x and out differ in length")
    for i in range(x.shape[0]):
        out[i] = x[i]
    return x.shape[0] > 0


def sigmoid(const floating[::1] x, floating[::1] out):
    """out = 1 / (1 + exp(-x)) elementwise."""
    if copy_to(x, out):
        with nogil:
            sigmoid_all(&out[0], out.shape[0])


def exp(const floating[::1] x, floating[::1] out):
    """out = exp(x) elementwise."""
    if copy_to(x, out):
        with nogil:
            exp_all(&out[0], out.shape[0])


def finite(const floating[::1] x):
    """Whether no element of ``x`` is NaN or infinite (the check of every epoch's weights)."""
    if x.shape[0] == 0:
        return True
    cdef bint result
    with nogil:
        result = all_finite(&x[0], x.shape[0])
    return result


def tanh(const floating[::1] x, floating[::1] out):
    """out = tanh(x) elementwise."""
    if copy_to(x, out):
        with nogil:
            tanh_all(&out[0], out.shape[0])
