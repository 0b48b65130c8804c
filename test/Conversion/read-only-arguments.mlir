// RUN: parsimony-opt %s --parsimony-read-only-arguments --split-input-file | FileCheck %s
// RUN: parsimony-opt %s --parsimony-read-only-arguments --split-input-file \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries" | FileCheck %s --check-prefix=BUF

// An entry point's tensor arguments are marked read-only; other arguments
// and an explicit writable marking are left as they are.
// CHECK-LABEL: func.func @entry
// CHECK-SAME: (%{{.*}}: tensor<4xf32> {bufferization.writable = false}, %{{.*}}: index, %{{.*}}: tensor<4xf32> {bufferization.writable = true})
func.func @entry(%x: tensor<4xf32>, %i: index, %y: tensor<4xf32> {bufferization.writable = true}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// Private functions and declarations are not entry points.
// CHECK-LABEL: func.func private @helper(%{{.*}}: tensor<4xf32>) ->
// CHECK-LABEL: func.func private @declared(tensor<4xf32>)
func.func private @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
func.func private @declared(tensor<4xf32>)

// -----

// An in-place update of an input writes a copy, not the caller's buffer.
// BUF-LABEL: func.func @update
// BUF-SAME: (%[[X:.*]]: memref<4xf32
// BUF: %[[COPY:.*]] = memref.alloc
// BUF: memref.copy %[[X]], %[[COPY]]
// BUF: memref.store %{{.*}}, %[[COPY]]
// BUF-NOT: memref.store {{.*}} %[[X]]
func.func @update(%x: tensor<4xf32>, %v: f32) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %r = tensor.insert %v into %x[%c0] : tensor<4xf32>
  return %r : tensor<4xf32>
}
