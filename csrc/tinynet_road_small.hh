// A whole full-batch epoch for networks whose layers are all at most kMaxLanes units wide,
// such as the blog's 3-4-1: where the general loop's cost is its bookkeeping, not its
// arithmetic (a few dozen multiply-adds per call into the kernels of tinynet_layer.hh).
//
// Every row of a layer and of a synapse is padded to 4 or kMaxLanes elements and handled as
// one vector value, and the epoch is compiled once per instruction set with the activations
// inlined into it. A hidden layer's padding holds f(0), but the padding of the weights and of
// the deltas stays zero: output deltas are written for real units only, the hidden deltas
// come from the weights' columns (zero beyond the real units), and the columns' steps are
// masked. An output of one unit is computed W rows to a vector (grouped_sums).
// Each sum is taken in the same order as in the general kernels' loops, and in the same
// instruction set the general kernels run in (run_on, tinynet_platform.hh), each product
// fused into its sum, or not, alike: so the two give identical results (the general loop
// hands bigger products to BLAS, which sums in its own order). What is done to each unit
// (activations and slopes, tinynet_activations.hh; the output error, tinynet_layer.hh; the
// update rule, tinynet_optimizer.hh) is the general loop's own code, instantiated here for
// vectors of lanes: this file holds only the road's traversal of rows and lanes.
#ifndef TINYNET_SMALL_HH
#define TINYNET_SMALL_HH

#include <cmath>
#include <cstring>
#include <type_traits>

#include "tinynet_activations.hh"
#include "tinynet_layer.hh"
#include "tinynet_optimizer.hh"
#include "tinynet_platform.hh"
#include "tinynet_row.hh"
#include "tinynet_vmath.hh"

namespace tinynet {
namespace small {

// The widest layer a small network may have; the padded width of its rows is 4 or this.
constexpr idx_t kMaxLanes = 8;

// Whether this compiler builds the small networks' road: it needs GCC's vector extensions
// (GCC and clang). Elsewhere every network takes the general loop.
#if defined(__GNUC__)
#define TINYNET_SMALL_ROAD 1
#else
#define TINYNET_SMALL_ROAD 0
#endif
constexpr bool kAvailable = TINYNET_SMALL_ROAD;

// One fit's network and options, as an epoch reads them; the fit's plan lays it out
// (tinynet/_plan.py). Every row is padded to `lanes` (4 or kMaxLanes) elements. The padded
// weights hold, from padded_offsets[i], synapse i's sizes[i] rows of weights, then one of
// biases if `bias`; and, for i >= 1, from transposed_offsets[i], its sizes[i + 1] columns
// of weights (the hidden deltas read them).
template <typename T>
struct Fit {
    idx_t n_synapses, lanes;
    const idx_t* sizes;
    const idx_t* padded_offsets;
    const idx_t* transposed_offsets;
    Activation hidden, output;
    bool bias;
    Sgd<T> rule;
    T clip;
};

// The padded weights (or velocity) of `plan` from the compact parameter vector, where
// synapse i is k rows of j at offsets[i]: zero beyond each row's or column's end.
template <typename T>
inline void pad_all(const Fit<T>& plan, const idx_t* offsets, const T* compact, T* padded) {
    const idx_t lanes = plan.lanes;
    for (idx_t i = 0; i < plan.n_synapses; ++i) {
        const idx_t k = plan.sizes[i], j = plan.sizes[i + 1];
        const T* from = compact + offsets[i];
        T* rows = padded + plan.padded_offsets[i];
        for (idx_t p = 0; p < k + plan.bias; ++p)
            for (idx_t q = 0; q < lanes; ++q) rows[p * lanes + q] = q < j ? from[p * j + q] : T(0);
        if (i == 0) continue;
        T* columns = padded + plan.transposed_offsets[i];
        for (idx_t q = 0; q < j; ++q)
            for (idx_t p = 0; p < lanes; ++p)
                columns[q * lanes + p] = p < k ? from[p * j + q] : T(0);
    }
}

// The compact parameter vector (or velocity) from the padded one's rows.
template <typename T>
inline void unpad_all(const Fit<T>& plan, const idx_t* offsets, const T* padded, T* compact) {
    const idx_t lanes = plan.lanes;
    for (idx_t i = 0; i < plan.n_synapses; ++i) {
        const idx_t k = plan.sizes[i] + plan.bias, j = plan.sizes[i + 1];
        const T* rows = padded + plan.padded_offsets[i];
        T* to = compact + offsets[i];
        for (idx_t p = 0; p < k; ++p)
            for (idx_t q = 0; q < j; ++q) to[p * j + q] = rows[p * lanes + q];
    }
}

#if TINYNET_SMALL_ROAD

// f(std::integral_constant<int, K>()) for a width k, 1 <= k <= W, with K = k for rows of 4
// lanes: the loops over a row's units then have a length known when compiling, so that they
// unroll and keep what they sum in registers (with lengths known only at run time, the
// blog's small loops cost more in bookkeeping than in arithmetic). K = 0 for rows of 8
// lanes, whose loops take k at run time: unrolled for each width up to 8 as well, the road
// took four times as long to compile.
template <int W, int K = 1, typename F>
TINYNET_ALWAYS_INLINE void by_width(idx_t k, const F& f) {
    if constexpr (W != 4)
        f(std::integral_constant<int, 0>());
    else if constexpr (K == W)
        f(std::integral_constant<int, K>());
    else if (k == K)
        f(std::integral_constant<int, K>());
    else
        by_width<W, K + 1>(k, f);
}

// The kernels of one epoch on rows of W lanes, each row one Row value (tinynet_row.hh) of the
// instruction set's own vectors of VB bytes: each operation on a row is one vector
// instruction (a few, where the row is wider than the machine's vectors).
template <typename T, int W, int VB>
struct Rows {
    typedef Row<T, W, VB> V;
    typedef typename V::Mask Mask;

