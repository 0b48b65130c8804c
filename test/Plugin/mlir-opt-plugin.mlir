// The upstream mlir-opt loads Parsimony as a dialect and pass plugin. Plugin
// passes are named in --pass-pipeline (flags are parsed before plugins load).
// RUN: mlir-opt %s --load-dialect-plugin=%parsimony_plugin --load-pass-plugin=%parsimony_plugin | FileCheck %s --check-prefix=PARSE
// RUN: mlir-opt %s --load-dialect-plugin=%parsimony_plugin --load-pass-plugin=%parsimony_plugin --pass-pipeline="builtin.module(spx-decompose-moe,canonicalize)" | FileCheck %s --check-prefix=PASS
// Without the plugin the upstream tool rejects the dialect.
// RUN: not mlir-opt %s 2>&1 | FileCheck %s --check-prefix=NOPLUGIN

// PARSE: spx.topk_activation %{{.*}}, k = 2 : tensor<4x8xf32>
// PARSE: spx.moe
// PASS-NOT: spx.topk_activation %{{.*}}, k = 8
// PASS: spx.route
// PASS: spx.dispatch
// PASS: spx.expert_ffn
// PASS: spx.combine
// PASS-NOT: spx.moe
// NOPLUGIN: Dialect `spx' not found for custom op 'spx.topk_activation'

func.func @f(%a: tensor<4x8xf32>, %x: tensor<4x16xf32>, %r: tensor<4x2xf32>,
             %w1: tensor<2x32x16xf32>, %w2: tensor<2x16x32xf32>) -> (tensor<4x8xf32>, tensor<4x16xf32>) {
  %0 = spx.topk_activation %a, k = 2 : tensor<4x8xf32>
  %1 = spx.topk_activation %0, k = 8 : tensor<4x8xf32>
  %2 = spx.moe %x, %r fc1 %w1 fc2 %w2 : (tensor<4x16xf32>, tensor<4x2xf32>, tensor<2x32x16xf32>, tensor<2x16x32xf32>) -> tensor<4x16xf32>
  return %1, %2 : tensor<4x8xf32>, tensor<4x16xf32>
}
