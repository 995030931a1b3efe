// Members across lanes: up to kLanes networks of one small architecture trained together on
// the same full batch, each lane of a vector one member. One small network's epoch waits on
// the latency of its activations (the blog's XOR: two sigmoids in a row); here that wait is
// paid once for the whole group, and the arithmetic of every member runs in the lanes the
// single network's epoch leaves idle.
//
// Each member's numbers are exactly those of its own fit on the small networks' road
// (tinynet_road_small.hh), which are the general loop's: every sum is taken in the same order
// from the same products, and what is done to each value (the activations and slopes of
// tinynet_activations.hh and tinynet_vmath.hh, the squared error's delta, the SGD rule of
// tinynet_optimizer.hh with the member's own learning rate, momentum and L2) is the same
// operation, lane by lane, in the same instruction set, with the same multiply-adds fused.
// Lanes whose member has no momentum or no L2 select the plain update, so no lane ever
// computes what its single fit would not.
//
// Layout: parameter i of every member lies in one row of kLanes values (row-major by
// parameter, as the compact parameter vector, tinynet/_layout.py), and so do the velocity,
// every layer's outputs and every delta (row r, unit q: row r * units + q). X and y are
// shared by the members, one value per lane broadcast.
#ifndef TINYNET_MEMBERS_HH
#define TINYNET_MEMBERS_HH

#include <cmath>
#include <cstring>

#include "tinynet_activations.hh"
#include "tinynet_clock.hh"
#include "tinynet_layer.hh"
#include "tinynet_platform.hh"
#include "tinynet_road_small.hh"
#include "tinynet_row.hh"
#include "tinynet_vmath.hh"

namespace tinynet {
namespace members {

// Members per group: a vector of eight doubles is one AVX-512 register (two AVX2 ones).
constexpr idx_t kLanes = 8;

// A group's network and options. The per-member values point to kLanes values each.
template <typename T>
struct Group {
    idx_t n_synapses;
    const idx_t* sizes;    // n_synapses + 1 layer sizes
    const idx_t* offsets;  // where synapse i's block (k rows of weights, then biases) starts
    Activation hidden, output;
    bool bias, nesterov;
    T clip;  // 0: none
    const T* learning_rate;
    const T* momentum;
    const T* l2;
};

#if TINYNET_SMALL_ROAD

template <typename T, int VB>
struct Lanes {
    typedef Row<T, kLanes, VB> V;

    static TINYNET_ALWAYS_INLINE V load(const T* row) { return V::load(row); }
    static TINYNET_ALWAYS_INLINE void store(T* row, const V& v) { v.store(row); }

    // x = f(x) for `size` values, as the single fit applies f to each.
    template <typename G>
    static TINYNET_ALWAYS_INLINE void each(T* x, idx_t size, G f) {
        for (idx_t i = 0; i < size; ++i) x[i] = f(x[i]);
    }

    // l__nj = f(l_prev__nk . syn + bias) for every member; `shared` l_prev holds one value per
    // row and unit (X), otherwise a row of lanes.
    static TINYNET_ALWAYS_INLINE void forward(Activation f, const T* l_prev, bool shared,
                                              const T* syn, bool bias, T* l, idx_t n, idx_t k,
                                              idx_t j) {
        for (idx_t r = 0; r < n; ++r)
            for (idx_t q = 0; q < j; ++q) {
                V sums = V::zero();
                for (idx_t p = 0; p < k; ++p) {
                    const T* w = syn + (p * j + q) * kLanes;
                    if (shared)
                        sums += l_prev[r * k + p] * load(w);
                    else
                        sums += load(l_prev + (r * k + p) * kLanes) * load(w);
                }
                if (bias) sums += load(syn + (k * j + q) * kLanes);
                store(l + (r * j + q) * kLanes, sums);
            }
        const idx_t size = n * j * kLanes;
        switch (f) {
            case kSigmoid: each(l, size, vmath::sigmoid_value<T>); break;
            case kTanh: each(l, size, vmath::tanh_value<T>); break;
            case kRelu: each(l, size, relu<T>); break;
            default: break;  // kLinear
        }
    }