    static TINYNET_ALWAYS_INLINE V load(const T* row) { return V::load(row); }

    static TINYNET_ALWAYS_INLINE void store(T* row, const V& v) { v.store(row); }

    // All ones in the first `units` lanes, zeros in the others.
    static TINYNET_ALWAYS_INLINE Mask first_lanes(idx_t units) { return V::first_lanes(units); }

    // l__nW = l_prev__nk . syn + bias for a synapse of k rows (K of them, if K is not 0: see
    // by_width), l_prev's rows `stride` apart: dot and add_bias of tinynet_products.hh and
    // tinynet_layer.hh, a row of sums at a time. (The activation follows, apart: inlined
    // into every width's loop, it would multiply the code to compile.)
    template <int K>
    static TINYNET_ALWAYS_INLINE void forward_sums(const T* l_prev__nk, idx_t stride,
                                                   const T* syn, bool bias, T* l__nW, idx_t n,
                                                   idx_t k) {
        const idx_t units = K ? K : k;
        for (idx_t r = 0; r < n; ++r) {
            const T* a = l_prev__nk + r * stride;
            V sums = V::zero();
            for (idx_t p = 0; p < units; ++p) sums += a[p] * load(syn + p * W);
            if (bias) sums += load(syn + units * W);
            store(l__nW + r * W, sums);
        }
    }

    // forward_sums for a layer of one unit (the blog's output), W rows at a time, one row in
    // each lane: the activation then takes one vector for W rows, instead of one for each
    // row's single real lane. Each lane takes its row's products in forward_sums' order, so
    // the values are its values. Group g of W rows is written to row g, so that row r's value
    // is element r of the layer (and the layer's rows hold other rows' values: the output
    // delta reads it so, and no other kernel reads the output layer). Returns the number of
    // groups.
    template <int K>
    static TINYNET_ALWAYS_INLINE idx_t grouped_sums(const T* l_prev__nk, idx_t stride,
                                                    const T* syn, bool bias, T* l__nW, idx_t n,
                                                    idx_t k) {
        const idx_t units = K ? K : k;
        idx_t groups = 0;
        for (idx_t r0 = 0; r0 < n; r0 += W, ++groups) {
            // The lanes past the last row repeat it (in bounds); their values are not kept.
            const T* rows[W];
            for (int m = 0; m < W; ++m)
                rows[m] = l_prev__nk + (r0 + m < n ? r0 + m : n - 1) * stride;
            V sums = V::zero();
            for (idx_t p = 0; p < units; ++p) {
                V column;
                for (int m = 0; m < W; ++m) column.part[m / V::kPer][m % V::kPer] = rows[m][p];
                sums += syn[p * W] * column;
            }
            if (bias) sums += V::all(syn[units * W]);
            store(l__nW + groups * W, sums);
        }
        return groups;
    }

