// RUN: parsimony-opt %s --spx-build-predictors="predictor=int8" --split-input-file | FileCheck %s --check-prefix=INT8
// RUN: parsimony-opt %s --spx-build-predictors="predictor=int4 group-size=2" --split-input-file | FileCheck %s --check-prefix=INT4
// RUN: parsimony-opt %s --spx-build-predictors="predictor=lowrank rank=2" --split-input-file | FileCheck %s --check-prefix=LOWRANK
// RUN: not parsimony-opt %s --spx-build-predictors="predictor=int2" 2>&1 | FileCheck %s --check-prefix=BADKIND

// BADKIND: error: spx-build-predictors: unknown predictor 'int2' (expected int8, int4 or lowrank)

// A 4 -> 8 FFN with constant weights and a top-2 activation. The int8
// predictor quantizes W_up per neuron: neuron 0's column is [1, 0.5, -1, 2],
// scale 2/127, so its values become [64, 32, -64, 127]. Predictors are
// stored neuron-major (one row per neuron, the quantized GEMV's layout).
// INT8-LABEL: func @ffn
// INT8: %[[Q:.*]] = arith.constant dense_resource<predictor_0_q> : tensor<8x4xi8>
// INT8: %[[S:.*]] = arith.constant dense_resource<predictor_0_s> : tensor<8xf32>
// INT8: %[[SUP:.*]] = spx.predict_support %arg0, %[[Q]] scales %[[S]] bias %{{.*}} {k = 2 : i64, layout = #spx<layout nk>, predictor = #spx<predictor quantized>, quant = #spx.quant<bits = 8>} : (tensor<3x4xf32>, tensor<8x4xi8>, tensor<8xf32>, tensor<8xf32>) -> tensor<3x2xi32>
// INT8: spx.sparse_ffn %arg0 up %{{.*}} up_bias %{{.*}} down %{{.*}} support %[[SUP]] {topk = 2 : i64}
// Row 0 of the blob (neuron 0): [64, 32, -64, 127]; row 1 (neuron 1, column
// [0.1, -0.1, 0.1, 0.1]): [127, -127, 127, 127]; neuron 0's scale 2/127 =
// 0x3C810204.
// INT8: predictor_0_q: "0x010000004020C07F7F817F7F
// INT8: predictor_0_s: "0x040000000402813C
// INT4-LABEL: func @ffn
// Rows of 4 inputs cannot be packed (32-value blocks): int4 one per byte.
// Grouped int4 scales are stored as f16 when they all fit its normal range.
// INT4: spx.predict_support {{.*}} {k = 2 : i64, layout = #spx<layout nk>, predictor = #spx<predictor quantized>, quant = #spx.quant<bits = 4, group_size = 2>} : (tensor<3x4xf32>, tensor<8x4xi4>, tensor<8x2xf16>, tensor<8xf32>) -> tensor<3x2xi32>
// Neuron 0's groups [1, 0.5] and [-1, 2]: scales 1/7 and 2/7, f16 0x3092
// and 0x3492.
// INT4: predictor_0_s: "0x0200000092309234
// LOWRANK-LABEL: func @ffn
// LOWRANK: spx.predict_support %arg0, %{{.*}} factor %{{.*}} bias %{{.*}} {k = 2 : i64, predictor = #spx<predictor lowrank>} : (tensor<3x4xf32>, tensor<4x2xf32>, tensor<2x8xf32>, tensor<8xf32>) -> tensor<3x2xi32>
func.func @ffn(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %w1 = arith.constant dense<[[1.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
                              [0.5, -0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
                              [-1.0, 0.1, -0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
                              [2.0, 0.1, 0.2, -0.3, 0.4, 0.5, 0.6, 0.9]]> : tensor<4x8xf32>
  %b1 = arith.constant dense<0.1> : tensor<8xf32>
  %w2 = arith.constant dense<0.5> : tensor<8x4xf32>
  %0 = spx.sparse_ffn %x up %w1 up_bias %b1 down %w2 {topk = 2 : i64}
      : (tensor<3x4xf32>, tensor<4x8xf32>, tensor<8xf32>, tensor<8x4xf32>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}


// -----

// Weights so small that their int4 scales (1e-6 / 7) are below f16's
// normal range: the scales stay f32.
// INT4-LABEL: func @tiny
// INT4: spx.predict_support {{.*}} : (tensor<1x4xf32>, tensor<8x4xi4>, tensor<8x2xf32>) -> tensor<1x2xi32>
func.func @tiny(%x: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %w1 = arith.constant dense<1.0e-6> : tensor<4x8xf32>
  %w2 = arith.constant dense<0.5> : tensor<8x4xf32>
  %0 = spx.sparse_ffn %x up %w1 down %w2 {topk = 2 : i64}
      : (tensor<1x4xf32>, tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}