    // The output's delta (squared error, through a sigmoid or linear output) and each
    // member's sums of |y - l| and (y - l)^2, in the single fit's order (rows, then units).
    static TINYNET_ALWAYS_INLINE void output_delta(Activation f, const T* y, const T* l,
                                                   T* delta, idx_t n, idx_t j, double* abs_sum,
                                                   double* squared_sum) {
        for (idx_t m = 0; m < kLanes; ++m) abs_sum[m] = squared_sum[m] = 0.0;
        for (idx_t r = 0; r < n; ++r)
            for (idx_t q = 0; q < j; ++q) {
                const idx_t at = (r * j + q) * kLanes;
                const V out = load(l + at), error = y[r * j + q] - out;
                store(delta + at,
                      f == kSigmoid ? error * out.map(SlopeOf<kSigmoid, T>()) : error);
                for (idx_t m = 0; m < kLanes; ++m) {
                    const double e = double(error[m]);
                    abs_sum[m] += std::fabs(e);
                    squared_sum[m] = TINYNET_RUNNING_SUM(squared_sum[m] + e * e);
                }
            }
    }

    // delta__nk = (next_delta__nj . synᵀ) * slope(l__nk), with the weights before the update.
    template <Activation F>
    static TINYNET_ALWAYS_INLINE void hidden_delta(const T* next_delta, const T* syn,
                                                   const T* l, T* delta, idx_t n, idx_t k,
                                                   idx_t j) {
        for (idx_t r = 0; r < n; ++r)
            for (idx_t p = 0; p < k; ++p) {
                V errors = V::zero();
                for (idx_t q = 0; q < j; ++q)
                    errors += load(next_delta + (r * j + q) * kLanes) *
                              load(syn + (p * j + q) * kLanes);
                const idx_t at = (r * k + p) * kLanes;
                store(delta + at, errors * load(l + at).map(SlopeOf<F, T>()));
            }
    }

    // The parameter row at `w` takes its step by each member's SGD rule (Sgd::plain or
    // Sgd::moving, lane by lane: the plain update where a member has no momentum, no L2 where
    // it has none). The plain and the moving forms take their rates from two rows (`rates`),
    // each zero in the other's lanes, so that their products `rate * step` are two values:
    // one product shared by both forms could not be fused into the plain form's multiply-add
    // as it is in a member's own fit.
    static TINYNET_ALWAYS_INLINE void take_step(const Group<T>& g, const V (&rates)[2], T* w,
                                                T* velocity, V step, bool decay) {
        const V momentum = load(g.momentum), l2 = load(g.l2);
        const V row = load(w), old = load(velocity);
        if (decay) step = l2.where_nonzero(step - l2 * row, step);
        const V plain = row + rates[0] * step;
        const V v = momentum * old + rates[1] * step;
        const V moved = row + (g.nesterov ? momentum * v + rates[1] * step : v);
        store(w, momentum.where_nonzero(moved, plain));
        store(velocity, momentum.where_nonzero(v, old));
    }

    // The rows of rates take_step reads: each member's rate in the plain form's row if it has
    // no momentum, in the moving form's if it has, zero in the other.
    static TINYNET_ALWAYS_INLINE void split_rates(const Group<T>& g, V (&rates)[2]) {
        const V rate = load(g.learning_rate), momentum = load(g.momentum), zero = V::zero();
        rates[0] = momentum.where_nonzero(zero, rate);
        rates[1] = momentum.where_nonzero(rate, zero);
    }

    // Synapse i's update, in place (its hidden delta was taken from it already): the step of
    // weight (p, q) is the sum over rows of l_prev(r, p) * delta(r, q), a bias's the sum of
    // its deltas.
    static TINYNET_ALWAYS_INLINE void update(const Group<T>& g, const T* l_prev, bool shared,
                                             const T* delta, T* syn, T* velocity, idx_t n,
                                             idx_t k, idx_t j) {
        V rates[2];
        split_rates(g, rates);
        for (idx_t p = 0; p < k; ++p)
            for (idx_t q = 0; q < j; ++q) {
                V step = V::zero();
                for (idx_t r = 0; r < n; ++r) {
                    const V d = load(delta + (r * j + q) * kLanes);
                    if (shared)
                        step += l_prev[r * k + p] * d;
                    else
                        step += load(l_prev + (r * k + p) * kLanes) * d;
                }
                const idx_t at = (p * j + q) * kLanes;
                take_step(g, rates, syn + at, velocity + at, step, true);
            }
        if (!g.bias) return;
        for (idx_t q = 0; q < j; ++q) {
            V step = V::zero();
            for (idx_t r = 0; r < n; ++r) step += load(delta + (r * j + q) * kLanes);
            const idx_t at = (k * j + q) * kLanes;
            take_step(g, rates, syn + at, velocity + at, step, false);
        }
    }

