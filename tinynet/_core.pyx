"""The compiled core: the blog's training loop over typed memoryviews.

A :class:`Trainer` holds one ``fit``'s plan (``tinynet._plan``: the road, the layout, the
BLAS and the instruction set, as a C++ ``Machine`` record) and its buffers (layer outputs,
deltas, the update step, momentum, shuffled batches), allocated once when it is made; each
:meth:`Trainer.run` then trains for a number of epochs inside one ``nogil`` block,
allocating nothing, and taking the GIL only to look for Ctrl-C every 20 ms (in the main
thread). An epoch that is interrupted, or that ends with a non-finite measure or weight, is
rolled back to the weights it started from.

The network's parameters live in one flat, C-contiguous vector whose layout
``tinynet._layout`` computes: synapse ``i`` is a block of ``layer_sizes[i]`` rows of
weights, plus one row of biases if the network has bias units, of ``layer_sizes[i + 1]``
columns, after the blocks before it. Networks the plan sends down the small networks' road
(``csrc/tinynet_road_small.hh``) train a whole epoch per call, on a copy of the weights with
every row padded, written back when the run ends; the results are the same as the general
loop's.

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
    Fit,
    Gemm,
    Machine,
    SignalClock,
    Sgd,
    all_finite,
    best_isa,
    clip_all,
    column_sums,
    copy_all,
    dgemm64_t,
    dgemm_t,
    drop_units,
    exp_all,
    forward_layer,
    gather_rows,
    hidden_delta,
    kAvailable,
    kBaseline,
    kDefaultCrossover,
    kLinear,
    kMaxLanes,
    kRelu,
    kSigmoid,
    kSoftmax,
    kTanh,
    kX86V3,
    kX86V4,
    output_delta,
    pad_all,
    random_order,
    run_epoch,
    sgemm64_t,
    sgemm_t,
    sigmoid_all,
    take_steps,
    tanh_all,
    transpose_dot,
    transpose_dot_update,
    unpad_all,
)

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

# The widest layer of a network that may take the small networks' road (tinynet._plan
# decides which fits do), and whether this compiler built it.
SMALL_MAX_UNITS = kMaxLanes
SMALL_ROAD_BUILT = bool(kAvailable)

# Matrix products of at least this many multiply-adds go to BLAS, unless a fit's plan says
# otherwise (csrc/tinynet_blas.hh).
DEFAULT_BLAS_CROSSOVER = kDefaultCrossover

# The ILP64 OpenBLAS numpy's wheel bundles, if found (tinynet._blas); scipy's is always there.
NUMPY_GEMM = numpy_gemm()


def blas_libraries():
    """The BLAS libraries the matrix products can go to, first the one they go to by default:
    ``"numpy"`` (the ILP64 OpenBLAS numpy's wheel bundles), if found, and ``"scipy"``
    (``scipy.linalg.cython_blas``)."""
    return (["numpy"] if NUMPY_GEMM is not None else []) + ["scipy"]


def instruction_sets():
    """The instruction sets this CPU runs, of those the elementwise kernels are compiled for,
    narrowest first."""
    return [name for name, isa in INSTRUCTION_SETS.items() if isa <= best_isa()]


def blas_library():
    """Which of :func:`blas_libraries` a fit started here sends its products to (the default,
    unless ``tinynet._plan.forced`` chose another)."""
    from tinynet._plan import choices
    return choices().blas_library


def instruction_set():
    """The instruction set of a fit started here: the widest this CPU runs, unless
    ``tinynet._plan.forced`` chose another."""
    from tinynet._plan import choices
    return choices().instruction_set


def blas_crossover():
    """The number of multiply-adds from which a fit started here sends a product to BLAS."""
    from tinynet._plan import choices
    return choices().blas_crossover


cdef Machine machine_for(choices) except *:
    """The Machine record of a plan's choices (see tinynet._plan.Choices)."""
    cdef Machine m
    isa = INSTRUCTION_SETS[choices.instruction_set]
    if isa > best_isa():  # the kernels would fault
        raise ValueError(f"this CPU does not run {choices.instruction_set}")
    m.use_isa(isa)
    m.gemm.dgemm = <dgemm_t>scipy_dgemm
    m.gemm.sgemm = <sgemm_t>scipy_sgemm
    if choices.blas_library == "numpy":
        if NUMPY_GEMM is None:
            raise ValueError("numpy's BLAS was not found")
        m.gemm.dgemm64 = <dgemm64_t><size_t>NUMPY_GEMM.dgemm
        m.gemm.sgemm64 = <sgemm64_t><size_t>NUMPY_GEMM.sgemm
    elif choices.blas_library != "scipy":
        raise ValueError(f"unknown BLAS library {choices.blas_library!r}")
    if choices.blas_crossover < 0:
        raise ValueError("blas_crossover must be at least 0")
    m.gemm.crossover = choices.blas_crossover
    return m


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


cdef inline void forward_pass(const Machine* m, const Net* net, const floating* l0,
                              const floating* params, floating** layers, floating** slopes,
                              floating* log_out, Py_ssize_t n, const Settings* s,
                              uint64_t first_row) noexcept nogil:
    """layers[i + 1] = f(layers[i] . syn_i + bias_i) for each synapse, layers[0] being l0.

    With ``slopes`` (not NULL), the hidden layers are dropped out as the settings ``s``
    say, rows counted from ``first_row``, and ``slopes[i]`` receives layer i's slopes.
    ``log_out`` (or NULL) receives the log-probabilities of a softmax output.
    """
    cdef Py_ssize_t i, k, j, unit = 0, last = net.n_synapses - 1
    cdef const floating* l_prev = l0
    cdef const floating* syn
    for i in range(net.n_synapses):
        k = net.sizes[i]
        j = net.sizes[i + 1]
        syn = params + net.offsets[i]
        forward_layer(m[0], net.output if i == last else net.hidden, l_prev, syn,
                      syn + k * j if net.bias else NULL, layers[i + 1],
                      log_out if i == last else NULL, n, k, j)
        if slopes != NULL and i < last:
            drop_units(net.hidden, layers[i + 1], slopes[i + 1], n, j, s.dropout_key,
                       first_row, s.hidden_units, unit, s.dropout, <floating>s.dropout_scale)
            unit += j
        l_prev = layers[i + 1]


cdef inline void backward_pass(const Machine* m, const Net* net, const Settings* s,
                               const Sgd[floating]* rule, const floating* l0, floating* params,
                               floating* velocity, floating** layers, floating** deltas,
                               floating** slopes, floating* step, Py_ssize_t n) noexcept nogil:
    """Update every synapse from the output down, given the output delta in deltas[-1].

    Each synapse first sends the delta back to the layer below it, then takes its step
    ``layers[i].T . deltas[i + 1]`` (and its biases the column sums of the delta) by the
    fit's update rule (csrc/tinynet_optimizer.hh): the blog's order, in which every delta is
    computed with the weights of the forward pass.
    """
    # Local copies: the compiler cannot tell that the weight updates leave them alone.
    cdef floating clip = <floating>s.clip
    cdef bint bias = net.bias, momentum = s.momentum != 0
    cdef bint blog = s.l2 == 0 and not momentum and not bias
    cdef Activation hidden = net.hidden
    cdef Py_ssize_t i, k, j
    cdef floating* syn
    cdef floating* syn_velocity = NULL
    cdef const floating* l_prev
    for i in range(net.n_synapses - 1, -1, -1):
        k = net.sizes[i]
        j = net.sizes[i + 1]
        syn = params + net.offsets[i]
        if i > 0:
            hidden_delta(m[0], hidden, deltas[i + 1], syn, layers[i],
                         slopes[i] if slopes != NULL else NULL, deltas[i], n, k, j)
            if clip > 0:
                clip_all(deltas[i], n * k, clip)
            l_prev = layers[i]
        else:
            l_prev = l0
        if blog:
            # The blog's update, fused into the product (one gemm through BLAS).
            transpose_dot_update(m[0], l_prev, deltas[i + 1], syn, step, n, k, j,
                                 rule.learning_rate)
            continue
        if momentum:
            syn_velocity = velocity + net.offsets[i]
        transpose_dot(m[0], l_prev, deltas[i + 1], step, n, k, j)
        take_steps(rule[0], syn, syn_velocity, step, k * j, True)
        if bias:
            column_sums(deltas[i + 1], step, n, j)
            take_steps(rule[0], syn + k * j, syn_velocity + k * j if momentum else NULL, step,
                       j, False)


cdef const Py_ssize_t[::1] checked_offsets(const Py_ssize_t[::1] layer_sizes,
                                           offsets, bint bias):
    """A copy of ``offsets`` (a plan's, from tinynet._layout), checked against the layer
    sizes: the loops index the parameter vector with them."""
    cdef const Py_ssize_t[::1] checked = np.array(offsets, dtype=np.intp, copy=True)
    cdef Py_ssize_t i, n_synapses = layer_sizes.shape[0] - 1
    if n_synapses < 1 or checked.shape[0] != n_synapses + 1 or checked[0] != 0:
        raise ValueError("the offsets do not match the layer sizes")
    for i in range(n_synapses):
        if layer_sizes[i] < 1 or layer_sizes[i + 1] < 1:
            raise ValueError("every layer size must be positive")
        if checked[i + 1] - checked[i] != (layer_sizes[i] + bias) * layer_sizes[i + 1]:
            raise ValueError("the offsets do not match the layer sizes")
    return checked


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
    twin of :class:`tinynet.reference.Trainer`, with the same arguments. It makes the fit's
    plan (:func:`tinynet._plan.make_plan`) and keeps it; every buffer is allocated here,
    once; each :meth:`run` only lists pointers into them (one small vector per kind of
    buffer) and then allocates nothing, whatever the number of epochs.
    """

    cdef readonly object X, y, params, X_val, y_val, plan
    cdef object layer_sizes, offsets, velocity, layers, deltas, slopes, step
    cdef object batch_X, batch_y, order, sort_keys, val_layers, val_delta, saved
    cdef object padded, padded_velocity, padded_offsets, transposed_offsets  # small road
    cdef object pending  # what a signal handler raised during run, to raise after it
    cdef Net net
    cdef Settings s
    cdef Machine machine
    cdef readonly Py_ssize_t epoch

    def __init__(self, X, y, params, architecture, training, validation=None):
        from tinynet._plan import make_plan

        cdef Py_ssize_t n = X.shape[0], units, hidden_units, n_in, n_out, b
        cdef Settings* s = &self.s
        self.plan = make_plan(architecture, training, n, validation is not None)
        self.machine = machine_for(self.plan.machine)
        self.layer_sizes = np.ascontiguousarray(architecture.layer_sizes, dtype=np.intp)
        self.offsets = checked_offsets(self.layer_sizes, self.plan.offsets, architecture.bias)
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
        if self.small:
            self.padded_offsets = np.array(self.plan.padded_offsets, dtype=np.intp, copy=True)
            self.transposed_offsets = np.array(
                self.plan.transposed_offsets, dtype=np.intp, copy=True)
            check_small_layout(self.plan, self.layer_sizes, architecture.bias,
                               self.padded_offsets, self.transposed_offsets, b, n)
            # Every row padded to the plan's lanes; the deltas' padding must start, and
            # stays, zero.
            units = last * self.plan.lanes
            self.padded = workspace(dtype, self.plan.padded_size)
            self.padded_velocity = np.zeros(
                self.plan.padded_size if s.momentum != 0 else 1, dtype=dtype)
        self.layers = workspace(dtype, b * units)
        self.deltas = np.zeros(max(b * units, 1), dtype=dtype)
        self.slopes = workspace(dtype, b * hidden_units if s.dropout > 0 else 0)
        self.step = workspace(dtype, int(np.max(np.diff(self.offsets))))
        self.velocity = np.zeros_like(params) if s.momentum != 0 else workspace(dtype, 0)
        # On the small road each epoch writes its weights into `saved` or `padded` in turn,
        # all of it (see run_small_epochs).
        self.saved = workspace(dtype, self.plan.padded_size if self.small else params.shape[0])
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

    @property
    def small(self):
        """Whether :meth:`run` takes the small networks' road."""
        return self.plan.lanes > 0

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
    cdef const Machine* m = &t.machine
    cdef const Net* net = &t.net
    cdef const Settings* s = &t.s
    cdef Sgd[floating] rule
    rule.learning_rate = <floating>s.learning_rate
    rule.momentum = <floating>s.momentum
    rule.l2 = <floating>s.l2
    rule.nesterov = s.nesterov
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
    # A softmax output writes its log-probabilities into the output delta's buffer, which
    # output_delta reads (for the cross-entropy) and then overwrites with the delta.
    cdef floating* log_probabilities = deltas[L]
    if t.X_val is not None:
        X_val = t.X_val
        y_val = t.y_val
        n_val = X_val.shape[0]
        point_into(val_layer_buffer, sizes, n_val, 1, L + 1, val_layers)

    cdef Py_ssize_t e, start, batch
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
                batch = min(b, n - start)
                if s.shuffle:
                    gather_rows(&X[0, 0], &order[start], &batch_X[0], batch, n_in)
                    gather_rows(&y[0, 0], &order[start], &batch_y[0], batch, n_out)
                    l0 = &batch_X[0]
                    targets = &batch_y[0]
                else:
                    l0 = &X[start, 0]
                    targets = &y[start, 0]
                forward_pass(m, net, l0, &params[0], layers.data(), slopes_or_null,
                             log_probabilities, batch, s, first_row + start)
                output_delta(net.output, targets, layers[L], deltas[L], batch, n_out,
                             &abs_sum, &loss_sum)
                abs_total += abs_sum
                loss_total += loss_sum
                if s.clip > 0:
                    clip_all(deltas[L], batch * n_out, <floating>s.clip)
                backward_pass(m, net, s, &rule, l0, &params[0], &velocity[0], layers.data(),
                              deltas.data(), slopes_or_null, &step[0], batch)
                start += batch
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
                forward_pass(m, net, &X_val[0, 0], &params[0], val_layers.data(), NULL,
                             &val_delta[0], n_val, s, 0)
                output_delta(net.output, &y_val[0, 0], val_layers[L], &val_delta[0], n_val,
                             n_out, &abs_sum, &loss_sum)
                history[e, 2] = loss_sum / n_val
                history[e, 3] = abs_sum / (n_val * n_out)
                finite = finite and isfinite(loss_sum) and isfinite(abs_sum)
            if not (finite and all_finite(m[0], &params[0], size)):
                copy_all(&saved[0], &params[0], size)  # diverged: the last finite epoch
                break
            t.epoch += 1
            completed += 1
            if watch and clock.due() and signalled(t):
                break
    return completed


cdef check_small_layout(plan, const Py_ssize_t[::1] sizes, bint bias,
                        const Py_ssize_t[::1] padded_offsets,
                        const Py_ssize_t[::1] transposed_offsets, Py_ssize_t batch_size,
                        Py_ssize_t n):
    """Check a small-road plan's layout (copied into ``padded_offsets`` and
    ``transposed_offsets``) against the network before its buffers are made from it: the
    road's kernels index the padded weights with those offsets. The blocks must lie end to
    end: every synapse's rows (weights, then biases), then the columns of every synapse but
    the first, exactly filling ``padded_size``, which each epoch writes all of."""
    cdef Py_ssize_t L = sizes.shape[0] - 1, lanes = plan.lanes, i, at = 0
    if (lanes != 4 and lanes != kMaxLanes) or batch_size != n:
        raise ValueError("the small networks' road takes full batches, 4 or 8 lanes wide")
    if padded_offsets.shape[0] != L + 1 or transposed_offsets.shape[0] != L:
        raise ValueError("the small networks' offsets do not match the network")
    for i in range(L + 1):
        if sizes[i] > lanes or padded_offsets[i] != at:
            raise ValueError("the small networks' rows do not match the network")
        if i < L:
            at += (sizes[i] + bias) * lanes
    if transposed_offsets[0] != at:  # not read, but laid out as the rest
        raise ValueError("the small networks' columns do not match the network")
    for i in range(1, L):
        if transposed_offsets[i] != at:
            raise ValueError("the small networks' columns do not match the network")
        at += sizes[i + 1] * lanes
    if plan.padded_size != at:
        raise ValueError("the small networks' layout does not match the network")


cdef Py_ssize_t run_small_epochs(Trainer t, floating[::1] params, Py_ssize_t epochs,
                                 double[:, ::1] history, bint watch) except -1:
    """run_epochs on the small networks' road: a whole batch per epoch, on padded weights,
    written back to ``params`` (and the velocity) however the run ends. Each epoch writes
    its weights into the other of two buffers, so the one it read is its snapshot. The
    buffers were made from the plan, checked by check_small_layout."""
    cdef const Machine* m = &t.machine
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
    cdef Py_ssize_t size = padded.shape[0], lanes = t.plan.lanes, i, e, completed = 0
    cdef Fit[floating] fit
    fit.n_synapses = L
    fit.lanes = lanes
    fit.sizes = net.sizes
    fit.padded_offsets = &padded_offsets[0]
    fit.transposed_offsets = &transposed_offsets[0]
    fit.hidden = net.hidden
    fit.output = net.output
    fit.bias = net.bias
    fit.rule.learning_rate = <floating>s.learning_rate
    fit.rule.momentum = <floating>s.momentum
    fit.rule.l2 = <floating>s.l2
    fit.rule.nesterov = s.nesterov
    fit.clip = <floating>s.clip
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
        pad_all(fit, net.offsets, &params[0], weights)
        if s.momentum != 0:
            pad_all(fit, net.offsets, &velocity[0], &padded_velocity[0])
        for e in range(epochs):
            run_epoch(m.isa, fit, &X[0, 0], &y[0, 0], n, weights, spare, &padded_velocity[0],
                      layers.data(), deltas.data(), &abs_sum, &loss_sum)
            history[e, 0] = loss_sum / n
            history[e, 1] = abs_sum / (n * n_out)
            if not (isfinite(loss_sum) and isfinite(abs_sum) and all_finite(m[0], spare, size)):
                break  # diverged: `weights` holds the last finite epoch
            weights, spare = spare, weights
            t.epoch += 1
            completed += 1
            if watch and clock.due() and signalled(t):
                break
        unpad_all(fit, net.offsets, weights, &params[0])
        if s.momentum != 0:
            unpad_all(fit, net.offsets, &padded_velocity[0], &velocity[0])
    return completed


def forward(const floating[:, ::1] X, const floating[::1] params, architecture,
            floating[:, ::1] out):
    """Write the network's output for the rows of ``X`` into ``out``."""
    from tinynet._plan import forward_plan

    plan = forward_plan(architecture)
    cdef Machine m = machine_for(plan.machine)
    cdef const Py_ssize_t[::1] sizes = np.ascontiguousarray(
        architecture.layer_sizes, dtype=np.intp)
    cdef const Py_ssize_t[::1] offsets = checked_offsets(sizes, plan.offsets, architecture.bias)
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
        forward_pass(&m, &net, &X[0, 0], &params[0], layers.data(), NULL, NULL, n, NULL, 0)


# Thin twins of the elementwise kernels, for testing them against numpy, in the instruction
# set a fit started here would use.

cdef Machine current_machine() except *:
    from tinynet._plan import choices
    return machine_for(choices())


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
    cdef Machine m = current_machine()
    if copy_to(x, out):
        with nogil:
            sigmoid_all(m, &out[0], out.shape[0])


def exp(const floating[::1] x, floating[::1] out):
    """out = exp(x) elementwise."""
    cdef Machine m = current_machine()
    if copy_to(x, out):
        with nogil:
            exp_all(m, &out[0], out.shape[0])


def finite(const floating[::1] x):
    """Whether no element of ``x`` is NaN or infinite (the check of every epoch's weights)."""
    cdef Machine m = current_machine()
    if x.shape[0] == 0:
        return True
    cdef bint result
    with nogil:
        result = all_finite(m, &x[0], x.shape[0])
    return result


def tanh(const floating[::1] x, floating[::1] out):
    """out = tanh(x) elementwise."""
    cdef Machine m = current_machine()
    if copy_to(x, out):
        with nogil:
            tanh_all(m, &out[0], out.shape[0])
