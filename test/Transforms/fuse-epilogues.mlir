// RUN: parsimony-opt %s --spx-fuse-epilogues --split-input-file | FileCheck %s

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>

// Bias and erf-GELU in one generic after a matmul (the importer's form after
// elementwise fusion). The dead zero fill goes with the matmul.
// CHECK-LABEL: func.func @bias_gelu(
// CHECK-SAME: %[[X:.*]]: tensor<4x8xf32>, %[[W:.*]]: tensor<8x16xf32>, %[[B:.*]]: tensor<16xf32>)
// CHECK-NOT: linalg.fill
// CHECK: %[[Y:.*]] = spx.matmul %[[X]], %[[W]] bias %[[B]] {activation = #spx<activation gelu>}
// CHECK-NOT: linalg.
// CHECK: return %[[Y]]
func.func @bias_gelu(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %b: tensor<16xf32>) -> tensor<4x16xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %b : tensor<4x16xf32>, tensor<16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %s = arith.addf %v, %bias : f32
    %c = arith.constant 0.707106769 : f32
    %t = arith.mulf %s, %c : f32
    %erf = math.erf %t : f32
    %one = arith.constant 1.0 : f32
    %p = arith.addf %erf, %one : f32
    %half = arith.constant 0.5 : f32
    %h = arith.mulf %s, %half : f32
    %g = arith.mulf %h, %p : f32
    linalg.yield %g : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>

// relu then a residual add, the weight read through a transpose (Gemm with
// transB): the weight stays [N, K] and the op reads it nk.
// CHECK-LABEL: func.func @transposed_relu_residual(
// CHECK-SAME: %[[X:.*]]: tensor<4x8xf32>, %[[W:.*]]: tensor<16x8xf32>, %[[B:.*]]: tensor<16xf32>, %[[R:.*]]: tensor<4x16xf32>)
// CHECK: spx.matmul %[[X]], %[[W]] bias %[[B]] residual %[[R]] {activation = #spx<activation relu>, layout = #spx<layout nk>}
func.func @transposed_relu_residual(%x: tensor<4x8xf32>, %w: tensor<16x8xf32>, %b: tensor<16xf32>, %res: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %z = arith.constant 0.0 : f32
  %et = tensor.empty() : tensor<8x16xf32>
  %wt = linalg.transpose ins(%w : tensor<16x8xf32>) outs(%et : tensor<8x16xf32>) permutation = [1, 0]
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %wt : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #col, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %b, %res : tensor<4x16xf32>, tensor<16xf32>, tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %bias: f32, %rv: f32, %o: f32):
    %s = arith.addf %bias, %v : f32
    %zero = arith.constant 0.0 : f32
    %a = arith.maximumf %s, %zero : f32
    %y = arith.addf %rv, %a : f32
    linalg.yield %y : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

#x3 = affine_map<(b, s, n, k) -> (b, s, k)>
#w = affine_map<(b, s, n, k) -> (k, n)>
#o3 = affine_map<(b, s, n, k) -> (b, s, n)>
#id3 = affine_map<(b, s, n) -> (b, s, n)>

// A 3-D contraction (tokens [2, 3]) with only a residual add.
// CHECK-LABEL: func.func @residual_only_3d(
// CHECK: spx.matmul %{{.*}}, %{{.*}} residual %{{.*}} : (tensor<2x3x8xf32>, tensor<8x16xf32>, tensor<2x3x16xf32>) -> tensor<2x3x16xf32>
func.func @residual_only_3d(%x: tensor<2x3x8xf32>, %w: tensor<8x16xf32>, %res: tensor<2x3x16xf32>) -> tensor<2x3x16xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x3x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x3x16xf32>) -> tensor<2x3x16xf32>
  %m = linalg.generic {indexing_maps = [#x3, #w, #o3], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<2x3x8xf32>, tensor<8x16xf32>) outs(%f : tensor<2x3x16xf32>) {
  ^bb0(%a: f32, %bw: f32, %acc: f32):
    %p = arith.mulf %a, %bw : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x3x16xf32>
  %r = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%res, %m : tensor<2x3x16xf32>, tensor<2x3x16xf32>) outs(%e : tensor<2x3x16xf32>) {
  ^bb0(%rv: f32, %v: f32, %o: f32):
    %y = arith.addf %rv, %v : f32
    linalg.yield %y : f32
  } -> tensor<2x3x16xf32>
  return %r : tensor<2x3x16xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>

// silu, written x * (1 / (1 + exp(-x))).
// CHECK-LABEL: func.func @silu(
// CHECK: spx.matmul %{{.*}}, %{{.*}} {activation = #spx<activation silu>}
// CHECK-NOT: linalg.
func.func @silu(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>) -> tensor<4x16xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m : tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %n = arith.negf %v : f32
    %ex = math.exp %n : f32
    %one = arith.constant 1.0 : f32
    %d = arith.addf %one, %ex : f32
    %s = arith.divf %one, %d : f32
    %y = arith.mulf %v, %s : f32
    linalg.yield %y : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>

// Not fused: the product has a second use (it is needed anyway).
// CHECK-LABEL: func.func @product_used_twice(
// CHECK: linalg.matmul
// CHECK: linalg.generic
// CHECK-NOT: spx.matmul
func.func @product_used_twice(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %b: tensor<16xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>) {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %b : tensor<4x16xf32>, tensor<16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %s = arith.addf %v, %bias : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  return %r, %m : tensor<4x16xf32>, tensor<4x16xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>

// Not fused: the epilogue multiplies by another tensor, and tanh is not an
// epilogue activation.
// CHECK-LABEL: func.func @not_an_epilogue(
// CHECK-NOT: spx.matmul
// CHECK: linalg.matmul
// CHECK-NOT: spx.matmul
func.func @not_an_epilogue(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %g: tensor<4x16xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>) {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %g : tensor<4x16xf32>, tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %gv: f32, %o: f32):
    %y = arith.mulf %v, %gv : f32
    linalg.yield %y : f32
  } -> tensor<4x16xf32>
  %m2 = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m2 : tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %y = math.tanh %v : f32
    linalg.yield %y : f32
  } -> tensor<4x16xf32>
  return %r, %t : tensor<4x16xf32>, tensor<4x16xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>

