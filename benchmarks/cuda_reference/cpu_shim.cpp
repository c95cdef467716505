// Builds heston_mc.cu's path_payoff for a CPU (g++), so that the CUDA yardstick is checked against our
// engine without a GPU (tests/test_cuda_reference.py). Only the CUDA spellings are supplied here.
#include <cmath>
#define __device__
#define __forceinline__ inline
#define __restrict__
static inline void sincospif(float x, float* s, float* c) {
    const double angle = M_PI * (double)x;
    *s = (float)std::sin(angle);
    *c = (float)std::cos(angle);
}
static inline float normcdff(float x) { return 0.5f * std::erfc(-x * (float)M_SQRT1_2); }
#include "heston_mc.cu"

extern "C" void path_payoffs(unsigned int n_paths, int steps, const float* dt_grid, unsigned int key0,
                             unsigned int key1, int heston, const float* p, int asian, float* out) {
    // p: spot, vol, v0, kappa, theta, xi, rho, rate, dividend, strike, barrier, expiry
    for (unsigned int path = 0; path < n_paths; ++path)
        out[path] = path_payoff(path, steps, dt_grid, key0, key1, heston, p[0], p[1], p[2], p[3], p[4], p[5], p[6],
                                p[7], p[8], asian, p[9], p[10], p[11]);
}
