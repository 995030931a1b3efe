// A whole run of epochs for the smallest networks the small road takes: one hidden layer of
// at most 4 units, one output unit and at most 4 rows, full batches of SGD without momentum
// or clipping (the blog's 3-4-1 on its XOR table). There the time of an epoch is the chain
// of its arithmetic, two sigmoids deep, and the small road's epoch (tinynet_road_small.hh)
// lengthens it by passing each layer, delta and weight through memory, from one kernel to
// the next and from one epoch to the next. Here the epochs loop in C++ with the weights in
// registers from the run's first epoch to its last, and the hidden activation is known when
// compiling (chosen once per epoch, it made the XOR's epoch twice as long).
//
// The values are the small road's, bit for bit (and so the general loop's): the same
// expressions, from the same code where there is some (the activations and slopes, the
// update rule), in the same order, compiled for the same instruction set. What differs is
// only what the road does not compute: the rows are padded to 4 with rows of zeros, whose
// output deltas are set to zero, the inputs to 4 with columns of zeros, whose weights are
// zero, and the hidden units to 4, whose outgoing weights are zero.
// Each of their terms is then a zero added to a sum that started at +0 (so is never -0),
// which leaves it unchanged, bit for bit, while the weights are finite.
//
// The output synapse is held as its column (the H weights, one per lane), which is what the
// road's hidden delta reads; the road keeps it twice, as its rows and as that column, and
// updates both with the same products in the same order, so the two are equal and one is
// enough here.
#ifndef TINYNET_TINY_HH
#define TINYNET_TINY_HH

#include <cmath>

#include "tinynet_activations.hh"
#include "tinynet_clock.hh"
#include "tinynet_platform.hh"
#include "tinynet_road_small.hh"
#include "tinynet_row.hh"
#include "tinynet_vmath.hh"

namespace tinynet {
namespace small {

// The most rows, and the widest layer, a whole run takes.
constexpr idx_t kTinyRows = 4;

// How a whole run ended: after all its epochs, on an epoch whose weights or measures were
// not finite (not taken: the weights are those of the epoch before), or when the signal
// clock was due (the caller looks for signals, then runs the rest).
enum RunEnd { kRunDone = 0, kRunDiverged = 1, kRunPaused = 2 };

// Where a run writes each epoch's loss and mean absolute error: epoch e's at
// at[e * row_stride] and at[e * row_stride + column_stride] (rows of a record laid out by
// epoch, or by measure).
struct History {
    double* at;
    idx_t row_stride, column_stride;
};

#if TINYNET_SMALL_ROAD

// The run on rows of 4 lanes of the instruction set's vectors of VB bytes, for the hidden
// activation Hidden.
template <typename T, int VB, Activation Hidden>
struct TinyRun {
    static constexpr int K = 4;  // the inputs, padded
    static constexpr int W = 4;
    typedef Row<T, W, VB> V;

    // f applied to each lane of x (the road's activate_rows, for one row), as one loop the
    // vectoriser sees whole: unrolled before it (as GCC unrolls short loops), the lanes'
    // sigmoids were left scalar in some instantiations, which then took twice as long.
    template <typename F>
    static TINYNET_ALWAYS_INLINE V each(const V& x, F f) {
        alignas(64) T lanes[W];
        x.store(lanes);
#pragma GCC unroll 1
        for (int m = 0; m < W; ++m) lanes[m] = f(lanes[m]);
        return V::load(lanes);
    }

    static TINYNET_ALWAYS_INLINE V activate(Activation f, const V& x) {
        switch (f) {
            case kSigmoid: return each(x, vmath::sigmoid_value<T>);
            case kTanh: return each(x, vmath::tanh_value<T>);
            case kRelu: return each(x, relu<T>);
            default: return x;  // kLinear
        }
    }

    // x - x is zero in every lane of every finite x, NaN where x is not finite.
    static TINYNET_ALWAYS_INLINE V nonfinite_part(const V& x) { return x - x; }

    static TINYNET_ALWAYS_INLINE bool all_zero(const V& x) {
        bool zero = true;
        for (int m = 0; m < W; ++m) zero &= x[m] == T(0);
        return zero;
    }

