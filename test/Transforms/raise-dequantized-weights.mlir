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

// uint8 weights with zero point 0 span 0..255: q - zp does not fit int8.
// Output feature 0 holds 255 and 4, stored shifted by 128 (127, -124); the
// product gets 128 * 0.5 * sum(x) back. Features 1 and 2 fit unshifted.
#id = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @uint8_out_of_range
// CHECK-DAG: %[[C:.*]] = arith.constant dense_resource<prequantized_0_offset> : tensor<3xf32>
// CHECK: %[[P:.*]] = spx.quant_matmul %arg0
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<4x2xf32>)
// CHECK: arith.addf
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[P]], %[[SUM]], %[[C]] : tensor<4x3xf32>, tensor<4xf32>, tensor<3xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: linalg.matmul
// CHECK: return %[[Y]]
// CHECK-DAG: prequantized_0_q: "0x010000007F8400050306"
// CHECK-DAG: prequantized_0_offset: "0x04000000000080420000000000000000"
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

// -----

// MatMulInteger (the importer's form): (ext(a) - a_zp) x (ext(q) - zp) in
// i32, only converted to f32 after. The weight minus its zero point is
// evaluated at compile time (q - zp = [[1 - 1, 2 - 2], [3 - 1, -4 - 2],
// [5 - 1, 6 - 2]], rows of q^T: [0, 2, 4], [0, -6, 4]). The activation is
// uint8 bytes minus a scalar zero point: spx.quant_matmul reads the bytes
// themselves (input_unsigned) with the zero point widened to i32, and unit
// scales; the i32 product, the cast and the activation's i32 form are gone.
#id = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
#col = affine_map<(d0, d1) -> (d1)>
#v = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @matmul_integer
// CHECK-NOT: linalg.generic
// CHECK: %[[Z:.*]] = tensor.extract %arg1[] : tensor<i8>
// CHECK: %[[ZW:.*]] = arith.extui %[[Z]] : i8 to i32
// CHECK: %[[Y:.*]] = spx.quant_matmul %arg0, %{{.*}} scales %{{.*}} input_zero_point %[[ZW]] {input_unsigned, layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x3xi8>, tensor<2x3xi8>, tensor<2xf32>, i32) -> tensor<4x2xf32>
// CHECK-NOT: linalg.matmul
// CHECK: return %[[Y]]
// CHECK-DAG: prequantized_0_q: "0x0100000000020400FA04"
// CHECK-DAG: prequantized_0_s: "0x040000000000803F0000803F"
func.func @matmul_integer(%a: tensor<4x3xi8>, %azp: tensor<i8>) -> tensor<4x2xf32> {
  %e = tensor.empty() : tensor<4x3xi32>
  %aw = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a, %azp : tensor<4x3xi8>, tensor<i8>) outs(%e : tensor<4x3xi32>) {
  ^bb0(%x: i8, %z: i8, %o: i32):
    %0 = arith.extui %x : i8 to i32
    %1 = arith.extui %z : i8 to i32
    %2 = arith.subi %0, %1 : i32
    linalg.yield %2 : i32
  } -> tensor<4x3xi32>
  %q = arith.constant dense<[[1, 2], [3, -4], [5, 6]]> : tensor<3x2xi8>
  %zp = arith.constant dense<[1, 2]> : tensor<2xi8>
  %eq = tensor.empty() : tensor<3x2xi32>
  %qw = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q : tensor<3x2xi8>) outs(%eq : tensor<3x2xi32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extsi %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<3x2xi32>
  %ez = tensor.empty() : tensor<2xi32>
  %zw = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]}
      ins(%zp : tensor<2xi8>) outs(%ez : tensor<2xi32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extsi %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<2xi32>
  %w = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%qw, %zw : tensor<3x2xi32>, tensor<2xi32>) outs(%eq : tensor<3x2xi32>) {
  ^bb0(%x: i32, %z: i32, %o: i32):
    %0 = arith.subi %x, %z : i32
    linalg.yield %0 : i32
  } -> tensor<3x2xi32>
  %c0 = arith.constant 0 : i32
  %init = tensor.empty() : tensor<4x2xi32>
  %f = linalg.fill ins(%c0 : i32) outs(%init : tensor<4x2xi32>) -> tensor<4x2xi32>
  %m = linalg.matmul ins(%aw, %w : tensor<4x3xi32>, tensor<3x2xi32>) outs(%f : tensor<4x2xi32>) -> tensor<4x2xi32>
  %ef = tensor.empty() : tensor<4x2xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m : tensor<4x2xi32>) outs(%ef : tensor<4x2xf32>) {
  ^bb0(%x: i32, %o: f32):
    %0 = arith.sitofp %x : i32 to f32
    linalg.yield %0 : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// Not raised: the integer product is returned as i32 (the f32 kernel's
// accumulation would not be exact), and an i32 activation of unknown range
// (a function argument) is not exactly representable in f32.
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @matmul_integer_kept
// CHECK-NOT: spx.quant_matmul
// CHECK: linalg.matmul
// CHECK: linalg.matmul
// CHECK-NOT: spx.quant_matmul
func.func @matmul_integer_kept(%a: tensor<4x3xi8>, %big: tensor<4x3xi32>) -> (tensor<4x2xi32>, tensor<4x2xf32>) {
  %e = tensor.empty() : tensor<4x3xi32>
  %aw = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<4x3xi8>) outs(%e : tensor<4x3xi32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extsi %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<4x3xi32>
  %q = arith.constant dense<[[1, 2], [3, -4], [5, 6]]> : tensor<3x2xi8>
  %eq = tensor.empty() : tensor<3x2xi32>
  %w = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q : tensor<3x2xi8>) outs(%eq : tensor<3x2xi32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extsi %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<3x2xi32>
  %c0 = arith.constant 0 : i32
  %init = tensor.empty() : tensor<4x2xi32>
  %f = linalg.fill ins(%c0 : i32) outs(%init : tensor<4x2xi32>) -> tensor<4x2xi32>
  %m = linalg.matmul ins(%aw, %w : tensor<4x3xi32>, tensor<3x2xi32>) outs(%f : tensor<4x2xi32>) -> tensor<4x2xi32>
  %m2 = linalg.matmul ins(%big, %w : tensor<4x3xi32>, tensor<3x2xi32>) outs(%f : tensor<4x2xi32>) -> tensor<4x2xi32>
  %ef = tensor.empty() : tensor<4x2xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m2 : tensor<4x2xi32>) outs(%ef : tensor<4x2xf32>) {
  ^bb0(%x: i32, %o: f32):
    %0 = arith.sitofp %x : i32 to f32
    linalg.yield %0 : f32
  } -> tensor<4x2xf32>
  return %m, %y : tensor<4x2xi32>, tensor<4x2xf32>
}

