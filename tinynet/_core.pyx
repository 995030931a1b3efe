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
    BatchHelper,
    set_helper_mode,
    Fit,
    Gemm,
    Group,
    Machine,
    Optimizer,
    OptimizerKind,
    SignalClock,
    activate,
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
    forward_linear,
    gather_rows,
    hidden_delta,
    kAdam,
    kAdamW,
    kAvailable,
    kBaseline,
    kDefaultCrossover,
    kLanes,
    kLinear,
    kLogistic,
    kMaxLanes,
    kPoisson,
    kRunPaused,
    kTinyRows,
    kRelu,
    kRmsProp,
    kSgd,
    kSigmoid,
    kSoftmax,
    kTanh,
    kX86V3,
    kX86V4,
    move_running,
    normalise_batch,
    normalise_batch_back,
    normalise_running,
    output_delta,
    pad_all,
    random_order,
    run_epoch,
    run_group,
    run_tiny,
    History,
    RunEnd,
    sgemm64_t,
    sgemm_t,
    sigmoid_all,
    squared_sum,
    take_steps,
    tanh_all,
    transpose_dot,
    transpose_dot_update,
    unpad_all,
    weighted_output_delta,
)

from scipy.linalg.cython_blas cimport dgemm as scipy_dgemm, sgemm as scipy_sgemm

ACTIVATIONS = {
    "sigmoid": kSigmoid, "tanh": kTanh, "relu": kRelu, "linear": kLinear, "softmax": kSoftmax,
    "logistic": kLogistic, "poisson": kPoisson,
}
# The update rules (tinynet._settings.TRAINER_OPTIMIZERS), by their codes in the kernels.
OPTIMIZERS = {"sgd": kSgd, "adam": kAdam, "adamw": kAdamW, "rmsprop": kRmsProp}

cdef extern from *:
    bint TINYNET_BOUNDS_CHECKED  # set by setup.py: TINYNET_DEBUG_BUILD=1

# Whether this build indexes memoryviews with bounds and wraparound checks.
BOUNDS_CHECKED = bool(TINYNET_BOUNDS_CHECKED)

# The instruction sets the kernels are compiled for, narrowest first (x86-64-v3 and v4 fuse
# multiply-adds, the baseline does not: see setup.py).
INSTRUCTION_SETS = {"baseline": kBaseline, "x86-64-v3": kX86V3, "x86-64-v4": kX86V4}

# The widest layer of a network that may take the small networks' road (tinynet._plan
# decides which fits do), and whether this compiler built it.
SMALL_MAX_UNITS = kMaxLanes
SMALL_ROAD_BUILT = bool(kAvailable)
# The most rows of a fit that may run whole (tinynet._plan.runs_whole).
TINY_ROWS = kTinyRows

# How many members of an ensemble train together across the lanes of a vector
# (train_members; where the small road is built).
MEMBER_LANES = kLanes

# Matrix products of at least this many multiply-adds go to BLAS, unless a fit's plan says
# otherwise (csrc/tinynet_blas.hh).
DEFAULT_BLAS_CROSSOVER = kDefaultCrossover

# The rates of a run without a schedule (see Trainer.run).
NO_RATES = np.zeros(0)

# The ILP64 OpenBLAS numpy's wheel bundles, if found (tinynet._blas); scipy's is always there.
NUMPY_GEMM = numpy_gemm()


def blas_libraries():
    """The BLAS libraries the matrix products can go to, first the one they go to by default:
    ``"numpy"`` (the ILP64 OpenBLAS numpy's wheel bundles), if found, and ``"scipy"``
    (``scipy.linalg.cython_blas``)."""
    return (["numpy"] if NUMPY_GEMM is not None else []) + ["scipy"]


def instruction_sets():
    """The instruction sets this CPU runs, of those the kernels are compiled for, narrowest
    first."""
    return [name for name, isa in INSTRUCTION_SETS.items() if isa <= best_isa()]


def shuffled_order(uint64_t key, uint64_t first, Py_ssize_t n):
    """The order in which a shuffled epoch visits ``n`` rows (``random_order``, in
    csrc/tinynet_random.hh), as an ``intp`` array: for the tests, against the numpy
    reference's ``tinynet._random.random_order``."""
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    order = np.zeros(2 * n if n > 0 else 1, dtype=np.intp)
    keys = np.zeros(2 * n if n > 0 else 1, dtype=np.uint64)
    cdef Py_ssize_t[::1] order_view = order
    cdef uint64_t[::1] keys_view = keys
    if n > 0:
        with nogil:
            random_order(key, first, &order_view[0], &keys_view[0], n)
    return order[:n].copy()


HELPER_MODES = ("adaptive", "fit", "helper")


def helper_mode(mode):
    """Who trains the second halves of split batches, process-wide: ``"adaptive"`` (the
    default: offered to the fit's helper thread, taken back or kept by the fit while the
    other core is busy), ``"fit"`` (every fit trains both halves itself) or ``"helper"``
    (the helper trains every half; the fit waits for it). Returns the previous mode. For
    tests: the numbers are the same in every mode."""
    if mode not in HELPER_MODES:
        raise ValueError(f"mode must be one of {HELPER_MODES}, got {mode!r}")
    return HELPER_MODES[set_helper_mode(HELPER_MODES.index(mode))]


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
    # Batch normalisation: hidden layer h's scales start at norms[h] in the parameter vector,
    # its shifts sizes[h] after them; its running mean at norms[h] - norms[1] in the
    # statistics vector, its running variance sizes[h] after that.
    bint batch_norm
    const Py_ssize_t* norms
    double norm_momentum, norm_epsilon


cdef struct Settings:
    # One fit's options, as the nogil loop reads them.
    double learning_rate, momentum, l2, dropout, dropout_scale, clip
    double beta_1, beta_2, epsilon, weight_decay, rho
    OptimizerKind optimizer
    bint nesterov, shuffle, epsilon_hat
    bint mean  # reduction "mean": each batch's gradient divided by the batch's weight
    Py_ssize_t batch_size, hidden_units
    uint64_t shuffle_key, dropout_key


cdef struct Norms:
    # A batch normalisation's buffers in training mode, as pointers per layer (void**: the
    # element type is the fit's), or all NULL in evaluation mode.
    void** xhats
    void** means
    void** variances
    void** inv_stds


