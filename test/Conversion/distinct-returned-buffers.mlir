// RUN: parsimony-opt %s --parsimony-distinct-returned-buffers | FileCheck %s

// A buffer returned twice gets a copy for its second use, so that
// --buffer-results-to-out-params can give each result its own out-parameter.
// CHECK-LABEL: func @twice
// CHECK: %[[A:.*]] = memref.alloc() : memref<0xf32>
// CHECK: %[[C1:.*]] = memref.alloc() : memref<0xf32>
// CHECK: memref.copy %[[A]], %[[C1]]
// CHECK: %[[C2:.*]] = memref.alloc() : memref<0xf32>
// CHECK: memref.copy %[[A]], %[[C2]]
// CHECK: return %[[A]], %[[C1]], %[[C2]]
func.func @twice() -> (memref<0xf32>, memref<0xf32>, memref<0xf32>) {
  %a = memref.alloc() : memref<0xf32>
  return %a, %a, %a : memref<0xf32>, memref<0xf32>, memref<0xf32>
}

// Dynamic sizes are preserved; distinct results are untouched.
// CHECK-LABEL: func @dynamic
// CHECK: %[[D:.*]] = memref.dim %arg0, %c0
// CHECK: %[[C:.*]] = memref.alloc(%[[D]]) : memref<?xf32>
// CHECK: memref.copy %arg0, %[[C]]
// CHECK: return %arg0, %[[C]], %arg1
func.func @dynamic(%x: memref<?xf32>, %y: memref<4xf32>) -> (memref<?xf32>, memref<?xf32>, memref<4xf32>) {
  return %x, %x, %y : memref<?xf32>, memref<?xf32>, memref<4xf32>
}