// Not fused: an accumulator that is not zero (beta = 1 semantics).
// CHECK-LABEL: func.func @nonzero_accumulator(
// CHECK-NOT: spx.matmul
func.func @nonzero_accumulator(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %acc: tensor<4x16xf32>, %b: tensor<16xf32>) -> tensor<4x16xf32> {
  %e = tensor.empty() : tensor<4x16xf32>
  %m = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) -> tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %b : tensor<4x16xf32>, tensor<16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %s = arith.addf %v, %bias : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>

// A weight-only quantized projection takes bias, sigmoid and residual as its
// own epilogue.
// CHECK-LABEL: func.func @quant_bias_sigmoid_residual(
// CHECK-SAME: %[[X:.*]]: tensor<4x8xf32>, %[[Q:.*]]: tensor<16x8xi8>, %[[S:.*]]: tensor<16xf32>, %[[B:.*]]: tensor<16xf32>, %[[R:.*]]: tensor<4x16xf32>)
// CHECK: %[[Y:.*]] = spx.quant_matmul %[[X]], %[[Q]] scales %[[S]] bias %[[B]] residual %[[R]] {activation = #spx<activation sigmoid>, layout = #spx<layout nk>, quant = #spx.quant<bits = 8>}
// CHECK-NOT: linalg.
// CHECK: return %[[Y]]
func.func @quant_bias_sigmoid_residual(%x: tensor<4x8xf32>, %q: tensor<16x8xi8>, %s: tensor<16xf32>, %b: tensor<16xf32>, %res: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %m = spx.quant_matmul %x, %q scales %s {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<16x8xi8>, tensor<16xf32>) -> tensor<4x16xf32>
  %e = tensor.empty() : tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #col, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %b, %res : tensor<4x16xf32>, tensor<16xf32>, tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %bias: f32, %rv: f32, %o: f32):
    %s1 = arith.addf %v, %bias : f32
    %n = arith.negf %s1 : f32
    %ex = math.exp %n : f32
    %one = arith.constant 1.0 : f32
    %d = arith.addf %one, %ex : f32
    %sig = arith.divf %one, %d : f32
    %y = arith.addf %sig, %rv : f32
    linalg.yield %y : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>

// A product of 8-bit integer activations (a raised MatMulInteger) keeps its
// zero point and unsigned reading when it takes the epilogue.
// CHECK-LABEL: func.func @quant_integer_input_bias_relu(
// CHECK-SAME: %[[X:.*]]: tensor<4x8xi8>, %[[Q:.*]]: tensor<16x8xi8>, %[[S:.*]]: tensor<16xf32>, %[[Z:.*]]: i32, %[[B:.*]]: tensor<16xf32>)
// CHECK: %[[Y:.*]] = spx.quant_matmul %[[X]], %[[Q]] scales %[[S]] input_zero_point %[[Z]] bias %[[B]] {activation = #spx<activation relu>, input_unsigned, layout = #spx<layout nk>, quant = #spx.quant<bits = 8>}
// CHECK-NOT: linalg.
// CHECK: return %[[Y]]
func.func @quant_integer_input_bias_relu(%x: tensor<4x8xi8>, %q: tensor<16x8xi8>, %s: tensor<16xf32>, %zp: i32, %b: tensor<16xf32>) -> tensor<4x16xf32> {
  %m = spx.quant_matmul %x, %q scales %s input_zero_point %zp {input_unsigned, layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x8xi8>, tensor<16x8xi8>, tensor<16xf32>, i32) -> tensor<4x16xf32>
  %e = tensor.empty() : tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %b : tensor<4x16xf32>, tensor<16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %a = arith.addf %v, %bias : f32
    %zero = arith.constant 0.0 : f32
    %y = arith.maximumf %a, %zero : f32
    linalg.yield %y : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>

// Not fused into a quantized projection: its product is also returned, and
// a product with an epilogue already takes no second one.
// CHECK-LABEL: func.func @quant_not_fused(
// CHECK: %[[M:.*]] = spx.quant_matmul %{{.*}}, %{{.*}} scales %{{.*}} {
// CHECK: linalg.generic
// CHECK: %[[M2:.*]] = spx.quant_matmul %{{.*}}, %{{.*}} scales %{{.*}} bias %{{.*}} {
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[M2]] :
func.func @quant_not_fused(%x: tensor<4x8xf32>, %q: tensor<16x8xi8>, %s: tensor<16xf32>, %b: tensor<16xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>) {
  %m = spx.quant_matmul %x, %q scales %s {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<16x8xi8>, tensor<16xf32>) -> tensor<4x16xf32>
  %e = tensor.empty() : tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %b : tensor<4x16xf32>, tensor<16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %bias: f32, %o: f32):
    %y = arith.addf %v, %bias : f32
    linalg.yield %y : f32
  } -> tensor<4x16xf32>
  %m2 = spx.quant_matmul %x, %q scales %s bias %b {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x8xf32>, tensor<16x8xi8>, tensor<16xf32>, tensor<16xf32>) -> tensor<4x16xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m2 : tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %zero = arith.constant 0.0 : f32
    %y = arith.maximumf %v, %zero : f32
    linalg.yield %y : f32
  } -> tensor<4x16xf32>
  return %r, %m, %t : tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>
}