cdef inline void forward_pass(const Machine* m, const Net* net, const floating* l0,
                              const floating* params, floating** layers, floating** slopes,
                              floating* log_out, Py_ssize_t n, const Settings* s,
                              uint64_t first_row, const Norms* norms,
                              floating* statistics) noexcept nogil:
    """layers[i + 1] = f(layers[i] . syn_i + bias_i) for each synapse, layers[0] being l0.

    With ``slopes`` (not NULL), the hidden layers are dropped out as the settings ``s``
    say, rows counted from ``first_row``, and ``slopes[i]`` receives layer i's slopes.
    ``log_out`` (or NULL) receives the log-probabilities of a softmax output, or the input
    (the log of the output) of a poisson one. With batch normalisation, each hidden layer's
    pre-activation is normalised over the batch if ``norms.xhats`` is set (training; the
    running ``statistics`` are then moved, unless NULL), else with the running
    ``statistics``.
    """
    cdef Py_ssize_t i, k, j, unit = 0, last = net.n_synapses - 1
    cdef const floating* l_prev = l0
    cdef const floating* syn
    cdef const floating* scale
    cdef floating* running
    for i in range(net.n_synapses):
        k = net.sizes[i]
        j = net.sizes[i + 1]
        syn = params + net.offsets[i]
        if net.batch_norm and i < last:
            scale = params + net.norms[i + 1]
            running = statistics + (net.norms[i + 1] - net.norms[1]) if statistics else NULL
            forward_linear(m[0], l_prev, syn, syn + k * j if net.bias else NULL, layers[i + 1],
                           n, k, j)
            if norms.xhats != NULL:
                normalise_batch(m[0], layers[i + 1], <floating*>norms.xhats[i + 1], scale,
                                scale + j, <floating*>norms.means[i + 1],
                                <floating*>norms.variances[i + 1],
                                <floating*>norms.inv_stds[i + 1], n, j, net.norm_epsilon)
                if running != NULL:
                    move_running(m[0], running, running + j,
                                 <const floating*>norms.means[i + 1],
                                 <const floating*>norms.variances[i + 1], j,
                                 <floating>net.norm_momentum)
            else:
                normalise_running(m[0], layers[i + 1], scale, scale + j, running, running + j, n,
                                  j, net.norm_epsilon)
            activate(m[0], net.hidden, layers[i + 1], <floating*>NULL, n, j)
        else:
            forward_layer(m[0], net.output if i == last else net.hidden, l_prev, syn,
                          syn + k * j if net.bias else NULL, layers[i + 1],
                          log_out if i == last else NULL, n, k, j)
        if slopes != NULL and i < last:
            drop_units(m[0], net.hidden, layers[i + 1], slopes[i + 1], n, j, s.dropout_key,
                       first_row, s.hidden_units, unit, s.dropout, <floating>s.dropout_scale)
            unit += j
        l_prev = layers[i + 1]


cdef inline void backward_pass(const Machine* m, const Net* net, const Settings* s,
                               const Optimizer[floating]* opt, const floating* l0,
                               floating* params, floating* slot_a, floating* slot_b,
                               floating** layers, floating** deltas, floating** slopes,
                               floating* step, Py_ssize_t n, const Norms* norms) noexcept nogil:
    """Update every synapse from the output down, given the output delta in deltas[-1].

    Each synapse first sends the delta back to the layer below it (and through that layer's
    batch normalisation, whose scales and shifts then take their steps), then takes its step
    ``layers[i].T . deltas[i + 1]`` (and its biases the column sums of the delta) by the
    fit's update rule (csrc/tinynet_optimizer.hh), with the state in ``slot_a`` and
    ``slot_b``: the blog's order, in which every delta is computed with the weights of the
    forward pass.
    """
    # Local copies: the compiler cannot tell that the weight updates leave them alone.
    cdef floating clip = <floating>s.clip
    cdef bint bias = net.bias
    cdef bint blog = (s.optimizer == kSgd and s.l2 == 0 and s.momentum == 0 and not bias)
    cdef Activation hidden = net.hidden
    cdef Py_ssize_t i, k, j, at
    cdef floating* syn
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
            if net.batch_norm:
                at = net.norms[i]
                normalise_batch_back(m[0], deltas[i], <const floating*>norms.xhats[i],
                                     params + at, <const floating*>norms.inv_stds[i], step,
                                     step + k, n, k)
                take_steps(m.isa, opt[0], params + at, slot(slot_a, at), slot(slot_b, at), step,
                           2 * k, False)
            l_prev = layers[i]
        else:
            l_prev = l0
        if blog:
            # The blog's update, fused into the product (one gemm through BLAS).
            transpose_dot_update(m[0], l_prev, deltas[i + 1], syn, step, n, k, j,
                                 opt.sgd.learning_rate)
            continue
        at = net.offsets[i]
        transpose_dot(m[0], l_prev, deltas[i + 1], step, n, k, j)
        take_steps(m.isa, opt[0], syn, slot(slot_a, at), slot(slot_b, at), step, k * j, True)
        if bias:
            column_sums(deltas[i + 1], step, n, j)
            take_steps(m.isa, opt[0], syn + k * j, slot(slot_a, at + k * j),
                       slot(slot_b, at + k * j), step, j, False)


cdef struct HalfBatch:
    # The second half of a batch's rows, as the batch helper (csrc/tinynet_helper.hh) trains
    # it: pointers into the fit's buffers at the half's first row (void: the element type is
    # the fit's), its part of every synapse's step, laid out as the parameters, in `steps`.
    const Machine* m
    const Net* net
    const Settings* s
    const void* l0
    const void* targets
    const void* row_weights  # or NULL
    const void* params
    void** layers
    void** deltas
    void* log_out
    void* steps
    Py_ssize_t rows
    double abs_sum
    double loss_sum
    BatchHelper* helper


cdef void half_batch(HalfBatch* h, floating* element_type) noexcept nogil:
    """The helper's half: forward pass, output delta (with its sums, into ``h``), clipping,
    then, from the output down, each synapse's hidden delta and its part of the synapse's
    step, announced to the fit as it is ready (the fit then updates that synapse; every
    hidden delta here reads the weights before it)."""
    cdef const Net* net = h.net
    cdef const Settings* s = h.s
    cdef Py_ssize_t L = net.n_synapses, n = h.rows, i
    cdef floating** layers = <floating**>h.layers
    cdef floating** deltas = <floating**>h.deltas
    cdef const floating* l0 = <const floating*>h.l0
    cdef const floating* params = <const floating*>h.params
    cdef floating* steps = <floating*>h.steps
    cdef Norms no_norms
    no_norms.xhats = no_norms.means = no_norms.variances = no_norms.inv_stds = NULL
    forward_pass(h.m, net, l0, params, layers, <floating**>NULL, <floating*>h.log_out, n, s, 0,
                 &no_norms, <floating*>NULL)
    if h.row_weights != NULL:
        weighted_output_delta(h.m[0], net.output, <const floating*>h.targets, layers[L],
                              deltas[L], <const floating*>h.row_weights, n, net.sizes[L],
                              &h.abs_sum, &h.loss_sum)
    else:
        output_delta(h.m[0], net.output, <const floating*>h.targets, layers[L], deltas[L], n,
                     net.sizes[L], &h.abs_sum, &h.loss_sum)
    if s.clip > 0:
        clip_all(deltas[L], n * net.sizes[L], <floating>s.clip)
    for i in range(L - 1, -1, -1):
        delta_and_step(h.m, net, i, l0, params, layers, deltas, n, <floating>s.clip,
                       steps + net.offsets[i])
        if h.helper != NULL:
            h.helper.layer_ready()


cdef void half_batch_double(void* context) noexcept nogil:
    half_batch[double](<HalfBatch*>context, NULL)


cdef void half_batch_float(void* context) noexcept nogil:
    half_batch[float](<HalfBatch*>context, NULL)


cdef inline void delta_and_step(const Machine* m, const Net* net, Py_ssize_t i,
                                const floating* l0, const floating* params, floating** layers,
                                floating** deltas, Py_ssize_t n, floating clip,
                                floating* step) noexcept nogil:
    """Synapse ``i``'s part of a split batch's backward pass over ``n`` rows: the delta of the
    layer below it (for i > 0, clipped if ``clip``), then its step, ``layers[i].T .
    deltas[i + 1]`` and the biases' column sums, into ``step`` (laid out as the synapse)."""
    cdef Py_ssize_t k = net.sizes[i], j = net.sizes[i + 1]
    cdef const floating* l_prev = l0
    if i > 0:
        hidden_delta(m[0], net.hidden, deltas[i + 1], params + net.offsets[i], layers[i],
                     <const floating*>NULL, deltas[i], n, k, j)
        if clip > 0:
            clip_all(deltas[i], n * k, clip)
        l_prev = layers[i]
    transpose_dot(m[0], l_prev, deltas[i + 1], step, n, k, j)
    if net.bias:
        column_sums(deltas[i + 1], step + k * j, n, j)


