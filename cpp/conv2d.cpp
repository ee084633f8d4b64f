#include "conv2d.hpp"

#include <type_traits>
#include <vector>

#include "dispatch.hpp"

namespace fastconv {
namespace {

// (C_out, C_in/groups, KH, KW) -> (KH, KW, C_in/groups, C_out): output channels contiguous, so
// the NHWC kernel's innermost loop is a unit-stride multiply-add over them.
template <typename T>
std::vector<T> pack_weight_hwio(const Conv2dArgs<T>& a) {
    const int64_t in_per_group = a.in_channels / a.groups;
    const int64_t kh_count = a.kernel_height, kw_count = a.kernel_width;
    std::vector<T> packed(static_cast<size_t>(kh_count * kw_count * in_per_group * a.out_channels));
    for (int64_t oc = 0; oc < a.out_channels; ++oc)
        for (int64_t ic = 0; ic < in_per_group; ++ic)
            for (int64_t kh = 0; kh < kh_count; ++kh)
                for (int64_t kw = 0; kw < kw_count; ++kw)
                    packed[((kh * kw_count + kw) * in_per_group + ic) * a.out_channels + oc] =
                        a.weight[((oc * in_per_group + ic) * kh_count + kh) * kw_count + kw];
    return packed;
}

}  // namespace

template <typename T>
void conv2d(Conv2dArgs<T> args) {
    std::vector<T> packed;
    if (args.nhwc) {
        packed = pack_weight_hwio(args);
        args.weight_hwio = packed.data();
    }
    if constexpr (std::is_same_v<T, float>)
        kernels().conv2d_f32_direct(args);
    else
        kernels().conv2d_f64_direct(args);
}

template void conv2d<float>(Conv2dArgs<float>);
template void conv2d<double>(Conv2dArgs<double>);

}  // namespace fastconv
