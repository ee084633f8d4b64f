// Packing of one input channel into its zero-padded stride phases (see PackGeometry), shared by
// the whole-image packing in conv2d.cpp and the per-group packing inside the igemm kernels.
// Internal linkage and plain loops only: per-ISA files include it.
#pragma once
#include "common/params.hpp"
#include "common/util.hpp"

namespace fastconv {
namespace packing {

template <typename T>
static inline void fill_zero(T* begin, int64_t count) {
    for (int64_t i = 0; i < count; ++i) begin[i] = T(0);
}

// Channel c of `image` -> `channel` (sh * sw planes of p.plane elements); `only_phase` >= 0:
// that phase (ph * sw + pw) alone. Interior: only the cells that hold input are written, the
// padding left as it is (a buffer zeroed once serves every channel packed into it, without a
// fill per row: such short fills become memset calls).
template <typename T, bool Interior = false>
static inline void pack_channel(const PackGeometry& p, const T* image, int64_t c, T* channel,
                                int64_t only_phase = -1) {
    for (int64_t ph = 0; ph < p.stride_h; ++ph)
        for (int64_t pw = 0; pw < p.stride_w; ++pw) {
            if (only_phase >= 0 && only_phase != ph * p.stride_w + pw) continue;
            T* phase = channel + (ph * p.stride_w + pw) * p.plane;
            // columns q of this phase that hold input: iw = q * sw + pw - pad_left in [0, W)
            int64_t q0, q1;
            util::valid_output_range(pw - p.pad_left, p.stride_w, p.in_width, p.pitch, &q0, &q1);
            for (int64_t r = 0; r < p.phase_rows; ++r) {
                const int64_t ih = r * p.stride_h + ph - p.pad_top;
                T* row = phase + r * p.pitch;
                if (ih < 0 || ih >= p.in_height || q0 >= q1) {  // a padding row
                    if (!Interior) fill_zero(row, p.pitch);
                    continue;
                }
                if (!Interior) {
                    fill_zero(row, q0);
                    fill_zero(row + q1, p.pitch - q1);
                }
                const int64_t first_iw = q0 * p.stride_w + pw - p.pad_left;
                if (p.nhwc) {
                    const T* src = image + (ih * p.in_width + first_iw) * p.in_channels + c;
                    const int64_t step = p.stride_w * p.in_channels;
                    for (int64_t q = q0; q < q1; ++q) row[q] = src[(q - q0) * step];
                } else {
                    const T* src = image + (c * p.in_height + ih) * p.in_width + first_iw;
                    if (p.stride_w == 1)
                        for (int64_t q = q0; q < q1; ++q) row[q] = src[q - q0];
                    else if (p.stride_w == 2)  // constant strides the compiler vectorises
                        for (int64_t q = q0; q < q1; ++q) row[q] = src[2 * (q - q0)];
                    else if (p.stride_w == 4)  // AlexNet's first layer
                        for (int64_t q = q0; q < q1; ++q) row[q] = src[4 * (q - q0)];
                    else
                        for (int64_t q = q0; q < q1; ++q) row[q] = src[(q - q0) * p.stride_w];
                }
            }
            if (!Interior)  // slack the tiles read
                fill_zero(phase + p.phase_rows * p.pitch, p.plane - p.phase_rows * p.pitch);
        }
}

}  // namespace packing
}  // namespace fastconv
