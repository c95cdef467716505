// Hand-written CUDA reference for benchmarks/gpu_throughput.py: a yardstick only, never library code.
//
// One thread per path, the whole path in registers: Threefry-2x32-20 counters (seed, path, step) and
// Box-Muller exactly as pricer/random.py (so the same normals as our engine, up to sincospif's
// rounding), Black-Scholes or Heston QE-M (Andersen 2008, martingale-corrected, as
// pricer/models/heston.py), and an arithmetic Asian over every step or a continuously monitored
// up-and-out call (Brownian-bridge survival), as pricer/accumulators.py. Each block reduces its
// discounted payoffs and their squares and adds them to two doubles.

#define PSI_CRITICAL 1.5f

__device__ __forceinline__ unsigned int rotl(unsigned int x, int r) { return (x << r) | (x >> (32 - r)); }

__device__ __forceinline__ void threefry2x32(unsigned int k0, unsigned int k1, unsigned int x0, unsigned int x1,
                                             unsigned int* out0, unsigned int* out1) {
    const unsigned int schedule[3] = {k0, k1, k0 ^ k1 ^ 0x1BD11BDAu};
    const int rotations[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
    x0 += k0;
    x1 += k1;
#pragma unroll
    for (int i = 0; i < 5; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            x0 += x1;
            x1 = rotl(x1, rotations[i % 2][j]) ^ x0;
        }
        x0 += schedule[(i + 1) % 3];
        x1 += schedule[(i + 2) % 3] + (unsigned int)(i + 1);
    }
    *out0 = x0;
    *out1 = x1;
}

__device__ __forceinline__ float open_unit(unsigned int bits) {
    return ((float)(bits >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

// The discounted payoff of one path (the kernel below runs one per thread; the CPU check in
// tests/test_cuda_reference.py compiles this same function with g++).
__device__ __forceinline__ float path_payoff(unsigned int path, int steps, const float* __restrict__ dt_grid,
                                             unsigned int key0, unsigned int key1, int heston, float spot, float vol,
                                             float v0, float kappa, float theta, float xi, float rho, float rate,
                                             float dividend, int asian, float strike, float barrier, float expiry) {
    float x = logf(spot), v = v0;
    const float log_barrier = logf(barrier);
    float survival = x < log_barrier ? 1.0f : 0.0f;
    float average_sum = 0.0f;
    for (int k = 0; k < steps; ++k) {
        const float dt = dt_grid[k];
        unsigned int w0, w1;
        threefry2x32(key0, key1, path, (unsigned int)k, &w0, &w1);
        const float radius = sqrtf(-2.0f * logf(open_unit(w0)));
        float s, c;
        sincospif(2.0f * open_unit(w1), &s, &c);
        const float z_x = radius * c, z_v = radius * s;
        float x_next, step_variance;
        if (heston) {
            const float decay = expf(-kappa * dt), one_minus = -expm1f(-kappa * dt);
            const float mean = theta + (v - theta) * decay;
            const float var = v * xi * xi * decay * one_minus / kappa
                              + theta * xi * xi * one_minus * one_minus / (2.0f * kappa);
            const float psi = var / (mean * mean);
            const float psi_q = fminf(psi, PSI_CRITICAL);
            const float two_over = 2.0f / psi_q;
            const float b2 = two_over - 1.0f + sqrtf(two_over) * sqrtf(two_over - 1.0f);
            const float a = mean / (1.0f + b2);
            const float psi_e = fmaxf(psi, PSI_CRITICAL);
            const float p = (psi_e - 1.0f) / (psi_e + 1.0f);
            const float beta = (1.0f - p) / mean;
            const bool quadratic = psi <= PSI_CRITICAL;
            float v_next;
            if (quadratic) {
                const float root = sqrtf(b2) + z_v;
                v_next = a * root * root;
            } else {
                const float tail = normcdff(-z_v);
                v_next = tail >= 1.0f - p ? 0.0f : logf((1.0f - p) / fmaxf(tail, 1e-30f)) / beta;
            }
            const float k1 = 0.5f * dt * (kappa * rho / xi - 0.5f) - rho / xi;
            const float k2 = 0.5f * dt * (kappa * rho / xi - 0.5f) + rho / xi;
            const float k3 = 0.5f * dt * (1.0f - rho * rho);
            const float big_a = k2 + 0.5f * k3;
            float log_m;
            if (quadratic) {
                const float one_minus_2aa = fmaxf(1.0f - 2.0f * big_a * a, 1e-12f);
                log_m = big_a * b2 * a / one_minus_2aa - 0.5f * logf(one_minus_2aa);
            } else {
                log_m = logf(p + beta * (1.0f - p) / fmaxf(beta - big_a, 1e-12f));
            }
            const float k0 = -log_m - (k1 + 0.5f * k3) * v;
            x_next = x + (rate - dividend) * dt + k0 + k1 * v + k2 * v_next
                     + sqrtf(fmaxf(k3 * v + k3 * v_next, 0.0f)) * z_x;
            step_variance = 0.5f * (v + v_next) * dt;
            // the bridge's variance along a path that reaches the (up) barrier: the variance moves with the
            // log price, rho xi per unit (pricer/_bridge.py crossing_variance)
            const float gap = log_barrier - x, gap_next = log_barrier - x_next;
            if (gap > 0.0f && gap_next > 0.0f && step_variance > 1e-12f) {
                const float harmonic = gap * gap_next / (gap + gap_next);
                step_variance /= fmaxf(1.0f - rho * xi * dt * harmonic / step_variance, 0.25f);
            }
            v = v_next;
        } else {
            x_next = x + (rate - dividend - 0.5f * vol * vol) * dt + vol * sqrtf(dt) * z_x;
            step_variance = vol * vol * dt;
        }
        if (asian) {
            average_sum += expf(x_next);
        } else {
            const bool both_safe = (x < log_barrier) && (x_next < log_barrier);
            const float crossing = (both_safe && step_variance > 0.0f)
                ? expf(-2.0f * (log_barrier - x) * (log_barrier - x_next) / step_variance) : 0.0f;
            survival *= both_safe ? 1.0f - crossing : 0.0f;
        }
        x = x_next;
    }
    const float discount = expf(-rate * expiry);
    return asian ? discount * fmaxf(average_sum / (float)steps - strike, 0.0f)
                   : discount * fmaxf(expf(x) - strike, 0.0f) * survival;
}

#ifdef __CUDACC__
extern "C" __global__ void mc_paths(unsigned int n_paths, int steps, const float* __restrict__ dt_grid,
                                    unsigned int key0, unsigned int key1, int heston, float spot, float vol,
                                    float v0, float kappa, float theta, float xi, float rho, float rate,
                                    float dividend, int asian, float strike, float barrier, float expiry,
                                    double* __restrict__ sums) {
    unsigned int path = blockIdx.x * blockDim.x + threadIdx.x;
    float payoff = path < n_paths ? path_payoff(path, steps, dt_grid, key0, key1, heston, spot, vol, v0, kappa, theta,
                                                xi, rho, rate, dividend, asian, strike, barrier, expiry) : 0.0f;
    // block reduction: warp shuffles, then one double atomic per warp
    float sum = payoff, sum_squares = payoff * payoff;
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        sum += __shfl_down_sync(0xffffffffu, sum, offset);
        sum_squares += __shfl_down_sync(0xffffffffu, sum_squares, offset);
    }
    if ((threadIdx.x & 31) == 0) {
        atomicAdd(&sums[0], (double)sum);
        atomicAdd(&sums[1], (double)sum_squares);
    }
}
#endif
