/* Picks a shape variant of a compiled model at call time through the
   generated header: lists the variants, runs seq=8 with run_shaped and
   compares with the reference, then asks for shapes nobody compiled. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dynamic.h"

/* Reads the payload of a little-endian float32 .npy file. */
static float *load_npy(const char *path, long count) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  unsigned char magic[10];
  if (fread(magic, 1, 10, f) != 10) {
    fclose(f);
    return 0;
  }
  long header = magic[8] | (magic[9] << 8);
  fseek(f, 10 + header, SEEK_SET);
  float *data = malloc(count * sizeof(float));
  long got = (long)fread(data, sizeof(float), count, f);
  fclose(f);
  return got == count ? data : 0;
}

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  int32_t n = dynamic_num_variants();
  for (int32_t v = 0; v < n; ++v) {
    const parsimony_model_info *info = dynamic_variant_info(v);
    printf("variant %d:", v);
    for (int32_t d = 0; d < info->num_dims; ++d)
      printf(" %s=%lld", info->dim_names[d], (long long)info->dim_values[d]);
    printf(" -> y [%lld, %lld]\n", (long long)info->outputs[0].shape[0],
           (long long)info->outputs[0].shape[1]);
  }
  if (dynamic_variant_info(n) != 0 || dynamic_variant_info(-1) != 0)
    return 3;

  char path[4096];
  snprintf(path, sizeof path, "%s/x8.npy", argv[1]);
  float *x = load_npy(path, 2 * 8 * 32);
  snprintf(path, sizeof path, "%s/y8.npy", argv[1]);
  float *ref = load_npy(path, 2 * 8 * 32);
  if (!x || !ref)
    return 4;
  int64_t shape[3] = {2, 8, 32};
  const int64_t *shapes[1] = {shape};
  int32_t v = dynamic_find_variant(shapes);
  const parsimony_model_info *info = dynamic_variant_info(v);
  float *y = malloc(info->outputs[0].shape[0] * info->outputs[0].shape[1] *
                    sizeof(float));
  const void *inputs[1] = {x};
  void *outputs[1] = {y};
  int32_t rc = dynamic_run_shaped(inputs, shapes, outputs);
  double worst = 0;
  for (int i = 0; i < 2 * 8 * 32; ++i)
    worst = fmax(worst, fabs(y[i] - ref[i]));
  printf("seq=8: variant %d rc %d max abs err %s\n", v, rc,
         worst < 1e-5 ? "< 1e-5" : "TOO LARGE");

  shape[1] = 5;
  printf("seq=5: find %d", dynamic_find_variant(shapes));
  rc = dynamic_run_shaped(inputs, shapes, outputs);
  printf(" rc %d: %s\n", rc, parsimony_model_v1_last_error());
  rc = dynamic_run_variant(n, inputs, outputs);
  printf("variant %d: rc %d: %s\n", n, rc, parsimony_model_v1_last_error());
  rc = parsimony_model_v1_run_variant(1, inputs, outputs);
  printf("variant 1 again: rc %d, error '%s'\n", rc,
         parsimony_model_v1_last_error());
  free(x);
  free(ref);
  free(y);
  return 0;
}