    // One epoch of every member on the whole batch: forward, deltas and the update of each
    // synapse from the output down, in the single fit's order. layers[i] and deltas[i], for i
    // from 1 to n_synapses, are n x sizes[i] rows of lanes.
    template <Activation F>
    static TINYNET_ALWAYS_INLINE void epoch(const Group<T>& g, const T* X, const T* y, idx_t n,
                                            T* params, T* velocity, T* const* layers,
                                            T* const* deltas, double* abs_sum,
                                            double* squared_sum) {
        const idx_t last = g.n_synapses - 1;
        const idx_t* sizes = g.sizes;
        for (idx_t i = 0; i <= last; ++i)
            forward(i == last ? g.output : F, i == 0 ? X : layers[i], i == 0,
                    params + g.offsets[i] * kLanes, g.bias, layers[i + 1], n, sizes[i],
                    sizes[i + 1]);
        output_delta(g.output, y, layers[last + 1], deltas[last + 1], n, sizes[last + 1],
                     abs_sum, squared_sum);
        if (g.clip > T(0)) clip_all(deltas[last + 1], n * sizes[last + 1] * kLanes, g.clip);
        for (idx_t i = last; i >= 0; --i) {
            T* syn = params + g.offsets[i] * kLanes;
            if (i > 0) {
                hidden_delta<F>(deltas[i + 1], syn, layers[i], deltas[i], n, sizes[i],
                                sizes[i + 1]);
                if (g.clip > T(0)) clip_all(deltas[i], n * sizes[i] * kLanes, g.clip);
            }
            update(g, i == 0 ? X : layers[i], i == 0, deltas[i + 1], syn,
                   velocity + g.offsets[i] * kLanes, n, sizes[i], sizes[i + 1]);
        }
    }

    // Whether each lane of `rows` rows of lanes is finite, into finite[m] (and-ed).
    static TINYNET_ALWAYS_INLINE void lanes_finite(const T* x, idx_t rows, bool* finite) {
        V ok = V::zero();  // 0 where finite: x - x is 0 for finite x, NaN otherwise
        for (idx_t i = 0; i < rows; ++i) {
            const V v = load(x + i * kLanes);
            ok += v - v;
        }
        for (idx_t m = 0; m < kLanes; ++m) finite[m] = finite[m] && ok[m] == T(0);
    }

    // Up to `epochs` epochs (fewer if `clock` comes due: the caller looks for signals, then
    // calls again), epoch e's measures of member m into history[2 * m * stride + e] (the
    // loss) and history[(2 * m + 1) * stride + e] (the mean absolute error). Returns the
    // epochs trained. A member whose measures or weights turned non-finite in them gets
    // diverged[m] = 1: its lane trained on, apart, and means nothing; the caller trains it
    // again alone, which stops where its own fit stops. The measures are looked at every
    // epoch, the weights once per call: a weight that overflows stays non-finite (the
    // velocity cannot overflow without it), so the call's end sees it.
    template <Activation F>
    static TINYNET_ALWAYS_INLINE idx_t run(const Group<T>& g, const T* X, const T* y, idx_t n,
                                           T* params, T* velocity, idx_t n_params,
                                           T* const* layers, T* const* deltas, idx_t epochs,
                                           double* history, idx_t stride, idx_t* diverged,
                                           SignalClock* clock) {
        const idx_t n_out = g.sizes[g.n_synapses];
        double abs_sum[kLanes], squared_sum[kLanes];
        idx_t e = 0;
        while (e < epochs) {
            epoch<F>(g, X, y, n, params, velocity, layers, deltas, abs_sum, squared_sum);
            for (idx_t m = 0; m < kLanes; ++m) {
                const double loss = 0.5 * squared_sum[m];
                history[2 * m * stride + e] = loss / double(n);
                history[(2 * m + 1) * stride + e] = abs_sum[m] / double(n * n_out);
                if (!(std::isfinite(loss) && std::isfinite(abs_sum[m]))) diverged[m] = 1;
            }
            ++e;
            if (clock->due()) break;
        }
        bool finite[kLanes];
        for (idx_t m = 0; m < kLanes; ++m) finite[m] = true;
        lanes_finite(params, n_params, finite);
        for (idx_t m = 0; m < kLanes; ++m)
            if (!finite[m]) diverged[m] = 1;
        return e;
    }

