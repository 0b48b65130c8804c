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

// -----

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>

// A residual add after a sparse FFN becomes its residual operand (the
// FFN moves to the add's place, where the residual is defined).
// CHECK-LABEL: func.func @sparse_ffn_residual(
// CHECK-SAME: %[[X:.*]]: tensor<4x8xf32>, %[[U:.*]]: tensor<8x32xf32>, %[[D:.*]]: tensor<32x8xf32>)
// CHECK: %[[R:.*]] = math.tanh %[[X]]
// CHECK: %[[Y:.*]] = spx.sparse_ffn %[[X]] up %[[U]] down %[[D]] residual %[[R]] {topk = 4 : i64}
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
func.func @sparse_ffn_residual(%x: tensor<4x8xf32>, %u: tensor<8x32xf32>, %d: tensor<32x8xf32>) -> tensor<4x8xf32> {
  %f = spx.sparse_ffn %x up %u down %d {topk = 4 : i64} : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  %r = math.tanh %x : tensor<4x8xf32>
  %e = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%r, %f : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

#id3 = affine_map<(b, s, j) -> (b, s, j)>

// The residual add after an expert layer: spx.combine's flat tokens are
// reshaped back to [batch, sequence, features] before the add, so the
// residual is flattened the same way and the reshape follows the combine.
// CHECK-LABEL: func.func @combine_residual(
// CHECK-SAME: %[[O:.*]]: tensor<6x16xf32>, %[[S:.*]]: tensor<6x1xi64>, %[[G:.*]]: tensor<6x1xf32>, %[[X:.*]]: tensor<2x3x16xf32>)
// CHECK: %[[RF:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<2x3x16xf32> into tensor<6x16xf32>
// CHECK: %[[C:.*]] = spx.combine %[[O]], %[[S]], %[[G]] residual %[[RF]]
// CHECK: %[[Y:.*]] = tensor.expand_shape %[[C]] {{\[\[}}0, 1], [2]] output_shape [2, 3, 16]
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
func.func @combine_residual(%o: tensor<6x16xf32>, %s: tensor<6x1xi64>, %g: tensor<6x1xf32>, %x: tensor<2x3x16xf32>) -> tensor<2x3x16xf32> {
  %c = spx.combine %o, %s, %g : (tensor<6x16xf32>, tensor<6x1xi64>, tensor<6x1xf32>) -> tensor<6x16xf32>
  %c3 = tensor.expand_shape %c [[0, 1], [2]] output_shape [2, 3, 16] : tensor<6x16xf32> into tensor<2x3x16xf32>
  %e = tensor.empty() : tensor<2x3x16xf32>
  %y = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%c3, %x : tensor<2x3x16xf32>, tensor<2x3x16xf32>) outs(%e : tensor<2x3x16xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %sum = arith.addf %a, %b : f32
    linalg.yield %sum : f32
  } -> tensor<2x3x16xf32>
  return %y : tensor<2x3x16xf32>
}

// -----

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>

// Not fused: an add of a bias as well (the FFN has its own down_bias), an
// activation after the add, and an FFN result that is also returned.
// CHECK-LABEL: func.func @sparse_ffn_not_fused(
// CHECK-NOT: residual
// CHECK: return
func.func @sparse_ffn_not_fused(%x: tensor<4x8xf32>, %u: tensor<8x32xf32>, %d: tensor<32x8xf32>, %b: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %f1 = spx.sparse_ffn %x up %u down %d : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  %y1 = linalg.generic {indexing_maps = [#id, #col, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%f1, %b, %x : tensor<4x8xf32>, tensor<8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %bias: f32, %r: f32, %o: f32):
    %s = arith.addf %a, %bias : f32
    %t = arith.addf %s, %r : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %f2 = spx.sparse_ffn %x up %u down %d : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  %y2 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%f2, %x : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %r: f32, %o: f32):
    %s = arith.addf %a, %r : f32
    %zero = arith.constant 0.0 : f32
    %t = arith.maximumf %s, %zero : f32
    linalg.yield %t : f32
  } -> tensor<4x8xf32>
  %f3 = spx.sparse_ffn %x up %u down %d : (tensor<4x8xf32>, tensor<8x32xf32>, tensor<32x8xf32>) -> tensor<4x8xf32>
  %y3 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%f3, %x : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %r: f32, %o: f32):
    %s = arith.addf %a, %r : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  return %y1, %y2, %y3, %f3 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}
