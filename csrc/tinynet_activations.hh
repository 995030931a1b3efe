// The activation functions and their slopes: the per-unit pieces of the forward pass and of
// every delta, written once as templates over the unit a road works on (one element T for
// the general loop, a vector of T for the small networks' road), and their array forms.
#ifndef TINYNET_ACTIVATIONS_HH
#define TINYNET_ACTIVATIONS_HH

#include <cmath>

#include "tinynet_machine.hh"
#include "tinynet_platform.hh"

namespace tinynet {

// The activation functions, by the codes the Cython core passes (see tinynet/_kernels.pxd).
// Hidden layers use sigmoid, tanh or relu; the output layer sigmoid, linear, softmax,
// logistic (the sigmoid, trained by the binary cross-entropy instead of the squared error) or
// poisson (exp, trained by the Poisson deviance).
enum Activation {
    kSigmoid = 0,
    kTanh = 1,
    kRelu = 2,
    kLinear = 3,
    kSoftmax = 4,
    kLogistic = 5,
    kPoisson = 6
};

template <typename T>
inline T relu(T x) {
    return x < T(0) ? T(0) : x;  // written so that NaN passes through, as in numpy.maximum
}

// The slope of activation F from its output `out` (a T, or a vector of them): the blog's
// nonlin(x, deriv=True) for the sigmoid, 1 - out^2 for tanh, a step for relu, 1 for linear.
template <Activation F, typename T, typename U>
TINYNET_ALWAYS_INLINE U slope(const U& out) {
    if (F == kTanh) return T(1) - out * out;
    if (F == kRelu) return out > T(0) ? U{} + T(1) : U{};
    if (F == kLinear) return U{} + T(1);
    return out * (T(1) - out);
}

// The sigmoid's slope, by the blog's name.
template <typename T>
inline T sigmoid_d(T out) {
    return slope<kSigmoid, T>(out);
}

// The slope of activation F as a function object, for the kernels that take one: inlined
// wherever they are (a lambda or a function pointer might be left out of line, compiled for
// SSE2 alone; see run_on, tinynet_platform.hh).
template <Activation F, typename T>
struct SlopeOf {
    template <typename U>
    TINYNET_ALWAYS_INLINE U operator()(const U& out) const {
        return slope<F, T>(out);
    }
};

// The slopes given (dropout computes them in the forward pass), as a function object.
struct GivenSlope {
    template <typename U>
    TINYNET_ALWAYS_INLINE U operator()(const U& given) const {
        return given;
    }
};

// Kernel::sloped(SlopeOf<F, T>(), args...) for F the hidden activation f, so that each kernel
// taking a slope is compiled once per activation.
template <typename T, typename Kernel, typename... Args>
TINYNET_ALWAYS_INLINE void with_slope(Activation f, Args&&... args) {
    switch (f) {
        case kTanh: Kernel::sloped(SlopeOf<kTanh, T>(), static_cast<Args&&>(args)...); break;
        case kRelu: Kernel::sloped(SlopeOf<kRelu, T>(), static_cast<Args&&>(args)...); break;
        case kLinear:
            Kernel::sloped(SlopeOf<kLinear, T>(), static_cast<Args&&>(args)...);
            break;
        default: Kernel::sloped(SlopeOf<kSigmoid, T>(), static_cast<Args&&>(args)...);
    }
}

// x = 1 / (1 + exp(-x)), exp(x) and tanh(x), elementwise in place, by the vectorised kernels
// of the fit's instruction set (tinynet_vmath.hh). The sigmoid is evaluated from exp(-|x|),
// so exp never overflows.
template <typename T>
inline void sigmoid_all(const Machine& m, T* x, idx_t size) {
    m.kernels(T()).sigmoid(x, size);
}

template <typename T>
inline void exp_all(const Machine& m, T* x, idx_t size) {
    m.kernels(T()).exp(x, size);
}

template <typename T>
inline void tanh_all(const Machine& m, T* x, idx_t size) {
    m.kernels(T()).tanh(x, size);
}

// out = f(x) elementwise for every activation but softmax; out may be x.
template <typename T, typename F>
inline void map_all(const T* x, T* out, idx_t size, F f) {
    for (idx_t i = 0; i < size; ++i) out[i] = f(x[i]);
}

// Each row of z__nj becomes its softmax, exp(z - max) / sum(exp(z - max)); if log_out is
// given, it receives the log of those probabilities, z - max - log(sum), which stays finite
// where a probability underflows to zero (the cross-entropy reads it). The exponentials are
// taken in one vectorised pass over the whole layer.
template <typename T>
inline void softmax_rows(const Machine& m, T* TINYNET_RESTRICT z__nj,
                         T* TINYNET_RESTRICT log_out__nj, idx_t n, idx_t j) {
    for (idx_t r = 0; r < n; ++r) {
        T* z = z__nj + r * j;
        T largest = z[0];
        for (idx_t q = 1; q < j; ++q) largest = z[q] > largest ? z[q] : largest;
        for (idx_t q = 0; q < j; ++q) z[q] -= largest;
        if (log_out__nj)
            for (idx_t q = 0; q < j; ++q) log_out__nj[r * j + q] = z[q];
    }
    exp_all(m, z__nj, n * j);
    for (idx_t r = 0; r < n; ++r) {
        T* z = z__nj + r * j;
        T sum = T(0);
        for (idx_t q = 0; q < j; ++q) sum += z[q];
        for (idx_t q = 0; q < j; ++q) z[q] /= sum;
        if (log_out__nj) {
            const T log_sum = std::log(sum);
            for (idx_t q = 0; q < j; ++q) log_out__nj[r * j + q] -= log_sum;
        }
    }
}

// z__nj = f(z__nj) in place, for a layer of n rows of j units; a softmax also writes its
// log-probabilities to log_out__nj if given, a poisson output (exp) its input z, the log of
// its output, which stays finite where exp overflows to inf or underflows to 0. The sigmoid
// is tested first, outside the switch: inside it the float32 XOR measured 3-4% more
// instructions and time.
template <typename T>
inline void activate(const Machine& m, Activation f, T* TINYNET_RESTRICT z__nj,
                     T* TINYNET_RESTRICT log_out__nj, idx_t n, idx_t j) {
    if (f == kSigmoid) {
        sigmoid_all(m, z__nj, n * j);
        return;
    }
    switch (f) {
        case kTanh: tanh_all(m, z__nj, n * j); break;
        case kRelu: map_all(z__nj, z__nj, n * j, relu<T>); break;
        case kSoftmax: softmax_rows(m, z__nj, log_out__nj, n, j); break;
        case kLogistic: sigmoid_all(m, z__nj, n * j); break;
        case kPoisson:
            if (log_out__nj)
                for (idx_t i = 0; i < n * j; ++i) log_out__nj[i] = z__nj[i];
            exp_all(m, z__nj, n * j);
            break;
        default: break;  // kLinear: the identity
    }
}

}  // namespace tinynet

#endif  // TINYNET_ACTIVATIONS_HH