    // l__nW = f(l_prev__nk . syn + bias) for a synapse of k rows: forward_sums, or for a
    // layer of one unit grouped_sums (row r's value then element r), then f.
    static TINYNET_ALWAYS_INLINE void forward(Activation f, const T* l_prev__nk, idx_t stride,
                                              const T* syn, bool bias, T* l__nW, idx_t n,
                                              idx_t k, bool one_unit) {
        if (one_unit) {
            idx_t groups = 0;
            by_width<W>(k, [&](auto width) TINYNET_INLINE_LAMBDA {
                groups = grouped_sums<decltype(width)::value>(l_prev__nk, stride, syn, bias,
                                                              l__nW, n, k);
            });
            activate_rows(f, l__nW, groups);  // rows whose every lane is a real value
            return;
        }
        by_width<W>(k, [&](auto width) TINYNET_INLINE_LAMBDA {
            forward_sums<decltype(width)::value>(l_prev__nk, stride, syn, bias, l__nW, n, k);
        });
        activate_rows(f, l__nW, n);
    }

    // x = f(x) for the n rows of a layer. A row at a time, so that each load of the
    // activation is one store of the sums (a wider load, spanning two stores, would wait for
    // both to reach the cache).
    static TINYNET_ALWAYS_INLINE void activate_rows(Activation f, T* x__nW, idx_t n) {
        switch (f) {
            case kSigmoid: each_row(x__nW, n, vmath::sigmoid_value<T>); break;
            case kTanh: each_row(x__nW, n, vmath::tanh_value<T>); break;
            case kRelu: each_row(x__nW, n, relu<T>); break;
            default: break;  // kLinear
        }
    }

    // x = f(x) for every element of n rows, each row's W elements as one vector.
    template <typename G>
    static TINYNET_ALWAYS_INLINE void each_row(T* x__nW, idx_t n, G f) {
        for (idx_t r = 0; r < n; ++r)
            for (int q = 0; q < W; ++q) x__nW[r * W + q] = f(x__nW[r * W + q]);
    }

    // delta__nW = (next_delta__nW . synᵀ) * slope(l__nW) (hidden_delta), from the synapse's
    // j columns (J, if not 0); the padding of the columns is zero, so is that of the delta.
    // with_slope (tinynet_activations.hh) calls it with the hidden activation's slope.
    template <int J>
    struct HiddenDelta {
        template <typename S>
        static TINYNET_ALWAYS_INLINE void sloped(S slope, const T* next_delta__nW,
                                                 const T* columns, const T* l__nW,
                                                 T* delta__nW, idx_t n, idx_t j) {
            const idx_t units = J ? J : j;
            for (idx_t r = 0; r < n; ++r) {
                const T* d = next_delta__nW + r * W;
                V errors = V::zero();
                for (idx_t q = 0; q < units; ++q) errors += d[q] * load(columns + q * W);
                store(delta__nW + r * W, errors * load(l__nW + r * W).map(slope));
            }
        }
    };

    // The row (of weights, biases or columns) `at` elements into the padded weights takes
    // its step, from `weights` into `next`, by the fit's update rule (decayed if `decay`:
    // weights, not biases), with momentum if Moving (the velocity is read and written only
    // then).
    template <bool Moving>
    static TINYNET_ALWAYS_INLINE void take_step(const Fit<T>& plan, const T* weights, T* next,
                                                T* velocity, idx_t at, V step, bool decay) {
        const V row = load(weights + at);
        if (!Moving) {
            store(next + at, plan.rule.plain(row, step, decay));
            return;
        }
        V v = load(velocity + at);
        store(next + at, plan.rule.moving(row, step, v, decay));
        store(velocity + at, v);
    }

    // The k rows of weights of a synapse (K, if not 0), and its biases, take their steps,
    // from `weights` into `next` (at the synapse's offset `rows` in the padded weights): the
    // step of row p is column p of l_prev__nk times delta__nW, the biases' the column sums
    // of delta__nW. The rows of the delta are the outer loop, so that the sums stay in
    // registers where K is known; each is still taken over the rows in order. Moving: with
    // momentum.
    template <bool Moving, int K>
    static TINYNET_ALWAYS_INLINE void update_rows(const Fit<T>& plan, const T* l_prev__nk,
                                                  idx_t stride, const T* delta__nW,
                                                  const T* weights, T* next, T* velocity,
                                                  idx_t rows, idx_t n, idx_t k) {
        V bias_step = V::zero();
        if constexpr (K == 0) {
            for (idx_t p = 0; p < k; ++p) {
                V step = V::zero();
                for (idx_t r = 0; r < n; ++r)
                    step += l_prev__nk[r * stride + p] * load(delta__nW + r * W);
                take_step<Moving>(plan, weights, next, velocity, rows + p * W, step, true);
            }
            if (plan.bias)
                for (idx_t r = 0; r < n; ++r) bias_step += load(delta__nW + r * W);
        } else {
            V steps[K];
            for (int p = 0; p < K; ++p) steps[p] = V::zero();
            for (idx_t r = 0; r < n; ++r) {
                const T* a = l_prev__nk + r * stride;
                const V d = load(delta__nW + r * W);
                for (int p = 0; p < K; ++p) steps[p] += a[p] * d;
                bias_step += d;
            }
            for (int p = 0; p < K; ++p)
                take_step<Moving>(plan, weights, next, velocity, rows + p * W, steps[p], true);
        }
        if (plan.bias)
            take_step<Moving>(plan, weights, next, velocity, rows + k * W, bias_step, false);
    }