cdef inline void split_backward_pass(const Machine* m, const Net* net, const Settings* s,
                                     const Optimizer[floating]* opt, const floating* l0,
                                     floating* params, floating* slot_a, floating* slot_b,
                                     floating** layers, floating** deltas, floating* step,
                                     const floating* helper_steps, Py_ssize_t n,
                                     BatchHelper* helper) noexcept nogil:
    """backward_pass for the first ``n`` rows of a batch whose other rows the helper trains:
    each synapse's step is this half's plus the helper's (in that order), once the helper's
    is ready, then taken by the fit's update rule."""
    cdef Py_ssize_t i, k, j, at, q
    for i in range(net.n_synapses - 1, -1, -1):
        k = net.sizes[i]
        j = net.sizes[i + 1]
        at = net.offsets[i]
        delta_and_step(m, net, i, l0, params, layers, deltas, n, <floating>s.clip, step)
        if helper != NULL:
            helper.wait_layers(<int>(net.n_synapses - i))
        for q in range((k + net.bias) * j):
            step[q] = step[q] + helper_steps[at + q]
        take_steps(m.isa, opt[0], params + at, slot(slot_a, at), slot(slot_b, at), step, k * j,
                   True)
        if net.bias:
            take_steps(m.isa, opt[0], params + at + k * j, slot(slot_a, at + k * j),
                       slot(slot_b, at + k * j), step + k * j, j, False)


cdef inline floating* slot(floating* row, Py_ssize_t at) noexcept nogil:
    """Where parameter ``at``'s state starts in a slot's row, or NULL without slots."""
    return row + at if row != NULL else NULL


cdef inline double gradient_pass(const Machine* m, const Net* net, const floating* l0,
                                 const floating* params, floating** layers, floating** deltas,
                                 Py_ssize_t n, const Norms* norms, double l2,
                                 floating* gradient) noexcept nogil:
    """The gradient of the loss (not its negative), given the output delta in deltas[-1],
    into ``gradient``, laid out as the parameters: backward_pass's steps, negated, with
    ``l2 * w`` added for the weights; returns ``l2 / 2`` times the sum of their squares."""
    cdef Py_ssize_t i, k, j, at, q
    cdef double penalty = 0.0
    cdef floating* grad
    cdef const floating* syn
    cdef const floating* l_prev
    for i in range(net.n_synapses - 1, -1, -1):
        k = net.sizes[i]
        j = net.sizes[i + 1]
        at = net.offsets[i]
        syn = params + at
        grad = gradient + at
        if i > 0:
            hidden_delta(m[0], net.hidden, deltas[i + 1], syn, layers[i], <floating*>NULL,
                         deltas[i], n, k, j)
            if net.batch_norm:
                normalise_batch_back(m[0], deltas[i], <const floating*>norms.xhats[i],
                                     params + net.norms[i], <const floating*>norms.inv_stds[i],
                                     gradient + net.norms[i], gradient + net.norms[i] + k, n, k)
                for q in range(2 * k):
                    gradient[net.norms[i] + q] = -gradient[net.norms[i] + q]
        if i > 0:
            l_prev = layers[i]
        else:
            l_prev = l0
        transpose_dot(m[0], l_prev, deltas[i + 1], grad, n, k, j)
        for q in range(k * j):
            grad[q] = -grad[q] + <floating>l2 * syn[q]
            penalty += <double>syn[q] * <double>syn[q]
        if net.bias:
            column_sums(deltas[i + 1], grad + k * j, n, j)
            for q in range(j):
                grad[k * j + q] = -grad[k * j + q]
    return 0.5 * l2 * penalty


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


cdef const Py_ssize_t[::1] checked_norm_offsets(const Py_ssize_t[::1] layer_sizes,
                                                norm_offsets, Py_ssize_t start, bint bias):
    """A copy of a plan's batch-normalisation offsets (tinynet._layout), checked: the block
    starts at ``start``, each hidden layer's scales and shifts end to end."""
    cdef const Py_ssize_t[::1] checked = np.array(norm_offsets, dtype=np.intp, copy=True)
    cdef Py_ssize_t h, L = layer_sizes.shape[0] - 1, at = start
    if checked.shape[0] != L + 1 or checked[0] != start:
        raise ValueError("the batch normalisation's offsets do not match the layer sizes")
    for h in range(1, L):
        if checked[h] != at:
            raise ValueError("the batch normalisation's offsets do not match the layer sizes")
        at += 2 * layer_sizes[h]
    if checked[L] != at:
        raise ValueError("the batch normalisation's offsets do not match the layer sizes")
    return checked


