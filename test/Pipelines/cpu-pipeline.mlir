// RUN: parsimony-opt %s --parsimony-cpu-pipeline | FileCheck %s
// RUN: parsimony-opt %s --parsimony-cpu-pipeline="kernels=false" | FileCheck %s --check-prefix=LOOPS
// RUN: parsimony-opt %s --parsimony-cpu-pipeline="approximate-math=false fuse-epilogues=false" | FileCheck %s --check-prefix=LIBM
// RUN: parsimony-opt %s --parsimony-cpu-pipeline="fuse-epilogues=false" | FileCheck %s --check-prefix=UNFUSED
// Stages in isolation: bufferization turns results into caller-allocated
// out-parameters and frees temporaries.
// RUN: parsimony-opt %s --linalg-fuse-elementwise-ops \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --buffer-results-to-out-params="hoist-static-allocs modify-public-functions" \
// RUN:   --buffer-deallocation-pipeline | FileCheck %s --check-prefix=BUFFERS

// A linear layer with bias and GELU, as the importer emits it. Bias and GELU
// are fused into the GEMM's epilogue (--spx-fuse-epilogues; activation code
// 2 = gelu), so no loop over the output and no libm erf remain.
// CHECK: llvm.func @parsimony_sgemm_epilogue(
// CHECK-LABEL: llvm.func @main(
// CHECK-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// CHECK-DAG: %[[GELU:.*]] = llvm.mlir.constant(2 : i32) : i32
// CHECK: llvm.call @parsimony_sgemm_epilogue({{.*}}, %[[GELU]], {{.*}})
// CHECK-NOT: llvm.call @erff
// CHECK-NOT: llvm.call @parsimony_sgemm_batched
// CHECK-NOT: llvm.fmul
// CHECK: llvm.return
// CHECK-NOT: func.func
// CHECK-NOT: linalg.
// LOOPS-NOT: @parsimony_sgemm
// UNFUSED: llvm.call @parsimony_sgemm_batched
// UNFUSED-NOT: @parsimony_sgemm_epilogue
// LOOPS: llvm.func @main
// LOOPS: llvm.fmul
// LIBM: llvm.call @erff
// BUFFERS-LABEL: func.func @main(
// BUFFERS-SAME: %{{.*}}: memref<4x8xf32>, %{{.*}}: memref<8x16xf32>, %{{.*}}: memref<16xf32>, %[[OUT:.*]]: memref<4x16xf32>) {
// BUFFERS: %[[TMP:.*]] = memref.alloc() {{.*}} : memref<4x16xf32>
// BUFFERS: linalg.matmul {{.*}} outs(%[[TMP]] : memref<4x16xf32>)
// BUFFERS: linalg.generic {{.*}} outs(%[[OUT]] : memref<4x16xf32>)
// BUFFERS: memref.dealloc %[[TMP]]
// BUFFERS: return
func.func @main(%x: tensor<4x8xf32>, %w1: tensor<8x16xf32>, %b1: tensor<16xf32>) -> tensor<4x16xf32> {
  %z = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %one = arith.constant 1.0 : f32
  %rsqrt2 = arith.constant 0.707106769 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %w1 : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %e2 = tensor.empty() : tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i,j)->(i,j)>, affine_map<(i,j)->(j)>, affine_map<(i,j)->(i,j)>], iterator_types = ["parallel","parallel"]}
     ins(%m, %b1 : tensor<4x16xf32>, tensor<16xf32>) outs(%e2 : tensor<4x16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %t = arith.mulf %s, %rsqrt2 : f32
    %u = math.erf %t : f32
    %v = arith.addf %u, %one : f32
    %w = arith.mulf %s, %v : f32
    %q = arith.mulf %w, %half : f32
    linalg.yield %q : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}
