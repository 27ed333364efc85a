// Shape formatting for error messages.
#include "core/tensor.h"

namespace tessera {

std::string Shape::to_string() const {
    std::string s = "[";
    for (int i = 0; i < ndim; ++i) {
        if (i) s += ", ";
        s += std::to_string(dims[size_t(i)]);
    }
    return s + "]";
}

}  // namespace tessera
