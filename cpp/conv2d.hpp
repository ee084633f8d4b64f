// Convolution entry point used by the bindings: prepares what the kernels need (packed weights
// for NHWC) and calls the active ISA's kernel.
#pragma once
#include "common/params.hpp"

namespace fastconv {

template <typename T>
void conv2d(Conv2dArgs<T> args);

}  // namespace fastconv
