// RUN: parsimony-opt %s --spx-raise-dequantized-weights --canonicalize --split-input-file | FileCheck %s

// x * dequantize(q, per-output-channel scale, zero point 0): the int8
// values are kept (transposed to nk, one row per output feature) and run as
// spx.quant_matmul; the f32 weight is never formed.
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (0, d1)>
// CHECK-LABEL: func.func @per_channel
// CHECK-DAG: %[[Q:.*]] = arith.constant dense_resource<prequantized_0_q> : tensor<3x2xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense_resource<prequantized_0_s> : tensor<3xf32>
// CHECK: %[[Y:.*]] = spx.quant_matmul %arg0, %[[Q]] scales %[[S]] {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x2xf32>, tensor<3x2xi8>, tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-NOT: linalg
// CHECK: return %[[Y]]
// Rows of q^T: [1, 4], [2, -5], [3, 6]; scales as given.
// CHECK-DAG: prequantized_0_q: "0x01000000010402FB0306"
// CHECK-DAG: prequantized_0_s: "0x040000000000003F0000803E0000003E"
func.func @per_channel(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %q = arith.constant dense<[[1, 2, 3], [4, -5, 6]]> : tensor<2x3xi8>
  %s = arith.constant dense<[[0.5, 0.25, 0.125]]> : tensor<1x3xf32>
  %z = arith.constant dense<0> : tensor<1x3xi8>
  %e = tensor.empty() : tensor<2x3xf32>
  %w = linalg.generic {indexing_maps = [#id, #col, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q, %s, %z : tensor<2x3xi8>, tensor<1x3xf32>, tensor<1x3xi8>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: i8, %b: f32, %c: i8, %o: f32):
    %0 = arith.extsi %a : i8 to i32
    %1 = arith.extsi %c : i8 to i32
    %2 = arith.subi %0, %1 : i32
    %3 = arith.sitofp %2 : i32 to f32
    %4 = arith.mulf %3, %b : f32
    linalg.yield %4 : f32
  } -> tensor<2x3xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%init : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// One scale for the whole tensor, no zero point.
#id = affine_map<(d0, d1) -> (d0, d1)>
#all = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @per_tensor
// CHECK: spx.quant_matmul %arg0, %{{.*}} scales %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x2xf32>, tensor<3x2xi8>, tensor<3xf32>) -> tensor<4x3xf32>
// CHECK: prequantized_0_s: "0x040000000000003F0000003F0000003F"
func.func @per_tensor(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %q = arith.constant dense<[[1, 2, 3], [4, -5, 6]]> : tensor<2x3xi8>
  %s = arith.constant dense<0.5> : tensor<f32>
  %e = tensor.empty() : tensor<2x3xf32>
  %w = linalg.generic {indexing_maps = [#id, #all, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q, %s : tensor<2x3xi8>, tensor<f32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: i8, %b: f32, %o: f32):
    %0 = arith.extsi %a : i8 to i32
    %3 = arith.sitofp %0 : i32 to f32
    %4 = arith.mulf %3, %b : f32
    linalg.yield %4 : f32
  } -> tensor<2x3xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%init : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// Asymmetric weights raise too when every q - zero_point fits int8: the
// raised weight holds those differences exactly. Here (int8, per-channel
// zero point [0, 3, 0]) q - zp = [[1, -1, 3], [4, -8, 6]], stored nk as
// [[1, 4], [-1, -8], [3, 6]]. Scales along K (per input feature), which the
// kernels' per-output-channel scales cannot express, are left as written.
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (0, d1)>
#row = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-LABEL: func.func @asymmetric
// CHECK: spx.quant_matmul %arg0, %{{.*}} scales %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x2xf32>, tensor<3x2xi8>, tensor<3xf32>) -> tensor<4x3xf32>
// CHECK-LABEL: func.func @scales_along_k
// CHECK-NOT: spx.quant_matmul
// CHECK: linalg.matmul
// CHECK: prequantized_0_q: "0x010000000104FFF80306"
func.func @asymmetric(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %q = arith.constant dense<[[1, 2, 3], [4, -5, 6]]> : tensor<2x3xi8>
  %s = arith.constant dense<[[0.5, 0.25, 0.125]]> : tensor<1x3xf32>
  %z = arith.constant dense<[[0, 3, 0]]> : tensor<1x3xi8>
  %e = tensor.empty() : tensor<2x3xf32>
  %w = linalg.generic {indexing_maps = [#id, #col, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q, %s, %z : tensor<2x3xi8>, tensor<1x3xf32>, tensor<1x3xi8>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: i8, %b: f32, %c: i8, %o: f32):
    %0 = arith.extsi %a : i8 to i32
    %1 = arith.extsi %c : i8 to i32
    %2 = arith.subi %0, %1 : i32
    %3 = arith.sitofp %2 : i32 to f32
    %4 = arith.mulf %3, %b : f32
    linalg.yield %4 : f32
  } -> tensor<2x3xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%init : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}
func.func @scales_along_k(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %q = arith.constant dense<[[1, 2, 3], [4, -5, 6]]> : tensor<2x3xi8>
  %s = arith.constant dense<[[0.5], [0.25]]> : tensor<2x1xf32>
  %e = tensor.empty() : tensor<2x3xf32>
  %w = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q, %s : tensor<2x3xi8>, tensor<2x1xf32>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: i8, %b: f32, %o: f32):
    %0 = arith.extsi %a : i8 to i32
    %3 = arith.sitofp %0 : i32 to f32
    %4 = arith.mulf %3, %b : f32
    linalg.yield %4 : f32
  } -> tensor<2x3xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%init : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// uint8 weights (zero-extended) with zero point 128: q - 128 always fits
// int8. [[129, 0, 255], [128, 200, 1]] - 128 = [[1, -128, 127], [0, 72, -127]],
// stored nk as [[1, 0], [-128, 72], [127, -127]].
#id = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @uint8
// CHECK: spx.quant_matmul
// CHECK-NOT: linalg.matmul
// CHECK: prequantized_0_q: "0x01000000010080487F81"
func.func @uint8(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %q = arith.constant dense<[[-127, 0, -1], [-128, -56, 1]]> : tensor<2x3xi8>
  %s = arith.constant dense<0.5> : tensor<f32>
  %z = arith.constant dense<-128> : tensor<i8>
  %e = tensor.empty() : tensor<2x3xf32>
  %w = linalg.generic {indexing_maps = [#id, #scalar, #scalar, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q, %s, %z : tensor<2x3xi8>, tensor<f32>, tensor<i8>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: i8, %b: f32, %c: i8, %o: f32):
    %0 = arith.extui %a : i8 to i32
    %1 = arith.extui %c : i8 to i32
    %2 = arith.subi %0, %1 : i32
    %3 = arith.sitofp %2 : i32 to f32
    %4 = arith.mulf %3, %b : f32
    linalg.yield %4 : f32
  } -> tensor<2x3xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%init : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}

// -----

// uint8 weights with zero point 0 span 0..255: q - zp does not fit int8, so
// the dequantization stays as written.
#id = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @uint8_out_of_range
// CHECK-NOT: spx.quant_matmul
// CHECK: linalg.matmul
func.func @uint8_out_of_range(%x: tensor<4x2xf32>) -> tensor<4x3xf32> {
  %q = arith.constant dense<[[-1, 0, 3], [4, 5, 6]]> : tensor<2x3xi8>
  %s = arith.constant dense<0.5> : tensor<f32>
  %z = arith.constant dense<0> : tensor<i8>
  %e = tensor.empty() : tensor<2x3xf32>
  %w = linalg.generic {indexing_maps = [#id, #scalar, #scalar, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q, %s, %z : tensor<2x3xi8>, tensor<f32>, tensor<i8>) outs(%e : tensor<2x3xf32>) {
  ^bb0(%a: i8, %b: f32, %c: i8, %o: f32):
    %0 = arith.extui %a : i8 to i32
    %1 = arith.extui %c : i8 to i32
    %2 = arith.subi %0, %1 : i32
    %3 = arith.sitofp %2 : i32 to f32
    %4 = arith.mulf %3, %b : f32
    linalg.yield %4 : f32
  } -> tensor<2x3xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%init : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x2xf32>, tensor<2x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}
