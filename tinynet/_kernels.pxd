# Declarations of the C++ kernels in csrc/tinynet_kernels.hh (see that file for the math).
# Each is a template over the element type; Cython deduces it from the pointers passed.

cdef extern from "tinynet_kernels.hh" namespace "tinynet" nogil:
    void sigmoid_all[T](const T* x, T* out, Py_ssize_t size) noexcept
    void dot[T](const T* a__nk, const T* b__kj, T* c__nj,
                Py_ssize_t n, Py_ssize_t k, Py_ssize_t j) noexcept
    void transpose_dot[T](const T* a__nk, const T* b__nj, T* c__kj,
                          Py_ssize_t n, Py_ssize_t k, Py_ssize_t j) noexcept
    void forward_layer[T](const T* l_prev__nk, const T* syn__kj, T* l__nj,
                          Py_ssize_t n, Py_ssize_t k, Py_ssize_t j) noexcept
    void output_delta[T](const T* y, const T* l, T* l_delta, Py_ssize_t size,
                         double* abs_error_sum, double* squared_error_sum) noexcept
    void hidden_delta[T](const T* l_next_delta__nj, const T* syn__kj, const T* l__nk,
                         T* l_delta__nk, Py_ssize_t n, Py_ssize_t k, Py_ssize_t j) noexcept
    void update[T](T* syn, const T* step, Py_ssize_t size, T learning_rate) noexcept