// -----

// A weight zero point for the whole tensor (rank 0, as ONNX Runtime's
// quantize_dynamic writes it): q - 2 = rows of q^T [-1, 1, 3], [0, -6, 4].
#id = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
#s0 = affine_map<() -> ()>
// CHECK-LABEL: func.func @matmul_integer_tensor_zero_point
// CHECK: spx.quant_matmul
// CHECK-NOT: linalg.matmul
// CHECK: prequantized_0_q: "0x01000000FF010300FA04"
func.func @matmul_integer_tensor_zero_point(%a: tensor<4x3xi8>) -> tensor<4x2xf32> {
  %e = tensor.empty() : tensor<4x3xi32>
  %aw = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<4x3xi8>) outs(%e : tensor<4x3xi32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extui %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<4x3xi32>
  %q = arith.constant dense<[[1, 2], [3, -4], [5, 6]]> : tensor<3x2xi8>
  %zp = arith.constant dense<2> : tensor<i8>
  %eq = tensor.empty() : tensor<3x2xi32>
  %qw = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q : tensor<3x2xi8>) outs(%eq : tensor<3x2xi32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extsi %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<3x2xi32>
  %ez = tensor.empty() : tensor<i32>
  %zw = linalg.generic {indexing_maps = [#s0, #s0], iterator_types = []}
      ins(%zp : tensor<i8>) outs(%ez : tensor<i32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extsi %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<i32>
  %w = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel"]}
      ins(%qw, %zw : tensor<3x2xi32>, tensor<i32>) outs(%eq : tensor<3x2xi32>) {
  ^bb0(%x: i32, %z: i32, %o: i32):
    %0 = arith.subi %x, %z : i32
    linalg.yield %0 : i32
  } -> tensor<3x2xi32>
  %c0 = arith.constant 0 : i32
  %init = tensor.empty() : tensor<4x2xi32>
  %f = linalg.fill ins(%c0 : i32) outs(%init : tensor<4x2xi32>) -> tensor<4x2xi32>
  %m = linalg.matmul ins(%aw, %w : tensor<4x3xi32>, tensor<3x2xi32>) outs(%f : tensor<4x2xi32>) -> tensor<4x2xi32>
  %ef = tensor.empty() : tensor<4x2xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m : tensor<4x2xi32>) outs(%ef : tensor<4x2xf32>) {
  ^bb0(%x: i32, %o: f32):
    %0 = arith.sitofp %x : i32 to f32
    linalg.yield %0 : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// The importer's unfused form of a signed (int8) activation: separate
// extensions of the 3-D activation and of a one-element zero point, their
// difference, and the collapse to 2-D in front of the matmul. The bytes are
// collapsed the same way and read signed (no input_unsigned), the zero
// point sign-extended.
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#s3 = affine_map<(d0, d1, d2) -> (0)>
#id = affine_map<(d0, d1) -> (d0, d1)>
#v = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func.func @matmul_integer_signed_unfused
// CHECK: %[[C:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : tensor<2x2x3xi8> into tensor<4x3xi8>
// CHECK: %[[Z:.*]] = tensor.extract %arg1[%{{.*}}] : tensor<1xi8>
// CHECK: %[[ZW:.*]] = arith.extsi %[[Z]] : i8 to i32
// CHECK: spx.quant_matmul %[[C]], %{{.*}} scales %{{.*}} input_zero_point %[[ZW]] {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x3xi8>, tensor<2x3xi8>, tensor<2xf32>, i32) -> tensor<4x2xf32>
// CHECK-NOT: linalg.matmul
func.func @matmul_integer_signed_unfused(%a: tensor<2x2x3xi8>, %azp: tensor<1xi8>) -> tensor<4x2xf32> {
  %e = tensor.empty() : tensor<2x2x3xi32>
  %ax = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%a : tensor<2x2x3xi8>) outs(%e : tensor<2x2x3xi32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extsi %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<2x2x3xi32>
  %ez = tensor.empty() : tensor<1xi32>
  %zx = linalg.generic {indexing_maps = [#v, #v], iterator_types = ["parallel"]}
      ins(%azp : tensor<1xi8>) outs(%ez : tensor<1xi32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extsi %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<1xi32>
  %aw = linalg.generic {indexing_maps = [#id3, #s3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%ax, %zx : tensor<2x2x3xi32>, tensor<1xi32>) outs(%e : tensor<2x2x3xi32>) {
  ^bb0(%x: i32, %z: i32, %o: i32):
    %0 = arith.subi %x, %z : i32
    linalg.yield %0 : i32
  } -> tensor<2x2x3xi32>
  %flat = tensor.collapse_shape %aw [[0, 1], [2]] : tensor<2x2x3xi32> into tensor<4x3xi32>
  %q = arith.constant dense<[[1, 2], [3, -4], [5, 6]]> : tensor<3x2xi8>
  %eq = tensor.empty() : tensor<3x2xi32>
  %w = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q : tensor<3x2xi8>) outs(%eq : tensor<3x2xi32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extsi %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<3x2xi32>
  %c0 = arith.constant 0 : i32
  %init = tensor.empty() : tensor<4x2xi32>
  %f = linalg.fill ins(%c0 : i32) outs(%init : tensor<4x2xi32>) -> tensor<4x2xi32>
  %m = linalg.matmul ins(%flat, %w : tensor<4x3xi32>, tensor<3x2xi32>) outs(%f : tensor<4x2xi32>) -> tensor<4x2xi32>
  %ef = tensor.empty() : tensor<4x2xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m : tensor<4x2xi32>) outs(%ef : tensor<4x2xf32>) {
  ^bb0(%x: i32, %o: f32):
    %0 = arith.sitofp %x : i32 to f32
    linalg.yield %0 : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// A zero point per row of the activation (MatMulInteger allows a 1-D
// a_zero_point of M values) is not one scalar: the activation is not read
// as bytes, and the product runs on float(a - a_zp) instead.
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @matmul_integer_row_zero_point
// CHECK: %[[A:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<4x3xi8>, tensor<4xi8>)
// CHECK: %[[AF:.*]] = linalg.generic {{.*}} ins(%[[A]] : tensor<4x3xi32>)
// CHECK: arith.sitofp
// CHECK: spx.quant_matmul %[[AF]], %{{.*}} scales %{{.*}} {layout = #spx<layout nk>, quant = #spx.quant<bits = 8>} : (tensor<4x3xf32>, tensor<2x3xi8>, tensor<2xf32>) -> tensor<4x2xf32>
// CHECK-NOT: linalg.matmul
func.func @matmul_integer_row_zero_point(%a: tensor<4x3xi8>, %azp: tensor<4xi8>) -> tensor<4x2xf32> {
  %e = tensor.empty() : tensor<4x3xi32>
  %aw = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a, %azp : tensor<4x3xi8>, tensor<4xi8>) outs(%e : tensor<4x3xi32>) {
  ^bb0(%x: i8, %z: i8, %o: i32):
    %0 = arith.extui %x : i8 to i32
    %1 = arith.extui %z : i8 to i32
    %2 = arith.subi %0, %1 : i32
    linalg.yield %2 : i32
  } -> tensor<4x3xi32>
  %q = arith.constant dense<[[1, 2], [3, -4], [5, 6]]> : tensor<3x2xi8>
  %eq = tensor.empty() : tensor<3x2xi32>
  %w = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q : tensor<3x2xi8>) outs(%eq : tensor<3x2xi32>) {
  ^bb0(%x: i8, %o: i32):
    %0 = arith.extsi %x : i8 to i32
    linalg.yield %0 : i32
  } -> tensor<3x2xi32>
  %c0 = arith.constant 0 : i32
  %init = tensor.empty() : tensor<4x2xi32>
  %f = linalg.fill ins(%c0 : i32) outs(%init : tensor<4x2xi32>) -> tensor<4x2xi32>
  %m = linalg.matmul ins(%aw, %w : tensor<4x3xi32>, tensor<3x2xi32>) outs(%f : tensor<4x2xi32>) -> tensor<4x2xi32>
  %ef = tensor.empty() : tensor<4x2xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m : tensor<4x2xi32>) outs(%ef : tensor<4x2xf32>) {
  ^bb0(%x: i32, %o: f32):
    %0 = arith.sitofp %x : i32 to f32
    linalg.yield %0 : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// Per-block scales (ONNX DequantizeLinear with block_size 32 along K, as
// the importer spreads them: expand, broadcasting copy, collapse): the
// grouping is recovered from the values, and values within [-8, 7] are
// stored as packed int4 with one scale per output feature and group
// ([N, K / 32], nk).
#id = affine_map<(d0, d1) -> (d0, d1)>
#bcast = affine_map<(d0, d1, d2) -> (d0, 0, d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @blocked
// CHECK: %[[S:.*]] = arith.constant dense_resource<prequantized_0_s> : tensor<2x2xf32>
// CHECK: spx.quant_matmul %arg0, %{{.*}} scales %[[S]] {layout = #spx<layout nk>, quant = #spx.quant<bits = 4, group_size = 32>} : (tensor<4x64xf32>, tensor<2x32xi8>, tensor<2x2xf32>) -> tensor<4x2xf32>
// CHECK-NOT: linalg.matmul
// CHECK: prequantized_0_s: "0x040000000000003F0000803F0000803E00000040"
func.func @blocked(%x: tensor<4x64xf32>) -> tensor<4x2xf32> {
  %q = arith.constant dense<3> : tensor<64x2xi8>
  %s = arith.constant dense<[[0.5, 0.25], [1.0, 2.0]]> : tensor<2x2xf32>
  %se = tensor.expand_shape %s [[0], [1, 2]] output_shape [2, 1, 2] : tensor<2x2xf32> into tensor<2x1x2xf32>
  %be = tensor.empty() : tensor<2x32x2xf32>
  %b = linalg.generic {indexing_maps = [#bcast, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%se : tensor<2x1x2xf32>) outs(%be : tensor<2x32x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x32x2xf32>
  %sc = tensor.collapse_shape %b [[0, 1], [2]] : tensor<2x32x2xf32> into tensor<64x2xf32>
  %e = tensor.empty() : tensor<64x2xf32>
  %w = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q, %sc : tensor<64x2xi8>, tensor<64x2xf32>) outs(%e : tensor<64x2xf32>) {
  ^bb0(%a: i8, %c: f32, %o: f32):
    %0 = arith.extsi %a : i8 to i32
    %1 = arith.sitofp %0 : i32 to f32
    %2 = arith.mulf %1, %c : f32
    linalg.yield %2 : f32
  } -> tensor<64x2xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%init : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x64xf32>, tensor<64x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// Blocks of 8 along K: their scales would cost more than the f32 weight
// saves; the product stays dequantized.
#id = affine_map<(d0, d1) -> (d0, d1)>
#bcast = affine_map<(d0, d1, d2) -> (d0, 0, d2)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @blocks_too_small
// CHECK-NOT: spx.quant_matmul
// CHECK: linalg.matmul
func.func @blocks_too_small(%x: tensor<4x16xf32>) -> tensor<4x2xf32> {
  %q = arith.constant dense<3> : tensor<16x2xi8>
  %s = arith.constant dense<[[0.5, 0.25], [1.0, 2.0]]> : tensor<2x2xf32>
  %se = tensor.expand_shape %s [[0], [1, 2]] output_shape [2, 1, 2] : tensor<2x2xf32> into tensor<2x1x2xf32>
  %be = tensor.empty() : tensor<2x8x2xf32>
  %b = linalg.generic {indexing_maps = [#bcast, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%se : tensor<2x1x2xf32>) outs(%be : tensor<2x8x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x8x2xf32>
  %sc = tensor.collapse_shape %b [[0, 1], [2]] : tensor<2x8x2xf32> into tensor<16x2xf32>
  %e = tensor.empty() : tensor<16x2xf32>
  %w = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%q, %sc : tensor<16x2xi8>, tensor<16x2xf32>) outs(%e : tensor<16x2xf32>) {
  ^bb0(%a: i8, %c: f32, %o: f32):
    %0 = arith.extsi %a : i8 to i32
    %1 = arith.sitofp %0 : i32 to f32
    %2 = arith.mulf %1, %c : f32
    linalg.yield %2 : f32
  } -> tensor<16x2xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%init : tensor<4x2xf32>) -> tensor<4x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x16xf32>, tensor<16x2xf32>) outs(%f : tensor<4x2xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
