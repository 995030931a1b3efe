# Declarations of the C++ kernels in csrc/ (see those files for the math), a header each.
# Each kernel is a template over the element type; Cython deduces it from the pointers.

from libc.stdint cimport int64_t, uint64_t


cdef extern from "tinynet_platform.hh" namespace "tinynet" nogil:
    enum Isa:
        kBaseline
        kX86V3
        kX86V4

    Isa best_isa() noexcept


cdef extern from "tinynet_blas.hh" namespace "tinynet::blas" nogil:
    ctypedef void (*dgemm_t)(char* transa, char* transb, int* m, int* n, int* k, double* alpha,
                             double* a, int* lda, double* b, int* ldb, double* beta, double* c,
                             int* ldc) noexcept
    ctypedef void (*sgemm_t)(char* transa, char* transb, int* m, int* n, int* k, float* alpha,
                             float* a, int* lda, float* b, int* ldb, float* beta, float* c,
                             int* ldc) noexcept
    ctypedef void (*dgemm64_t)(char* transa, char* transb, int64_t* m, int64_t* n, int64_t* k,
                               double* alpha, double* a, int64_t* lda, double* b, int64_t* ldb,
                               double* beta, double* c, int64_t* ldc) noexcept
    ctypedef void (*sgemm64_t)(char* transa, char* transb, int64_t* m, int64_t* n, int64_t* k,
                               float* alpha, float* a, int64_t* lda, float* b, int64_t* ldb,
                               float* beta, float* c, int64_t* ldc) noexcept

    const Py_ssize_t kDefaultCrossover

    cdef cppclass Gemm:
        dgemm_t dgemm
        sgemm_t sgemm
        dgemm64_t dgemm64
        sgemm64_t sgemm64
        Py_ssize_t crossover


cdef extern from "tinynet_machine.hh" namespace "tinynet" nogil:
    cdef cppclass Machine:
        Isa isa
        Gemm gemm
        void use_isa(Isa chosen) noexcept


cdef extern from "tinynet_activations.hh" namespace "tinynet" nogil:
    enum Activation:
        kSigmoid
        kTanh
        kRelu
        kLinear
        kSoftmax
        kLogistic
        kPoisson

    void sigmoid_all[T](const Machine& m, T* x, Py_ssize_t size) noexcept
    void exp_all[T](const Machine& m, T* x, Py_ssize_t size) noexcept
    void tanh_all[T](const Machine& m, T* x, Py_ssize_t size) noexcept
    void activate[T](const Machine& m, Activation f, T* z__nj, T* log_out__nj, Py_ssize_t n,
                     Py_ssize_t j) noexcept


cdef extern from "tinynet_products.hh" namespace "tinynet" nogil:
    void transpose_dot[T](const Machine& m, const T* a__nk, const T* b__nj, T* c__kj,
                          Py_ssize_t n, Py_ssize_t k, Py_ssize_t j) noexcept
    void transpose_dot_update[T](const Machine& m, const T* a__nk, const T* b__nj, T* syn__kj,
                                 T* step, Py_ssize_t n, Py_ssize_t k, Py_ssize_t j,
                                 T learning_rate) noexcept


cdef extern from "tinynet_layer.hh" namespace "tinynet" nogil:
    void forward_linear[T](const Machine& m, const T* l_prev__nk, const T* syn__kj,
                           const T* bias__j, T* z__nj, Py_ssize_t n, Py_ssize_t k,
                           Py_ssize_t j) noexcept
    void normalise_batch[T](const Machine& m, T* z__nj, T* xhat__nj, const T* scale__j,
                            const T* shift__j, T* mean__j, T* var__j, T* inv_std__j,
                            Py_ssize_t n, Py_ssize_t j, double epsilon) noexcept
    void normalise_running[T](const Machine& m, T* z__nj, const T* scale__j, const T* shift__j,
                              const T* running_mean__j, const T* running_var__j, Py_ssize_t n,
                              Py_ssize_t j, double epsilon) noexcept
    void move_running[T](const Machine& m, T* running_mean__j, T* running_var__j,
                         const T* mean__j, const T* var__j, Py_ssize_t j, T momentum) noexcept
    void normalise_batch_back[T](const Machine& m, T* delta__nj, const T* xhat__nj,
                                 const T* scale__j, const T* inv_std__j, T* step_scale__j,
                                 T* step_shift__j, Py_ssize_t n, Py_ssize_t j) noexcept
    void weighted_output_delta[T](const Machine& m, Activation f, const T* y, const T* l,
                                  T* l_delta, const T* row_weights__n, Py_ssize_t n,
                                  Py_ssize_t j, double* abs_error_sum,
                                  double* loss_sum) noexcept
    void forward_layer[T](const Machine& m, Activation f, const T* l_prev__nk, const T* syn__kj,
                          const T* bias__j, T* l__nj, T* log_out__nj,
                          Py_ssize_t n, Py_ssize_t k, Py_ssize_t j) noexcept
    void drop_units[T](const Machine& m, Activation f, T* l__nk, T* slopes__nk, Py_ssize_t n,
                       Py_ssize_t k, uint64_t key, uint64_t first_row, uint64_t row_stride,
                       uint64_t first_unit, double rate, T scale) noexcept
    void output_delta[T](const Machine& m, Activation f, const T* y, const T* l, T* l_delta,
                         Py_ssize_t n, Py_ssize_t j, double* abs_error_sum,
                         double* loss_sum) noexcept
    void hidden_delta[T](const Machine& m, Activation f, const T* l_next_delta__nj,
                         const T* syn__kj, const T* l__nk, const T* slopes__nk, T* l_delta__nk,
                         Py_ssize_t n, Py_ssize_t k, Py_ssize_t j) noexcept
    void clip_all[T](T* delta, Py_ssize_t size, T bound) noexcept
    void column_sums[T](const T* a__nj, T* sums__j, Py_ssize_t n, Py_ssize_t j) noexcept
    double squared_sum[T](const Machine& m, const T* x, Py_ssize_t size) noexcept