    static TINYNET_ALWAYS_INLINE idx_t any_run(const Group<T>& g, const T* X, const T* y,
                                               idx_t n, T* params, T* velocity, idx_t n_params,
                                               T* const* layers, T* const* deltas,
                                               idx_t epochs, double* history, idx_t stride,
                                               idx_t* diverged, SignalClock* clock) {
        switch (g.hidden) {
            case kTanh:
                return run<kTanh>(g, X, y, n, params, velocity, n_params, layers, deltas,
                                  epochs, history, stride, diverged, clock);
            case kRelu:
                return run<kRelu>(g, X, y, n, params, velocity, n_params, layers, deltas,
                                  epochs, history, stride, diverged, clock);
            case kLinear:
                return run<kLinear>(g, X, y, n, params, velocity, n_params, layers, deltas,
                                    epochs, history, stride, diverged, clock);
            default:
                return run<kSigmoid>(g, X, y, n, params, velocity, n_params, layers, deltas,
                                     epochs, history, stride, diverged, clock);
        }
    }
};

// Lanes<T, VB>::any_run compiled for each instruction set, with its vectors of VB bytes;
// run_group calls the fit's.
#define TINYNET_MEMBERS_RUN(NAME, TARGET, VB)                                                     \
    template <typename T>                                                                     \
    TARGET idx_t NAME(const Group<T>& g, const T* X, const T* y, idx_t n, T* params,          \
                      T* velocity, idx_t n_params, T* const* layers, T* const* deltas,        \
                      idx_t epochs, double* history, idx_t stride, idx_t* diverged,           \
                      SignalClock* clock) {                                                   \
        return Lanes<T, VB>::any_run(g, X, y, n, params, velocity, n_params, layers, deltas,  \
                                     epochs, history, stride, diverged, clock);               \
    }

TINYNET_MEMBERS_RUN(run_baseline, , 16)
#if TINYNET_X86_DISPATCH
TINYNET_MEMBERS_RUN(run_x86_v3, TINYNET_TARGET_V3, 32)
TINYNET_MEMBERS_RUN(run_x86_v4, TINYNET_TARGET_V4, 64)
#endif
#undef TINYNET_MEMBERS_RUN
#endif  // TINYNET_SMALL_ROAD

// Lanes::run in instruction set `isa`. Only called where small::kAvailable.
template <typename T>
inline idx_t run_group(Isa isa, const Group<T>& g, const T* X, const T* y, idx_t n, T* params,
                       T* velocity, idx_t n_params, T* const* layers, T* const* deltas,
                       idx_t epochs, double* history, idx_t stride, idx_t* diverged,
                       SignalClock* clock) {
#if TINYNET_X86_DISPATCH
    if (isa == kX86V4)
        return run_x86_v4(g, X, y, n, params, velocity, n_params, layers, deltas, epochs,
                          history, stride, diverged, clock);
    if (isa == kX86V3)
        return run_x86_v3(g, X, y, n, params, velocity, n_params, layers, deltas, epochs,
                          history, stride, diverged, clock);
#endif
    (void)isa;
#if TINYNET_SMALL_ROAD
    return run_baseline(g, X, y, n, params, velocity, n_params, layers, deltas, epochs,
                        history, stride, diverged, clock);
#else
    (void)g, (void)X, (void)y, (void)n, (void)params, (void)velocity, (void)n_params;
    (void)layers, (void)deltas, (void)epochs, (void)history, (void)stride, (void)diverged;
    (void)clock;
    return 0;
#endif
}

}  // namespace members
}  // namespace tinynet

#endif  // TINYNET_MEMBERS_HH