    // The j columns (J, if not 0) of a synapse above the first, which the hidden deltas
    // read, take their steps, at its offset `columns`: the same sums of the same products as
    // update_rows', so the same values. The layer below's padding is f(0), not 0: the mask
    // of its k real units keeps the columns' at zero.
    template <bool Moving, int J>
    static TINYNET_ALWAYS_INLINE void update_columns(const Fit<T>& plan, const T* l_prev__nW,
                                                     const T* delta__nW, const T* weights,
                                                     T* next, T* velocity, idx_t columns,
                                                     idx_t n, idx_t k, idx_t j) {
        const Mask real = first_lanes(k);
        if constexpr (J == 0) {
            for (idx_t q = 0; q < j; ++q) {
                V step = V::zero();
                for (idx_t r = 0; r < n; ++r)
                    step += delta__nW[r * W + q] * load(l_prev__nW + r * W);
                take_step<Moving>(plan, weights, next, velocity, columns + q * W,
                                  step.keep(real), true);
            }
        } else {
            V steps[J];
            for (int q = 0; q < J; ++q) steps[q] = V::zero();
            for (idx_t r = 0; r < n; ++r) {
                const V l = load(l_prev__nW + r * W);
                const T* d = delta__nW + r * W;
                for (int q = 0; q < J; ++q) steps[q] += d[q] * l;
            }
            for (int q = 0; q < J; ++q)
                take_step<Moving>(plan, weights, next, velocity, columns + q * W,
                                  steps[q].keep(real), true);
        }
    }

    // One synapse's update from the layer below it and the delta above it, from `weights`
    // into `next`: its rows (update_rows) and, for synapses above the first (columns > 0),
    // its columns (update_columns). Moving: with momentum.
    template <bool Moving>
    static TINYNET_ALWAYS_INLINE void update(const Fit<T>& plan, const T* l_prev__nk,
                                             idx_t stride, const T* delta__nW, const T* weights,
                                             T* next, T* velocity, idx_t rows, idx_t columns,
                                             idx_t n, idx_t k, idx_t j) {
        by_width<W>(k, [&](auto width) TINYNET_INLINE_LAMBDA {
            update_rows<Moving, decltype(width)::value>(plan, l_prev__nk, stride, delta__nW,
                                                        weights, next, velocity, rows, n, k);
        });
        if (columns == 0) return;
        by_width<W>(j, [&](auto width) TINYNET_INLINE_LAMBDA {
            update_columns<Moving, decltype(width)::value>(plan, l_prev__nk, delta__nW, weights,
                                                           next, velocity, columns, n, k, j);
        });
    }

    // update<Moving> for the fit's rule: the momentum is looked at once per synapse, so that
    // the two forms of the rule share no product (see Sgd, tinynet_optimizer.hh).
    static TINYNET_ALWAYS_INLINE void update(const Fit<T>& plan, const T* l_prev__nk,
                                             idx_t stride, const T* delta__nW, const T* weights,
                                             T* next, T* velocity, idx_t rows, idx_t columns,
                                             idx_t n, idx_t k, idx_t j) {
        if (plan.rule.momentum == T(0))
            update<false>(plan, l_prev__nk, stride, delta__nW, weights, next, velocity, rows,
                          columns, n, k, j);
        else
            update<true>(plan, l_prev__nk, stride, delta__nW, weights, next, velocity, rows,
                         columns, n, k, j);
    }

