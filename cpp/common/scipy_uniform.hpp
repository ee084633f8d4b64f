// scipy_uniform kernels (ScipyUniformArgs in params.hpp): scipy.ndimage.uniform_filter1d with
// SciPy's bits. Included once per ISA by scipy_uniform_<isa>.cpp; built with -ffp-contract=off.
//
// SciPy (NI_UniformFilter1D) runs a sum along each extended line: tmp = 0, tmp += x for the
// first `size` elements, then tmp += (entering - leaving) per step, and stores tmp / size. That
// chain is sequential along a line, so the vectors run across lines instead: along the last axis
// a job extends V::lanes lines into one interleaved buffer (element q of lane l at q * lanes + l)
// and runs the chain on whole vectors; along another axis the lines are the inner elements,
// already side by side in memory.
#include <cstdint>
#include <type_traits>

#include "common/params.hpp"
#include "common/scipy_exact.hpp"
#include "common/util.hpp"
#include "common/vec.hpp"

#ifndef FASTCONV_ISA
#error "define FASTCONV_ISA before including scipy_uniform.hpp"
#endif

namespace fastconv {
namespace FASTCONV_ISA {
namespace {

// Along the last axis (inner == 1).
template <typename In, typename Out>
void uniform_last_axis(const ScipyUniformArgs& a) {
    using V = VecF64;
    constexpr int L = V::lanes;
    const int64_t length = a.length;
    const int64_t size = a.size;
    const int64_t extended = length + size - 1;
    const int64_t jobs = (a.outer + L - 1) / L;
    const int threads = a.num_threads;
    const In* input = static_cast<const In*>(a.input);
    Out* output = static_cast<Out*>(a.output);
    const int run = scipy_run_length(jobs, threads);
    (void)run;  // read by the OpenMP pragma only
    FASTCONV_SCIPY_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        double* buffer = a.scratch + util::thread_index() * a.scratch_elements;
        double* sums = buffer + extended * L;
        const int64_t first_line = job * L;
        const int64_t lanes_used = util::min_i64(L, a.outer - first_line);
        for (int64_t lane = 0; lane < L; ++lane) {
            if (lane >= lanes_used) {
                for (int64_t q = 0; q < extended; ++q) buffer[q * L + lane] = 0.0;
                continue;
            }
            const In* line = input + (first_line + lane) * length;
            for (int64_t q = 0; q < extended; ++q) {
                const int64_t index = scipy_index(q - a.before, length, a.mode);
                buffer[q * L + lane] = index < 0 ? a.cval : static_cast<double>(line[index]);
            }
        }
        const V divisor = V::broadcast(static_cast<double>(size));
        V sum = V::zero();
        for (int64_t q = 0; q < size; ++q) sum = add(sum, V::load(buffer + q * L));
        div(sum, divisor).store(sums);
        for (int64_t l = 1; l < length; ++l) {
            sum = add(sum, sub(V::load(buffer + (l - 1 + size) * L), V::load(buffer + (l - 1) * L)));
            div(sum, divisor).store(sums + l * L);
        }
        for (int64_t lane = 0; lane < lanes_used; ++lane) {
            Out* out = output + (first_line + lane) * length;
            for (int64_t l = 0; l < length; ++l) out[l] = static_cast<Out>(sums[l * L + lane]);
        }
    }
}

// Along an axis with `inner` elements after it: those elements are independent lines.
template <typename In, typename Out>
void uniform_inner(const ScipyUniformArgs& a) {
    const int64_t length = a.length;
    const int64_t inner = a.inner;
    const int64_t size = a.size;
    const int64_t chunks = (inner + a.inner_chunk - 1) / a.inner_chunk;
    const int64_t jobs = a.outer * chunks;
    const int threads = a.num_threads;
    const In* input = static_cast<const In*>(a.input);
    Out* output = static_cast<Out*>(a.output);
    const int run = scipy_run_length(jobs, threads);
    (void)run;  // read by the OpenMP pragma only
    FASTCONV_SCIPY_PARALLEL_FOR_JOBS
    for (int64_t job = 0; job < jobs; ++job) {
        double* sum = a.scratch + util::thread_index() * a.scratch_elements;
        double* entering_buffer = sum + a.inner_chunk;
        double* leaving_buffer = entering_buffer + a.inner_chunk;
        double* constant_row = leaving_buffer + a.inner_chunk;
        const int64_t outer = job / chunks;
        const int64_t c0 = (job % chunks) * a.inner_chunk;
        const int64_t m = util::min_i64(a.inner_chunk, inner - c0);
        const In* in = input + outer * length * inner + c0;
        Out* out = output + outer * length * inner + c0;
        for (int64_t k = 0; k < m; ++k) constant_row[k] = a.cval;
        // Extended element q of every line in the chunk, as doubles.
        auto row = [&](int64_t q, double* buffer) -> const double* {
            const int64_t index = scipy_index(q - a.before, length, a.mode);
            if (index < 0) return constant_row;
            if constexpr (std::is_same_v<In, double>) {
                (void)buffer;
                return in + index * inner;
            } else {
                convert_elements(buffer, in + index * inner, m);
                return buffer;
            }
        };
        const double divisor = static_cast<double>(size);
        for (int64_t k = 0; k < m; ++k) sum[k] = 0.0;
        for (int64_t q = 0; q < size; ++q) {
            const double* x = row(q, entering_buffer);
            for (int64_t k = 0; k < m; ++k) sum[k] = sum[k] + x[k];
        }
        for (int64_t k = 0; k < m; ++k) out[k] = static_cast<Out>(sum[k] / divisor);
        for (int64_t l = 1; l < length; ++l) {
            const double* entering = row(l - 1 + size, entering_buffer);
            const double* leaving = row(l - 1, leaving_buffer);
            Out* out_row = out + l * inner;
            for (int64_t k = 0; k < m; ++k) {
                sum[k] = sum[k] + (entering[k] - leaving[k]);
                out_row[k] = static_cast<Out>(sum[k] / divisor);
            }
        }
    }
}

template <typename In, typename Out>
void uniform_typed(const ScipyUniformArgs& a) {
    if (a.inner == 1)
        uniform_last_axis<In, Out>(a);
    else
        uniform_inner<In, Out>(a);
}

}  // namespace

void scipy_uniform_f64(const ScipyUniformArgs& a) {
    const bool in32 = a.input_type == ElementType::float32;
    const bool out32 = a.output_type == ElementType::float32;
    if (in32 && out32)
        uniform_typed<float, float>(a);
    else if (in32)
        uniform_typed<float, double>(a);
    else if (out32)
        uniform_typed<double, float>(a);
    else
        uniform_typed<double, double>(a);
}

}  // namespace FASTCONV_ISA
}  // namespace fastconv
