/* A C program that uses a compiled model through its generated header. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "linear_gelu.h"

int main(void) {
  const parsimony_model_info *info = linear_gelu_info();
  printf("model %s: %d inputs, %d outputs\n", info->name, info->num_inputs,
         info->num_outputs);
  for (int i = 0; i < info->num_inputs; ++i)
    printf("input %s dtype %d rank %d dim0 %lld\n", info->inputs[i].name,
           info->inputs[i].dtype, info->inputs[i].rank,
           (long long)info->inputs[i].shape[0]);
  float x[4 * 8], w[8 * 16], b[16], y[4 * 16];
  /* x = 0 except x[0][0] = 1, w[0][j] = j / 16, b = 0: y[0][j] = gelu(j/16). */
  memset(x, 0, sizeof x);
  memset(w, 0, sizeof w);
  memset(b, 0, sizeof b);
  x[0] = 1.0f;
  for (int j = 0; j < 16; ++j)
    w[j] = j / 16.0f;
  if (linear_gelu_run_args(x, w, b, y) != 0)
    return 1;
  double worst = 0;
  for (int j = 0; j < 16; ++j) {
    double h = j / 16.0;
    double ref = 0.5 * h * (1 + erf(h / sqrt(2.0)));
    worst = fmax(worst, fabs(y[j] - ref));
  }
  /* Row 1 has zero input: gelu(0) = 0. */
  for (int j = 0; j < 16; ++j)
    worst = fmax(worst, fabs(y[16 + j]));
  printf("max abs err %.2e\n", worst);
  return worst < 1e-6 ? 0 : 1;
}