    // One epoch on the whole batch X__nk (targets y__nj): forward, deltas and the update
    // of every synapse from the output down, as run_epochs does it in the core, from the
    // padded `weights` into `next` (every element of it is written), so that `weights` is
    // the epoch's snapshot. `velocity` is padded too, and read only with momentum;
    // layers[i] and deltas[i], for i from 1 to n_synapses, are n x W each, and the padding
    // of deltas must be zero. The hidden activation is looked at once per layer, not
    // compiled into one epoch per activation: that took the compiler four times as long.
    static TINYNET_ALWAYS_INLINE void epoch(const Fit<T>& plan, const T* X, const T* y, idx_t n,
                                            const T* weights, T* next, T* velocity,
                                            T* const* layers, T* const* deltas,
                                            double* abs_error_sum, double* loss_sum) {
        const idx_t last = plan.n_synapses - 1;
        const idx_t* sizes = plan.sizes;
        for (idx_t i = 0; i <= last; ++i) {
            const T* l_prev = i == 0 ? X : layers[i];
            const idx_t stride = i == 0 ? sizes[0] : W;
            const T* syn = weights + plan.padded_offsets[i];
            forward(i == last ? plan.output : plan.hidden, l_prev, stride, syn, plan.bias,
                    layers[i + 1], n, sizes[i], i == last && sizes[i + 1] == 1);
        }
        // An output of one unit is left grouped: row r's value is element r.
        squared_loss_delta(plan.output, y, layers[last + 1], sizes[last + 1] == 1 ? 1 : W,
                           deltas[last + 1], W, n, sizes[last + 1], abs_error_sum, loss_sum);
        if (plan.clip > T(0)) clip_all(deltas[last + 1], n * W, plan.clip);
        for (idx_t i = last; i >= 0; --i) {
            const idx_t columns = i > 0 ? plan.transposed_offsets[i] : 0;
            if (i > 0) {
                by_width<W>(sizes[i + 1], [&](auto width) TINYNET_INLINE_LAMBDA {
                    with_slope<T, HiddenDelta<decltype(width)::value>>(
                        plan.hidden, deltas[i + 1], weights + columns, layers[i], deltas[i], n,
                        sizes[i + 1]);
                });
                if (plan.clip > T(0)) clip_all(deltas[i], n * W, plan.clip);
            }
            update(plan, i == 0 ? X : layers[i], i == 0 ? sizes[0] : W, deltas[i + 1], weights,
                   next, velocity, plan.padded_offsets[i], columns, n, sizes[i], sizes[i + 1]);
        }
    }
};

// Rows<T, W, VB>::epoch for W of 4 and kMaxLanes, by plan.lanes, compiled for each
// instruction set with its vectors of VB bytes; run_epoch calls the one the fit's plan chose.
// Each W's epoch is a function of its own: inlined into one, the two took the compiler
// twice as long as apart.
#define TINYNET_SMALL_EPOCH(NAME, TARGET, VB)                                                 \
    template <typename T>                                                                     \
    TARGET void NAME(const Fit<T>& plan, const T* X, const T* y, idx_t n, const T* weights,  \
                     T* next, T* velocity, T* const* layers, T* const* deltas,                \
                     double* abs_error_sum, double* loss_sum) {                               \
        if (plan.lanes == 4)                                                                  \
            Rows<T, 4, VB>::epoch(plan, X, y, n, weights, next, velocity, layers, deltas,     \
                                  abs_error_sum, loss_sum);                                   \
        else                                                                                  \
            Rows<T, kMaxLanes, VB>::epoch(plan, X, y, n, weights, next, velocity, layers,     \
                                          deltas, abs_error_sum, loss_sum);                   \
    }

TINYNET_SMALL_EPOCH(epoch_baseline, , 16)
#if TINYNET_X86_DISPATCH
TINYNET_SMALL_EPOCH(epoch_x86_v3, TINYNET_TARGET_V3, 32)
TINYNET_SMALL_EPOCH(epoch_x86_v4, TINYNET_TARGET_V4, 64)
#endif
#undef TINYNET_SMALL_EPOCH
#endif  // TINYNET_SMALL_ROAD

// One epoch (Rows::epoch), compiled for instruction set `isa` (the fit's Machine's). Only
// called where kAvailable.
template <typename T>
inline void run_epoch(Isa isa, const Fit<T>& plan, const T* X, const T* y, idx_t n,
                      const T* weights, T* next, T* velocity, T* const* layers,
                      T* const* deltas, double* abs_error_sum, double* loss_sum) {
#if TINYNET_X86_DISPATCH
    if (isa == kX86V4) {
        epoch_x86_v4(plan, X, y, n, weights, next, velocity, layers, deltas, abs_error_sum,
                     loss_sum);
        return;
    }
    if (isa == kX86V3) {
        epoch_x86_v3(plan, X, y, n, weights, next, velocity, layers, deltas, abs_error_sum,
                     loss_sum);
        return;
    }
#endif
    (void)isa;
#if TINYNET_SMALL_ROAD
    epoch_baseline(plan, X, y, n, weights, next, velocity, layers, deltas, abs_error_sum,
                   loss_sum);
#endif
}

}  // namespace small
}  // namespace tinynet

#endif  // TINYNET_SMALL_HH
