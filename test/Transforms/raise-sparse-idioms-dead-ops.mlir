// RUN: parsimony-opt %s --spx-raise-sparse-idioms | FileCheck %s

// The raising erases ops left unused after it rewrote the graph. A dead op
// with a region (here a generic whose body holds an unused multiply) is
// erased with its body; the body's ops were once erased a second time (a
// double free found by the importer fuzzer).
// CHECK-LABEL: func.func @dead_generic
// CHECK-NOT: linalg.generic
// CHECK-NOT: arith.mulf
// CHECK: return %arg0
#map = affine_map<(d0) -> (d0)>
func.func @dead_generic(%x: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %g = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %unused = arith.mulf %in, %in : f32
    %s = arith.addf %in, %in : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %x : tensor<4xf32>
}