cdef extern from "tinynet_optimizer.hh" namespace "tinynet" nogil:
    enum OptimizerKind:
        kSgd
        kAdam
        kAdamW
        kRmsProp

    cdef cppclass Sgd[T]:
        T learning_rate
        T momentum
        T l2
        bint nesterov

    cdef cppclass Adam[T]:
        T learning_rate
        T beta_1
        T beta_2
        T epsilon
        T l2
        T weight_decay
        bint epsilon_hat

    cdef cppclass RmsProp[T]:
        T learning_rate
        T rho
        T epsilon
        T momentum
        T l2

    cdef cppclass Optimizer[T]:
        OptimizerKind kind
        Sgd[T] sgd
        Adam[T] adam
        RmsProp[T] rmsprop
        void set_learning_rate(T rate) noexcept
        void set_batch_weight(double weight) noexcept
        void start(long long t) noexcept

    void take_steps[T](Isa isa, const Optimizer[T]& o, T* syn, T* a, T* b, const T* step,
                       Py_ssize_t size, bint decay) noexcept


cdef extern from "tinynet_buffers.hh" namespace "tinynet" nogil:
    void gather_rows[T](const T* src__nc, const Py_ssize_t* order, T* dst__mc,
                        Py_ssize_t m, Py_ssize_t c) noexcept
    void copy_all[T](const T* src, T* dst, Py_ssize_t size) noexcept
    bint all_finite[T](const Machine& m, const T* x, Py_ssize_t size) noexcept


cdef extern from "tinynet_clock.hh" namespace "tinynet" nogil:
    cdef cppclass SignalClock:
        SignalClock() noexcept
        bint due() noexcept


cdef extern from "tinynet_random.hh" namespace "tinynet" nogil:
    void random_order(uint64_t key, uint64_t first, Py_ssize_t* order, uint64_t* sort_keys,
                      Py_ssize_t n) noexcept


cdef extern from "tinynet_road_small.hh" namespace "tinynet::small" nogil:
    const Py_ssize_t kMaxLanes
    const bint kAvailable

    cdef cppclass Fit[T]:
        Py_ssize_t n_synapses
        Py_ssize_t lanes
        const Py_ssize_t* sizes
        const Py_ssize_t* padded_offsets
        const Py_ssize_t* transposed_offsets
        Activation hidden
        Activation output
        bint bias
        Sgd[T] rule
        T clip

    void pad_all[T](const Fit[T]& plan, const Py_ssize_t* offsets, const T* compact,
                    T* padded) noexcept
    void unpad_all[T](const Fit[T]& plan, const Py_ssize_t* offsets, const T* padded,
                      T* compact) noexcept
    void run_epoch[T](Isa isa, const Fit[T]& plan, const T* X, const T* y, Py_ssize_t n,
                      const T* weights, T* next, T* velocity, T* const* layers,
                      T* const* deltas, double* abs_error_sum, double* loss_sum) noexcept


cdef extern from "tinynet_road_tiny.hh" namespace "tinynet::small" nogil:
    const Py_ssize_t kTinyRows

    enum RunEnd:
        kRunDone
        kRunDiverged
        kRunPaused

    cdef struct History:
        double* at
        Py_ssize_t row_stride
        Py_ssize_t column_stride

    RunEnd run_tiny[T](Isa isa, const Fit[T]& plan, const T* X, const T* y, Py_ssize_t n,
                       T* weights, Py_ssize_t epochs, const double* rates, double rate,
                       History history, SignalClock* clock, Py_ssize_t* completed) noexcept


cdef extern from "tinynet_road_members.hh" namespace "tinynet::members" nogil:
    const Py_ssize_t kLanes

    cdef cppclass Group[T]:
        Py_ssize_t n_synapses
        const Py_ssize_t* sizes
        const Py_ssize_t* offsets
        Activation hidden
        Activation output
        bint bias
        bint nesterov
        T clip
        const T* learning_rate
        const T* momentum
        const T* l2

    Py_ssize_t run_group[T](Isa isa, const Group[T]& g, const T* X, const T* y, Py_ssize_t n,
                            T* params, T* velocity, Py_ssize_t n_params, T* const* layers,
                            T* const* deltas, Py_ssize_t epochs, double* history,
                            Py_ssize_t stride, Py_ssize_t* diverged,
                            SignalClock* clock) noexcept


cdef extern from "tinynet_helper.hh" namespace "tinynet" nogil:
    int set_helper_mode(int mode) noexcept
    cdef cppclass BatchHelper:
        BatchHelper() except +
        void start(void (*work)(void*) noexcept nogil, void* context) noexcept
        void layer_ready() noexcept
        void wait_layers(int count) noexcept
        void wait() noexcept