    // Up to `epochs` epochs of the network `plan` on the n rows of X (k each) and y, from
    // and into the padded weights (the last completed epoch's, however the run ends); epoch
    // e's learning rate is rates[e], or `rate` if rates is null; its loss and mean absolute
    // error go to `history`. Stops early where RunEnd says; *completed receives the number
    // of epochs taken.
    static TINYNET_ALWAYS_INLINE RunEnd run(const Fit<T>& plan, const T* X, const T* y,
                                            idx_t n, T* weights, idx_t epochs,
                                            const double* rates, double rate, History history,
                                            SignalClock* clock, idx_t* completed) {
        const idx_t k = plan.sizes[0], H = plan.sizes[1];
        const Activation output = plan.output;
        const bool bias = plan.bias;
        Sgd<T> rule = plan.rule;
        T* syn0 = weights + plan.padded_offsets[0];
        T* syn1 = weights + plan.padded_offsets[1];
        T* column1 = weights + plan.transposed_offsets[1];

        // The rows, padded with zeros.
        T x[kTinyRows][K], targets[kTinyRows];
        for (idx_t r = 0; r < kTinyRows; ++r) {
            for (int p = 0; p < K; ++p) x[r][p] = r < n && p < k ? X[r * k + p] : T(0);
            targets[r] = r < n ? y[r] : T(0);
        }
        const typename V::Mask real = V::first_lanes(H);

        V w0[K], b0 = V::zero(), c1 = V::load(column1);
        for (int p = 0; p < K; ++p) w0[p] = p < k ? V::load(syn0 + p * W) : V::zero();
        if (bias) b0 = V::load(syn0 + k * W);
        T b1 = bias ? syn1[H * W] : T(0);

        RunEnd end = kRunDone;
        idx_t e = 0;
        for (; e < epochs; ++e) {
            rule.learning_rate = T(rates ? rates[e] : rate);
            // Forward: each row's hidden layer (forward_sums, then activate_rows) ...
            V h[kTinyRows];
            for (idx_t r = 0; r < kTinyRows; ++r) {
                V sums = V::zero();
                for (int p = 0; p < K; ++p) sums += x[r][p] * w0[p];
                if (bias) sums += b0;
                h[r] = activate(Hidden, sums);
            }
            // ... and the output, the rows in the lanes (grouped_sums).
            V o = V::zero();
            for (int p = 0; p < W; ++p) {
                V column;
                for (int m = 0; m < W; ++m) column.part[m / V::kPer][m % V::kPer] = h[m][p];
                o += c1[p] * column;
            }
            if (bias) o += V::all(b1);
            o = activate(output, o);

            // The output delta (squared_loss_delta), zero on the padding rows.
            T d[kTinyRows];
            double abs_sum = 0.0, squared_sum = 0.0;
            for (idx_t r = 0; r < kTinyRows; ++r) {
                if (r >= n) {
                    d[r] = T(0);
                    continue;
                }
                const T out = o[r], error = targets[r] - out;
                d[r] = output == kSigmoid ? error * SlopeOf<kSigmoid, T>()(out)
                                          : error * SlopeOf<kLinear, T>()(out);
                abs_sum += std::fabs(double(error));
                squared_sum = TINYNET_RUNNING_SUM(squared_sum + double(error) * double(error));
            }
            const double loss_sum = 0.5 * squared_sum;
            double* measures = history.at + e * history.row_stride;
            measures[0] = loss_sum / double(n);
            measures[history.column_stride] = abs_sum / double(n);

            // The hidden deltas (HiddenDelta), from the column before its step.
            V delta[kTinyRows];
            for (idx_t r = 0; r < kTinyRows; ++r) {
                V errors = V::zero();
                errors += d[r] * c1;
                delta[r] = errors * h[r].map(SlopeOf<Hidden, T>());
            }

            // The output synapse's step (update_columns, and update_rows' biases) ...
            V step1 = V::zero();
            T bias_step1 = T(0);
            for (idx_t r = 0; r < kTinyRows; ++r) {
                step1 += d[r] * h[r];
                bias_step1 += d[r];
            }
            const V next_c1 = rule.plain(c1, step1.keep(real), true);
            const T next_b1 = bias ? rule.plain(b1, bias_step1, false) : b1;

            // ... and the hidden synapse's (update_rows).
            V steps0[K], bias_step0 = V::zero();
            for (int p = 0; p < K; ++p) steps0[p] = V::zero();
            for (idx_t r = 0; r < kTinyRows; ++r) {
                for (int p = 0; p < K; ++p) steps0[p] += x[r][p] * delta[r];
                bias_step0 += delta[r];
            }
            V next_w0[K];
            V nonfinite = nonfinite_part(next_c1);
            for (int p = 0; p < K; ++p) {
                next_w0[p] = rule.plain(w0[p], steps0[p], true);
                nonfinite += nonfinite_part(next_w0[p]);
            }
            const V next_b0 = bias ? rule.plain(b0, bias_step0, false) : b0;
            nonfinite += nonfinite_part(next_b0);

            if (!(std::isfinite(loss_sum) && std::isfinite(abs_sum) && std::isfinite(next_b1) &&
                  all_zero(nonfinite))) {
                end = kRunDiverged;
                break;
            }
            for (int p = 0; p < K; ++p) w0[p] = next_w0[p];
            b0 = next_b0;
            c1 = next_c1;
            b1 = next_b1;
            if (clock && clock->due()) {
                ++e;
                end = e < epochs ? kRunPaused : kRunDone;
                break;
            }
        }
        *completed = e;

        // Back into the padded weights: the hidden synapse's rows, the output synapse's rows
        // (its weight in lane 0) and column.
        for (idx_t p = 0; p < k; ++p) w0[p].store(syn0 + p * W);
        if (bias) b0.store(syn0 + k * W);
        c1.store(column1);
        for (idx_t p = 0; p < H; ++p) syn1[p * W] = c1[int(p)];
        if (bias) syn1[H * W] = b1;
        return end;
    }
};

// TinyRun<T, VB, Hidden>::run for the plan's hidden activation, compiled for each
// instruction set with its vectors of VB bytes; run_tiny calls the one the fit's plan chose.
#define TINYNET_TINY_RUN(NAME, TARGET, VB)                                                    \
    template <typename T>                                                                     \
    TARGET RunEnd NAME(const Fit<T>& plan, const T* X, const T* y, idx_t n, T* weights,       \
                       idx_t epochs, const double* rates, double rate, History history,       \
                       SignalClock* clock, idx_t* completed) {                                \
        switch (plan.hidden) {                                                                \
            case kTanh:                                                                       \
                return TinyRun<T, VB, kTanh>::run(plan, X, y, n, weights, epochs, rates,      \
                                                  rate, history, clock, completed);           \
            case kRelu:                                                                       \
                return TinyRun<T, VB, kRelu>::run(plan, X, y, n, weights, epochs, rates,      \
                                                  rate, history, clock, completed);           \
            case kLinear:                                                                     \
                return TinyRun<T, VB, kLinear>::run(plan, X, y, n, weights, epochs, rates,    \
                                                    rate, history, clock, completed);         \
            default:                                                                          \
                return TinyRun<T, VB, kSigmoid>::run(plan, X, y, n, weights, epochs, rates,   \
                                                     rate, history, clock, completed);        \
        }                                                                                     \
    }

TINYNET_TINY_RUN(tiny_baseline, , 16)
#if TINYNET_X86_DISPATCH
TINYNET_TINY_RUN(tiny_x86_v3, TINYNET_TARGET_V3, 32)
TINYNET_TINY_RUN(tiny_x86_v4, TINYNET_TARGET_V4, 64)
#endif
#undef TINYNET_TINY_RUN
#endif  // TINYNET_SMALL_ROAD

// TinyRun::run, compiled for instruction set `isa` (the fit's Machine's). Only called for
// the fits whose plan says so (tinynet/_plan.py: runs_whole), checked by the core against
// the bounds above.
template <typename T>
inline RunEnd run_tiny(Isa isa, const Fit<T>& plan, const T* X, const T* y, idx_t n,
                       T* weights, idx_t epochs, const double* rates, double rate,
                       History history, SignalClock* clock, idx_t* completed) {
#if TINYNET_X86_DISPATCH
    if (isa == kX86V4)
        return tiny_x86_v4(plan, X, y, n, weights, epochs, rates, rate, history, clock,
                           completed);
    if (isa == kX86V3)
        return tiny_x86_v3(plan, X, y, n, weights, epochs, rates, rate, history, clock,
                           completed);
#endif
    (void)isa;
#if TINYNET_SMALL_ROAD
    return tiny_baseline(plan, X, y, n, weights, epochs, rates, rate, history, clock,
                         completed);
#else
    *completed = 0;
    return kRunDone;
#endif
}

}  // namespace small
}  // namespace tinynet

#endif  // TINYNET_TINY_HH
