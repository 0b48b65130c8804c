//===- ReferenceActivations.h - double-precision activation reference -----===//
//
// The spx activation codes (0 identity, 1 relu, 2 gelu, 3 gelu_tanh, 4 silu,
// 5 sigmoid) computed in double with libm, for the runtime kernel tests.
//
//===----------------------------------------------------------------------===//

#ifndef PARSIMONY_UNITTESTS_REFERENCEACTIVATIONS_H
#define PARSIMONY_UNITTESTS_REFERENCEACTIVATIONS_H

#include <cmath>

inline double refAct(int code, double v) {
  switch (code) {
  case 1:
    return v > 0 ? v : 0;
  case 2:
    return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
  case 3:
    return 0.5 * v *
           (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  case 4:
    return v / (1 + std::exp(-v));
  case 5:
    return 1 / (1 + std::exp(-v));
  default:
    return v;
  }
}

#endif // PARSIMONY_UNITTESTS_REFERENCEACTIVATIONS_H
