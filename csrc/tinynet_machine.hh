// What one fit runs on, as its plan chose it (tinynet/_plan.py): one instruction set (its
// elementwise kernels' table, and the set every other kernel runs in: run_on,
// tinynet_platform.hh) and one BLAS. Every kernel that needs either takes the fit's Machine,
// so fits in different threads may choose differently; nothing here is process-wide.
#ifndef TINYNET_MACHINE_HH
#define TINYNET_MACHINE_HH

#include "tinynet_blas.hh"
#include "tinynet_platform.hh"
#include "tinynet_vmath.hh"

namespace tinynet {

struct Machine {
    Isa isa = kBaseline;
    vmath::Kernels<double> f64 = vmath::kernels_for<double>(kBaseline);
    vmath::Kernels<float> f32 = vmath::kernels_for<float>(kBaseline);
    blas::Gemm gemm;

    // The elementwise kernels of `isa`, which the CPU must run.
    void use_isa(Isa chosen) {
        isa = chosen;
        f64 = vmath::kernels_for<double>(chosen);
        f32 = vmath::kernels_for<float>(chosen);
    }

    const vmath::Kernels<double>& kernels(double) const { return f64; }
    const vmath::Kernels<float>& kernels(float) const { return f32; }
};

}  // namespace tinynet

#endif  // TINYNET_MACHINE_HH
