// RUN: parsimony-opt %s --parsimony-approximate-math | FileCheck %s

// erf (GELU), exp (softmax) and tanh (tanh-GELU) become arith polynomials.
// CHECK-LABEL: func @gelu_softmax
// CHECK-NOT: math.erf
// CHECK-NOT: math.exp
// CHECK-NOT: math.tanh
// CHECK: arith.mulf
// CHECK: return
func.func @gelu_softmax(%x: f32, %v: vector<16xf32>) -> (f32, vector<16xf32>, f32) {
  %0 = math.erf %x : f32
  %1 = math.exp %v : vector<16xf32>
  %2 = math.tanh %x : f32
  return %0, %1, %2 : f32, vector<16xf32>, f32
}

// f16 goes through f32.
// CHECK-LABEL: func @half
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK-NOT: math.exp
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @half(%x: f16) -> f16 {
  %0 = math.exp %x : f16
  return %0 : f16
}

// Ops without a polynomial form are left for libm / LLVM intrinsics.
// CHECK-LABEL: func @kept
// CHECK: math.sqrt
func.func @kept(%x: f32) -> f32 {
  %0 = math.sqrt %x : f32
  return %0 : f32
}