cdef Net describe(architecture, const Py_ssize_t[::1] sizes, const Py_ssize_t[::1] offsets,
                  const Py_ssize_t[::1] norms):
    """The Net record of ``architecture`` (its sizes and offsets must stay alive)."""
    cdef Net net
    net.n_synapses = sizes.shape[0] - 1
    net.sizes = &sizes[0]
    net.offsets = &offsets[0]
    net.hidden = ACTIVATIONS[architecture.activation]
    net.output = ACTIVATIONS[architecture.output]
    net.bias = architecture.bias
    net.batch_norm = architecture.batch_norm
    net.norms = &norms[0]
    net.norm_momentum = architecture.batch_norm_momentum
    net.norm_epsilon = architecture.batch_norm_epsilon
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

    cdef readonly object X, y, params, X_val, y_val, plan, state
    cdef object layer_sizes, offsets, norm_offsets, layers, deltas, slopes, step
    cdef object batch_X, batch_y, batch_w, order, sort_keys, val_layers, val_delta
    cdef object sample_weight, saved, saved_slots, saved_statistics
    cdef object norm_rows, norm_units  # batch normalisation: xhat per row, statistics per unit
    cdef object padded, padded_velocity, padded_offsets, transposed_offsets  # small road
    cdef object pending  # what a signal handler raised during run, to raise after it
    cdef object helper_steps  # the batch helper's part of every step (split batches)
    cdef BatchHelper* helper  # NULL unless the plan splits each batch's rows over two threads
    cdef Net net
    cdef Settings s
    cdef Machine machine
    cdef double total_weight  # of the rows: their number, or the sum of the sample weights
    cdef readonly Py_ssize_t epoch, first_epoch
    cdef readonly long long updates

    def __init__(self, X, y, params, architecture, training, validation=None, *,
                 sample_weight=None, state=None, first_epoch=0):
        from tinynet._optimizers import N_SLOTS, fresh_state, fresh_statistics, keeps_state
        from tinynet._plan import make_plan

        cdef Py_ssize_t n = X.shape[0], units, hidden_units, n_in, n_out, b, rows
        cdef Settings* s = &self.s
        self.plan = make_plan(architecture, training, n, validation is not None,
                              sample_weight is not None)
        self.machine = machine_for(self.plan.machine)
        self.layer_sizes = np.ascontiguousarray(architecture.layer_sizes, dtype=np.intp)
        self.offsets = checked_offsets(self.layer_sizes, self.plan.offsets, architecture.bias)
        # (no negative indices: wraparound is off)
        cdef Py_ssize_t last = self.layer_sizes.shape[0] - 1
        self.norm_offsets = checked_norm_offsets(
            self.layer_sizes, self.plan.norm_offsets, self.offsets[last], architecture.bias)
        self.net = describe(architecture, self.layer_sizes, self.offsets, self.norm_offsets)
        n_in = self.layer_sizes[0]
        n_out = self.layer_sizes[last]
        sizes = [int(k) for k in architecture.layer_sizes]  # Python's ints: tiny arrays
        units = sum(sizes[1:])
        hidden_units = units - n_out
        cdef Py_ssize_t size = (
            self.norm_offsets[last] if architecture.batch_norm else self.offsets[last])
        if X.ndim != 2 or n < 1 or X.shape[1] != n_in or y.shape != (n, n_out):
            raise ValueError("X and y do not match the layer sizes")
        if params.shape != (size,) or X.dtype != params.dtype or y.dtype != X.dtype:
            raise ValueError("params does not match the layer sizes or the dtype of X")
        if not 1 <= training.batch_size <= n:
            raise ValueError("batch_size must be between 1 and the number of samples")
        dtype = params.dtype
        stateful = keeps_state(training)
        if state is None:
            state = fresh_state(size, dtype, fresh_statistics(
                self.layer_sizes, architecture.batch_norm, dtype), N_SLOTS if stateful else 0)
        # An update rule that keeps no state may be handed none (no slots).
        if (state.slots.shape not in ((N_SLOTS, size), (0, size)) or state.slots.dtype != dtype
                or (stateful and state.slots.shape[0] != N_SLOTS)
                or not state.slots.flags.c_contiguous
                or state.statistics.shape != (2 * hidden_units * architecture.batch_norm,)
                or state.statistics.dtype != dtype or state.updates < 0):
            raise ValueError("state does not match the network")
        if sample_weight is not None and (sample_weight.shape != (n,)
                                          or sample_weight.dtype != dtype):
            raise ValueError("sample_weight does not match X")
        if first_epoch < 0:
            raise ValueError("first_epoch must be at least 0")
        self.X, self.y, self.params, self.state = X, y, params, state
        self.sample_weight = sample_weight
        self.total_weight = n if sample_weight is None else float(np.sum(sample_weight,
                                                                          dtype=np.float64))
        self.epoch = 0
        self.first_epoch = first_epoch
        self.updates = state.updates
        self.pending = None

        s.learning_rate = training.learning_rate
        s.momentum = training.momentum
        s.nesterov = training.nesterov
        s.l2 = training.l2
        s.dropout = training.dropout
        s.dropout_scale = training.dropout_scale
        s.clip = training.clip
        s.batch_size = training.batch_size
        s.optimizer = OPTIMIZERS[training.optimizer]
        s.beta_1 = training.beta_1
        s.beta_2 = training.beta_2
        s.epsilon = training.epsilon
        s.weight_decay = training.weight_decay if training.optimizer == "adamw" else 0.0
        s.rho = training.rho
        s.epsilon_hat = training.epsilon_hat
        s.mean = training.reduction == "mean"
        # Shuffling a full batch would only reorder the sums of its gradient.
        s.shuffle = training.shuffle and training.batch_size < n
        s.shuffle_key = training.shuffle_key
        s.dropout_key = training.dropout_key
        s.hidden_units = hidden_units
        b = s.batch_size
        # With batch normalisation a last batch of one row joins the one before it.
        rows = b + 1 if architecture.batch_norm and b < n else b
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
            # The velocity, then the epoch's snapshot of it (for rollback).
            self.padded_velocity = np.zeros(
                2 * self.plan.padded_size if s.momentum != 0 else 1, dtype=dtype)
        self.layers = workspace(dtype, rows * units)
        self.deltas = np.zeros(max(rows * units, 1), dtype=dtype)
        self.slopes = workspace(dtype, rows * hidden_units if s.dropout > 0 else 0)
        self.step = workspace(dtype, max(
            max(int(self.offsets[i + 1] - self.offsets[i]) for i in range(last)),
            2 * max(sizes[1:last], default=0)))
        # The batch helper's part of every step, laid out as the parameters (the helper's
        # thread starts with the first epoch that needs it).
        self.helper_steps = workspace(dtype, size if self.plan.split else 0)
        self.norm_rows = workspace(dtype, rows * hidden_units if architecture.batch_norm else 0)
        self.norm_units = workspace(dtype, 3 * hidden_units if architecture.batch_norm else 0)
        # On the small road each epoch writes its weights into `saved` or `padded` in turn,
        # all of it (see run_small_epochs).
        self.saved = workspace(dtype, self.plan.padded_size if self.small else size)
        self.saved_slots = workspace(dtype, 2 * size if stateful and not self.small else 0)
        self.saved_statistics = workspace(dtype, state.statistics.shape[0])
        self.batch_X = workspace(dtype, rows * n_in if s.shuffle else 0)
        self.batch_y = workspace(dtype, rows * n_out if s.shuffle else 0)
        self.batch_w = workspace(dtype, rows if s.shuffle and sample_weight is not None else 0)
        # Twice the rows: random_order's radix sort passes between two halves.
        self.order = np.zeros(2 * n if s.shuffle else 1, dtype=np.intp)
        self.sort_keys = np.zeros(2 * n if s.shuffle else 1, dtype=np.uint64)
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

    def __dealloc__(self):
        del self.helper  # joins its thread (a no-op for NULL)

    @property
    def small(self):
        """Whether :meth:`run` takes the small networks' road."""
        return self.plan.lanes > 0

    def run(self, Py_ssize_t epochs, double[:, :] history, rates=None):
        """Train for up to ``epochs`` more epochs and return how many were completed.

        Epoch ``e`` of this run trains with learning rate ``rates[e]`` (None: the fit's
        ``learning_rate``). Row ``e`` of ``history`` receives its loss and mean absolute
        error (weighted means with sample weights), then (with validation data) the
        validation's, then (with reduction ``"mean"``, whose loss is scikit-learn's, see
        :class:`tinynet.reference.Trainer`) its L2 penalty, in columns 0 to 4 (columns the
        fit does not fill may be left out: rows of 2, 4 or 5), in any order of the array
        (a record laid out by measure gives each measure's history as one block). Training
        stops early, after
        rolling the weights and the training state back to where the epoch started, at the
        first epoch with a non-finite measure or weight (it diverged: fewer epochs are
        returned) or during which a signal handler raised (that exception is raised).
        :attr:`epoch` counts the epochs completed by every run; :attr:`updates`, and
        ``state.updates``, the updates taken.
        """
        # Columns 0 and 1 are always filled, 2 and 3 with validation data, 4 (the L2
        # penalty) with reduction "mean".
        cdef Py_ssize_t columns = 5 if self.s.mean else 4 if self.X_val is not None else 2
        if (epochs < 0 or history.shape[0] < epochs or history.shape[1] > 5
                or history.shape[1] < columns):
            raise ValueError(f"history needs one row of at least {columns} columns (at most "
                             "5) per epoch")
        # No rates: an empty array, and every epoch takes the fit's learning rate (nothing
        # allocated per call, which with callbacks is per epoch).
        cdef const double[::1] epoch_rates = (
            NO_RATES if rates is None else np.ascontiguousarray(rates, dtype=np.float64))
        if rates is not None and epoch_rates.shape[0] < epochs:
            raise ValueError("rates needs one learning rate per epoch")
        # Only the main thread handles signals.
        cdef bint watch = threading.current_thread() is threading.main_thread()
        try:
            if self.small and self.params.dtype == np.float64:
                done = run_small_epochs[double](self, self.params, epochs, history, epoch_rates,
                                                watch)
            elif self.small:
                done = run_small_epochs[float](self, self.params, epochs, history, epoch_rates,
                                               watch)
            elif self.params.dtype == np.float64:
                done = run_epochs[double](self, self.params, epochs, history, epoch_rates, watch)
            else:
                done = run_epochs[float](self, self.params, epochs, history, epoch_rates, watch)
        finally:
            self.state.updates = self.updates
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
                           double[:, :] history, const double[::1] rates,
                           bint watch) except -1:
    cdef const Machine* m = &t.machine
    cdef const Net* net = &t.net
    cdef const Settings* s = &t.s
    cdef Optimizer[floating] opt
    opt.kind = s.optimizer
    opt.sgd.momentum = <floating>s.momentum
    opt.sgd.l2 = <floating>s.l2
    opt.sgd.nesterov = s.nesterov
    opt.adam.beta_1 = <floating>s.beta_1
    opt.adam.beta_2 = <floating>s.beta_2
    opt.adam.epsilon = <floating>s.epsilon
    opt.adam.l2 = <floating>s.l2
    opt.adam.weight_decay = <floating>s.weight_decay
    opt.adam.epsilon_hat = s.epsilon_hat
    opt.rmsprop.rho = <floating>s.rho
    opt.rmsprop.epsilon = <floating>s.epsilon
    opt.rmsprop.momentum = <floating>s.momentum
    opt.rmsprop.l2 = <floating>s.l2
    cdef const floating[:, ::1] X = t.X
    cdef const floating[:, ::1] y = t.y
    cdef floating[::1] layer_buffer = t.layers, delta_buffer = t.deltas
    cdef floating[::1] step = t.step, slope_buffer = t.slopes
    cdef floating[:, ::1] slots = t.state.slots
    # The optimizer's two slots, or NULL for an update rule that keeps none.
    cdef floating* slot_a = &slots[0, 0] if slots.shape[0] > 0 else NULL
    cdef floating* slot_b = &slots[1, 0] if slots.shape[0] > 0 else NULL
    cdef floating[::1] statistics = t.state.statistics
    cdef floating[::1] saved_slots = t.saved_slots, saved_statistics = t.saved_statistics
    cdef floating[::1] batch_X = t.batch_X, batch_y = t.batch_y, batch_w = t.batch_w
    cdef floating[::1] val_layer_buffer = t.val_layers, val_delta = t.val_delta
    cdef floating[::1] norm_rows = t.norm_rows, norm_units = t.norm_units
    cdef Py_ssize_t[::1] order = t.order
    cdef uint64_t[::1] sort_keys = t.sort_keys
    cdef const Py_ssize_t[::1] sizes = t.layer_sizes
    cdef const floating[:, ::1] X_val
    cdef const floating[:, ::1] y_val
    cdef const floating[::1] weights
    cdef Py_ssize_t n = X.shape[0], b = s.batch_size, L = net.n_synapses
    cdef Py_ssize_t n_in = sizes[0], n_out = sizes[L], n_val = 0
    cdef Py_ssize_t n_stats = statistics.shape[0], n_slots = 2 * params.shape[0]
    cdef bint weighted = t.sample_weight is not None
    # Plain SGD keeps no state: nothing to snapshot or check.
    cdef bint stateful = s.optimizer != kSgd or s.momentum != 0
    if weighted:
        weights = t.sample_weight
    cdef bint merge = net.batch_norm and b < n  # a last batch of one row joins the one before
    cdef Py_ssize_t rows = b + 1 if merge else b
    cdef vector[floating*] layers, deltas, slopes, val_layers, xhats, means, variances, inv_stds
    point_into(layer_buffer, sizes, rows, 1, L + 1, layers)
    point_into(delta_buffer, sizes, rows, 1, L + 1, deltas)
    # Without dropout slope_buffer is a one-element placeholder: rows of 0 keep in bounds.
    point_into(slope_buffer, sizes, rows if s.dropout > 0 else 0, 1, L, slopes)
    cdef floating** slopes_or_null = slopes.data() if s.dropout > 0 else NULL
    # A softmax output writes its log-probabilities into the output delta's buffer (a poisson
    # output its input, the log of its output), which output_delta reads (for the loss) and
    # then overwrites with the delta.
    cdef floating* log_probabilities = deltas[L]
    cdef Norms training_norms, evaluation_norms
    evaluation_norms.xhats = evaluation_norms.means = NULL
    evaluation_norms.variances = evaluation_norms.inv_stds = NULL
    training_norms = evaluation_norms
    if net.batch_norm:
        point_into(norm_rows, sizes, rows, 1, L, xhats)
        point_into(norm_units, sizes, 1, 1, L, means)
        point_into(norm_units[s.hidden_units:], sizes, 1, 1, L, variances)
        point_into(norm_units[2 * s.hidden_units:], sizes, 1, 1, L, inv_stds)
        training_norms.xhats = <void**>xhats.data()
        training_norms.means = <void**>means.data()
        training_norms.variances = <void**>variances.data()
        training_norms.inv_stds = <void**>inv_stds.data()
    if t.X_val is not None:
        X_val = t.X_val
        y_val = t.y_val
        n_val = X_val.shape[0]
        point_into(val_layer_buffer, sizes, n_val, 1, L + 1, val_layers)

    cdef Py_ssize_t e, start, batch, i
    cdef uint64_t first_row
    cdef long long saved_updates
    cdef const floating* l0
    cdef const floating* targets
    cdef const floating* row_weights = NULL
    cdef double abs_sum, loss_sum, abs_total, loss_total
    # Reduction "mean": each batch's weight, its rows over it, and its L2 penalty (measured
    # only with an l2), summed for the history.
    cdef bint mean = s.mean, penalised = s.mean and s.l2 != 0
    cdef double batch_weight, factor = 1.0, penalty = 0.0, penalty_total
    cdef floating[::1] saved = t.saved
    cdef floating* stats = &statistics[0] if n_stats > 0 else NULL
    cdef Py_ssize_t size = params.shape[0], completed = 0
    cdef SignalClock clock
    cdef bint interrupted = False, finite
    # Split batches: the helper trains rows [own, batch) of each, into helper_steps.
    cdef bint split = t.plan.split
    cdef floating[::1] helper_steps = t.helper_steps
    cdef Py_ssize_t own
    cdef vector[floating*] half_layers, half_deltas
    if split:
        half_layers.assign(L + 1, NULL)
        half_deltas.assign(L + 1, NULL)
    cdef HalfBatch half
    half.m = m
    half.net = net
    half.s = s
    half.params = &params[0]
    half.layers = <void**>half_layers.data()
    half.deltas = <void**>half_deltas.data()
    half.steps = &helper_steps[0] if split else NULL
    cdef void (*half_work)(void*) noexcept nogil
    if floating is double:
        half_work = half_batch_double
    else:
        half_work = half_batch_float
    # The helper's thread, from the first call with two batches or more (the first batch
    # wakes it; a lone batch trains both halves here, with the same numbers).
    if split and t.helper == NULL and epochs * ((n + b - 1) // b) >= 2:
        t.helper = new BatchHelper()
    half.helper = t.helper
    with nogil:
        for e in range(epochs):
            copy_all(&params[0], &saved[0], size)
            if stateful:
                copy_all(slot_a, &saved_slots[0], n_slots)
            if n_stats > 0:
                copy_all(&statistics[0], &saved_statistics[0], n_stats)
            saved_updates = t.updates
            opt.set_learning_rate(<floating>(rates[e] if rates.shape[0] > 0
                                             else s.learning_rate))
            first_row = <uint64_t>(t.first_epoch + t.epoch) * <uint64_t>n
            if s.shuffle:
                random_order(s.shuffle_key, first_row, &order[0], &sort_keys[0], n)
            abs_total = loss_total = penalty_total = 0.0
            start = 0
            while start < n:
                batch = min(b, n - start)
                if merge and n - start - batch == 1:
                    batch += 1
                if s.shuffle:
                    gather_rows(&X[0, 0], &order[start], &batch_X[0], batch, n_in)
                    gather_rows(&y[0, 0], &order[start], &batch_y[0], batch, n_out)
                    l0 = &batch_X[0]
                    targets = &batch_y[0]
                    if weighted:
                        gather_rows(&weights[0], &order[start], &batch_w[0], batch, 1)
                        row_weights = &batch_w[0]
                else:
                    l0 = &X[start, 0]
                    targets = &y[start, 0]
                    if weighted:
                        row_weights = &weights[start]
                own = batch
                if split and batch >= 2:
                    own = (batch + 1) // 2
                    for i in range(1, L + 1):
                        half_layers[i] = layers[i] + own * sizes[i]
                        half_deltas[i] = deltas[i] + own * sizes[i]
                    half.l0 = l0 + own * n_in
                    half.targets = targets + own * n_out
                    half.row_weights = row_weights + own if weighted else NULL
                    half.log_out = log_probabilities + own * n_out
                    half.rows = batch - own
                    if t.helper != NULL:
                        t.helper.start(half_work, &half)
                    else:  # the same numbers, trained here first
                        half_work(&half)
                forward_pass(m, net, l0, &params[0], layers.data(), slopes_or_null,
                             log_probabilities, own, s, first_row + start, &training_norms,
                             stats)
                if weighted:
                    weighted_output_delta(m[0], net.output, targets, layers[L], deltas[L],
                                          row_weights, own, n_out, &abs_sum, &loss_sum)
                else:
                    output_delta(m[0], net.output, targets, layers[L], deltas[L], own, n_out,
                                 &abs_sum, &loss_sum)
                abs_total += abs_sum
                if mean:
                    batch_weight = (weight_sum(row_weights, batch) if weighted
                                    else <double>batch)
                    opt.set_batch_weight(batch_weight)
                    factor = batch / batch_weight if batch_weight > 0 else 0.0
                    if penalised:  # at the weights before this batch's update
                        penalty = 0.5 * s.l2 * squared_weights(m, net, &params[0])
                        penalty_total += factor * penalty
                    loss_total += factor * (loss_sum + penalty)
                else:
                    loss_total += loss_sum
                if s.clip > 0:
                    clip_all(deltas[L], own * n_out, <floating>s.clip)
                t.updates += 1
                opt.start(t.updates)
                if own < batch:
                    split_backward_pass(m, net, s, &opt, l0, &params[0], slot_a, slot_b,
                                        layers.data(), deltas.data(), &step[0],
                                        &helper_steps[0], own, t.helper)
                    if t.helper != NULL:
                        t.helper.wait()
                    # The helper's half of the measures, after this half's.
                    abs_total += half.abs_sum
                    loss_total += factor * half.loss_sum if mean else half.loss_sum
                else:
                    backward_pass(m, net, s, &opt, l0, &params[0], slot_a, slot_b,
                                  layers.data(), deltas.data(), slopes_or_null, &step[0], batch,
                                  &training_norms)
                start += batch
                if start < n and watch and clock.due() and signalled(t):
                    interrupted = True
                    break
            if interrupted:
                restore(params, slots, statistics, saved, saved_slots, saved_statistics,
                        stateful)
                t.updates = saved_updates
                break
            if mean:
                history[e, 0] = loss_total / n
                history[e, 4] = penalty_total / n
            else:
                history[e, 0] = loss_total / t.total_weight
            history[e, 1] = abs_total / (t.total_weight * n_out)
            finite = isfinite(loss_total) and isfinite(abs_total)
            if n_val > 0:
                forward_pass(m, net, &X_val[0, 0], &params[0], val_layers.data(), NULL,
                             &val_delta[0], n_val, s, 0, &evaluation_norms, stats)
                output_delta(m[0], net.output, &y_val[0, 0], val_layers[L], &val_delta[0], n_val,
                             n_out, &abs_sum, &loss_sum)
                history[e, 2] = loss_sum / n_val
                history[e, 3] = abs_sum / (n_val * n_out)
                finite = finite and isfinite(loss_sum) and isfinite(abs_sum)
            if not (finite and all_finite(m[0], &params[0], size)
                    and (not stateful or all_finite(m[0], slot_a, n_slots))
                    and (n_stats == 0 or all_finite(m[0], &statistics[0], n_stats))):
                # diverged: the last finite epoch
                restore(params, slots, statistics, saved, saved_slots, saved_statistics,
                        stateful)
                t.updates = saved_updates
                break
            t.epoch += 1
            completed += 1
            if watch and clock.due() and signalled(t):
                break
    return completed


cdef inline double weight_sum(const floating* weights, Py_ssize_t n) noexcept nogil:
    """The sum of ``n`` sample weights, in double, in order."""
    cdef double total = 0.0
    cdef Py_ssize_t r
    for r in range(n):
        total += weights[r]
    return total


cdef inline double squared_weights(const Machine* m, const Net* net,
                                   const floating* params) noexcept nogil:
    """The sum of the squared synapse weights (not the biases, scales or shifts), in double:
    what the L2 penalty is of."""
    cdef double total = 0.0
    cdef Py_ssize_t i
    for i in range(net.n_synapses):
        total += squared_sum(m[0], params + net.offsets[i], net.sizes[i] * net.sizes[i + 1])
    return total


cdef inline void restore(floating[::1] params, floating[:, ::1] slots, floating[::1] statistics,
                         const floating[::1] saved, const floating[::1] saved_slots,
                         const floating[::1] saved_statistics, bint stateful) noexcept nogil:
    """Roll an epoch back: the parameters and the training state as it started."""
    copy_all(&saved[0], &params[0], params.shape[0])
    if stateful:
        copy_all(&saved_slots[0], &slots[0, 0], slots.shape[0] * slots.shape[1])
    if statistics.shape[0] > 0:
        copy_all(&saved_statistics[0], &statistics[0], statistics.shape[0])


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
    if plan.whole_run and not (lanes == 4 and L == 2 and sizes[0] <= 4 and sizes[2] == 1
                               and n <= kTinyRows):
        raise ValueError("a whole run takes 4 lanes, one hidden layer, one output and at "
                         f"most {kTinyRows} rows")


cdef Py_ssize_t run_small_epochs(Trainer t, floating[::1] params, Py_ssize_t epochs,
                                 double[:, :] history, const double[::1] rates,
                                 bint watch) except -1:
    """run_epochs on the small networks' road: a whole batch per epoch, on padded weights,
    written back to ``params`` (and the velocity) however the run ends. Each epoch writes
    its weights into the other of two buffers, so the one it read is its snapshot; or, where
    the plan says so, a whole run in registers (csrc/tinynet_road_tiny.hh) with the same
    bits. The buffers were made from the plan, checked by check_small_layout."""
    cdef const Machine* m = &t.machine
    cdef const Net* net = &t.net
    cdef const Settings* s = &t.s
    cdef const floating[:, ::1] X = t.X
    cdef const floating[:, ::1] y = t.y
    cdef floating[::1] padded = t.padded, saved = t.saved
    cdef floating[:, ::1] slots = t.state.slots
    cdef floating* velocity = &slots[0, 0] if slots.shape[0] > 0 else NULL
    cdef floating[::1] padded_velocity = t.padded_velocity
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
    # With momentum, the velocity, then the epoch's snapshot of it.
    cdef floating* padded_v = &padded_velocity[0]
    cdef floating* saved_v = padded_v + size if s.momentum != 0 else padded_v
    # A whole run (tinynet._plan.runs_whole) has neither momentum nor clipping.
    cdef bint whole = t.plan.whole_run
    if whole and (s.momentum != 0 or s.clip != 0):
        raise ValueError("a whole run takes neither momentum nor clipping")
    cdef RunEnd end
    cdef Py_ssize_t taken
    cdef History written
    written.row_stride = history.strides[0] // sizeof(double)
    written.column_stride = history.strides[1] // sizeof(double)
    with nogil:
        pad_all(fit, net.offsets, &params[0], weights)
        if s.momentum != 0:
            pad_all(fit, net.offsets, velocity, padded_v)
        # A whole run keeps its weights in registers, and returns to look for signals when
        # the clock is due.
        while whole and completed < epochs:
            written.at = &history[completed, 0]
            end = run_tiny(m.isa, fit, &X[0, 0], &y[0, 0], n, weights, epochs - completed,
                           &rates[completed] if rates.shape[0] > 0 else NULL,
                           s.learning_rate, written, &clock if watch else NULL, &taken)
            completed += taken
            t.epoch += taken
            t.updates += taken
            if end != kRunPaused or signalled(t):
                break
        for e in range(0 if whole else epochs):
            fit.rule.learning_rate = <floating>(rates[e] if rates.shape[0] > 0
                                                else s.learning_rate)
            if s.momentum != 0:
                copy_all(padded_v, saved_v, size)
            run_epoch(m.isa, fit, &X[0, 0], &y[0, 0], n, weights, spare, padded_v,
                      layers.data(), deltas.data(), &abs_sum, &loss_sum)
            history[e, 0] = loss_sum / n
            history[e, 1] = abs_sum / (n * n_out)
            if not (isfinite(loss_sum) and isfinite(abs_sum) and all_finite(m[0], spare, size)
                    and (s.momentum == 0 or all_finite(m[0], padded_v, size))):
                # diverged: `weights` holds the last finite epoch, saved_v its velocity
                if s.momentum != 0:
                    copy_all(saved_v, padded_v, size)
                break
            weights, spare = spare, weights
            t.epoch += 1
            t.updates += 1
            completed += 1
            if watch and clock.due() and signalled(t):
                break
        unpad_all(fit, net.offsets, weights, &params[0])
        if s.momentum != 0:
            unpad_all(fit, net.offsets, padded_v, velocity)
    return completed


def train_members(const floating[:, ::1] X, const floating[:, ::1] y,
                  floating[:, ::1] params, floating[:, ::1] velocity, architecture,
                  const floating[::1] learning_rate, const floating[::1] momentum,
                  const floating[::1] l2, bint nesterov, double clip, Py_ssize_t epochs,
                  double[:, :, ::1] history, Py_ssize_t[::1] diverged):
    """Train a group of ``MEMBER_LANES`` networks of one small architecture together on the
    full batch ``X``, ``y`` for ``epochs`` epochs of SGD (csrc/tinynet_road_members.hh):
    member ``m`` is column ``m`` of ``params`` (rows laid out as a network's parameter
    vector) and of ``velocity``, with its own ``learning_rate[m]``, ``momentum[m]`` and
    ``l2[m]``; each ends exactly where its own fit on the small networks' road would.

    ``history[m, 0, e]`` and ``history[m, 1, e]`` receive member ``m``'s loss and mean
    absolute error of epoch ``e``. A member whose measures or weights turned non-finite
    gets ``diverged[m] = 1``: its column means nothing, the others trained on (its fit
    alone stops where it diverged). A signal handler that raises (Ctrl-C, in the main
    thread) stops the run: its exception propagates, the arrays half-trained.
    """
    from tinynet._layout import offsets as synapse_offsets
    from tinynet._plan import choices

    cdef Machine m = machine_for(choices())
    cdef const Py_ssize_t[::1] sizes = np.ascontiguousarray(architecture.layer_sizes,
                                                            dtype=np.intp)
    cdef Py_ssize_t L = sizes.shape[0] - 1, n = X.shape[0], i, done = 0, units = 0
    cdef const Py_ssize_t[::1] offsets = checked_offsets(
        sizes, np.asarray(synapse_offsets([int(k) for k in sizes], architecture.bias)),
        architecture.bias)
    if not kAvailable:
        raise ValueError("this build has no small networks' road")
    if (X.shape[1] != sizes[0] or y.shape[0] != n or y.shape[1] != sizes[L]
            or params.shape[0] != offsets[L] or params.shape[1] != kLanes
            or velocity.shape[0] != offsets[L] or velocity.shape[1] != kLanes
            or learning_rate.shape[0] != kLanes or momentum.shape[0] != kLanes
            or l2.shape[0] != kLanes or history.shape[0] != kLanes
            or history.shape[1] != 2 or history.shape[2] < epochs
            or diverged.shape[0] != kLanes or n < 1 or epochs < 0):
        raise ValueError("the group's arrays do not match its architecture")
    if architecture.output not in ("sigmoid", "linear") or architecture.batch_norm:
        raise ValueError("train_members takes sigmoid or linear outputs, no batch norm")
    for i in range(1, L + 1):
        units += sizes[i]
    # Each layer's rows are rows of lanes: n * kLanes rows of its units, as point_into lays
    # them out.
    dtype = np.asarray(params).dtype
    cdef floating[::1] layer_buffer = np.zeros(n * units * kLanes, dtype=dtype)
    cdef floating[::1] delta_buffer = np.zeros(n * units * kLanes, dtype=dtype)
    cdef vector[floating*] layers, deltas
    point_into(layer_buffer, sizes, n * kLanes, 1, L + 1, layers)
    point_into(delta_buffer, sizes, n * kLanes, 1, L + 1, deltas)
    cdef Group[floating] g
    g.n_synapses = L
    g.sizes = &sizes[0]
    g.offsets = &offsets[0]
    g.hidden = ACTIVATIONS[architecture.activation]
    g.output = ACTIVATIONS[architecture.output]
    g.bias = architecture.bias
    g.nesterov = nesterov
    g.clip = <floating>clip
    g.learning_rate = &learning_rate[0]
    g.momentum = &momentum[0]
    g.l2 = &l2[0]
    cdef SignalClock clock
    cdef bint watch = threading.current_thread() is threading.main_thread()
    cdef Py_ssize_t stride = history.shape[2]
    while done < epochs:
        with nogil:
            done += run_group(m.isa, g, &X[0, 0], &y[0, 0], n, &params[0, 0], &velocity[0, 0],
                              offsets[L], layers.data(), deltas.data(), epochs - done,
                              &history[0, 0, done], stride, &diverged[0], &clock)
        if watch:
            PyErr_CheckSignals()
    return done


cdef class Described:
    """A network as one call outside a fit sees it (a prediction, a gradient): the machine of
    its plan, and its Net record with the sizes and offsets it points into, kept alive here."""

    cdef const Py_ssize_t[::1] sizes
    cdef const Py_ssize_t[::1] offsets
    cdef const Py_ssize_t[::1] norm_offsets
    cdef Net net
    cdef Machine machine
    cdef Py_ssize_t n_params


cdef Described described(architecture):
    """``architecture`` planned (tinynet._plan.forward_plan), checked and described."""
    from tinynet._plan import forward_plan

    plan = forward_plan(architecture)
    cdef Described d = Described.__new__(Described)
    d.machine = machine_for(plan.machine)
    d.sizes = np.ascontiguousarray(architecture.layer_sizes, dtype=np.intp)
    d.offsets = checked_offsets(d.sizes, plan.offsets, architecture.bias)
    cdef Py_ssize_t L = d.sizes.shape[0] - 1
    d.norm_offsets = checked_norm_offsets(d.sizes, plan.norm_offsets, d.offsets[L],
                                          architecture.bias)
    d.net = describe(architecture, d.sizes, d.offsets, d.norm_offsets)
    d.n_params = d.norm_offsets[L] if d.net.batch_norm else d.offsets[L]
    return d


def forward(const floating[:, ::1] X, const floating[::1] params, architecture,
            floating[:, ::1] out, statistics=None):
    """Write the network's output for the rows of ``X`` into ``out`` (batch normalisation
    with the running ``statistics``)."""
    cdef Described d = described(architecture)
    cdef Machine m = d.machine
    cdef Net net = d.net
    cdef const Py_ssize_t[::1] sizes = d.sizes
    cdef Py_ssize_t n = X.shape[0], L = sizes.shape[0] - 1
    if n < 1 or X.shape[1] != sizes[0]:
        raise ValueError("X does not match the layer sizes")
    if out.shape[0] != n or out.shape[1] != sizes[L]:
        raise ValueError("out does not match X and the layer sizes")
    cdef floating[::1] running = checked_statistics(
        net, statistics, np.float64 if floating is double else np.float32)
    if params.shape[0] != d.n_params:
        raise ValueError("params does not match the layer sizes")
    cdef Norms evaluation
    evaluation.xhats = evaluation.means = evaluation.variances = evaluation.inv_stds = NULL

    cdef Py_ssize_t i, hidden_units = 0
    for i in range(1, L):
        hidden_units += sizes[i]
    cdef floating[::1] hidden_buffer = workspace(
        np.float64 if floating is double else np.float32, n * hidden_units)
    cdef vector[floating*] layers
    point_into(hidden_buffer, sizes, n, 1, L, layers)
    layers[L] = &out[0, 0]
    with nogil:
        forward_pass(&m, &net, &X[0, 0], &params[0], layers.data(), NULL, NULL, n, NULL, 0,
                     &evaluation, &running[0] if net.batch_norm else NULL)


cdef object checked_statistics(const Net& net, statistics, dtype):
    """``statistics``, checked to hold 2 values of ``dtype`` per hidden unit of a
    batch-normalised network; a one-element placeholder otherwise."""
    cdef Py_ssize_t h, hidden_units = 0
    for h in range(1, net.n_synapses):
        hidden_units += net.sizes[h]
    if not net.batch_norm:
        return np.zeros(1, dtype=dtype)
    if statistics is None or statistics.shape != (2 * hidden_units,) or statistics.dtype != dtype:
        raise ValueError("statistics do not match the batch-normalised layers")
    return np.ascontiguousarray(statistics)


def loss_and_gradient(const floating[:, ::1] X, const floating[:, ::1] y,
                      const floating[::1] params, architecture, statistics, sample_weight,
                      double l2, floating[::1] gradient):
    """Write into ``gradient`` (laid out as ``params``) the gradient of the loss summed over
    the rows of ``X`` (each row's times its ``sample_weight``, if given) plus ``l2 / 2``
    times the sum of the squared weights, and return that loss: one forward and backward
    pass on the full batch, with batch normalisation in training mode (the running
    ``statistics`` are not read or moved) and no dropout."""
    cdef Described d = described(architecture)
    cdef Machine m = d.machine
    cdef Net net = d.net
    cdef const Py_ssize_t[::1] sizes = d.sizes
    cdef Py_ssize_t n = X.shape[0], L = sizes.shape[0] - 1
    if n < 1 or X.shape[1] != sizes[0] or y.shape[0] != n or y.shape[1] != sizes[L]:
        raise ValueError("X and y do not match the layer sizes")
    if params.shape[0] != d.n_params or gradient.shape[0] != d.n_params:
        raise ValueError("params and gradient must match the layer sizes")
    cdef const floating[::1] weights
    cdef bint weighted = sample_weight is not None
    if weighted:
        weights = sample_weight
        if weights.shape[0] != n:
            raise ValueError("sample_weight does not match X")
    cdef Py_ssize_t h, units = 0, hidden_units = 0
    for h in range(1, L + 1):
        units += sizes[h]
    hidden_units = units - sizes[L]
    dtype = np.float64 if floating is double else np.float32
    cdef floating[::1] layer_buffer = workspace(dtype, n * units)
    cdef floating[::1] delta_buffer = workspace(dtype, n * units)
    cdef floating[::1] norm_rows = workspace(dtype, n * hidden_units)
    cdef floating[::1] norm_units = workspace(dtype, 3 * hidden_units)
    cdef vector[floating*] layers, deltas, xhats, means, variances, inv_stds
    point_into(layer_buffer, sizes, n, 1, L + 1, layers)
    point_into(delta_buffer, sizes, n, 1, L + 1, deltas)
    cdef Norms norms
    norms.xhats = norms.means = norms.variances = norms.inv_stds = NULL
    if net.batch_norm:
        point_into(norm_rows, sizes, n, 1, L, xhats)
        point_into(norm_units, sizes, 1, 1, L, means)
        point_into(norm_units[hidden_units:], sizes, 1, 1, L, variances)
        point_into(norm_units[2 * hidden_units:], sizes, 1, 1, L, inv_stds)
        norms.xhats = <void**>xhats.data()
        norms.means = <void**>means.data()
        norms.variances = <void**>variances.data()
        norms.inv_stds = <void**>inv_stds.data()
    cdef double abs_sum, loss_sum, penalty
    with nogil:
        forward_pass(&m, &net, &X[0, 0], &params[0], layers.data(), NULL, deltas[L], n, NULL,
                     0, &norms, NULL)
        if weighted:
            weighted_output_delta(m, net.output, &y[0, 0], layers[L], deltas[L], &weights[0], n,
                                  sizes[L], &abs_sum, &loss_sum)
        else:
            output_delta(m, net.output, &y[0, 0], layers[L], deltas[L], n, sizes[L], &abs_sum,
                         &loss_sum)
        penalty = gradient_pass(&m, &net, &X[0, 0], &params[0], layers.data(), deltas.data(),
                                n, &norms, l2, &gradient[0])
    return loss_sum + penalty


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
