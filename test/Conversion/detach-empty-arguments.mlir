// RUN: parsimony-opt %s --parsimony-detach-empty-arguments --split-input-file --allow-unregistered-dialect | FileCheck %s

// An entry point's empty rank-3 arguments become memref<0xT> in the
// signature; the body reads a zero-size local buffer of the original type.
// CHECK-LABEL: func.func @entry
// CHECK-SAME: (%[[X:.*]]: memref<0xf32>, %[[Y:.*]]: memref<2x3xf32>, %[[Z:.*]]: memref<0xi64>)
// CHECK-NOT: memref<3x0x5xf32>, %
// CHECK: %[[LX:.*]] = memref.alloca() : memref<3x0x5xf32>
// CHECK: %[[LZ:.*]] = memref.alloca() : memref<3x0x5xi64>
// CHECK: "test.use"(%[[LX]], %[[Y]], %[[LZ]])
func.func @entry(%x: memref<3x0x5xf32>, %y: memref<2x3xf32>, %z: memref<3x0x5xi64>) {
  "test.use"(%x, %y, %z) : (memref<3x0x5xf32>, memref<2x3xf32>, memref<3x0x5xi64>) -> ()
  return
}

// -----

// Left alone: private functions and functions the module calls (their call
// sites would not match), 1-D empty memrefs (already a valid pointer type),
// non-identity layouts and declarations.
// CHECK-LABEL: func.func private @helper(%{{.*}}: memref<3x0x5xf32>)
// CHECK-LABEL: func.func @called(%{{.*}}: memref<3x0x5xf32>)
// CHECK-LABEL: func.func @caller(%{{.*}}: memref<0xf32>, %{{.*}}: memref<4x0xf32, strided<[1, 4]>>)
// CHECK-LABEL: func.func private @declared(memref<3x0x5xf32>)
func.func private @helper(%x: memref<3x0x5xf32>) {
  return
}
func.func @called(%x: memref<3x0x5xf32>) {
  return
}
func.func @caller(%x: memref<0xf32>, %s: memref<4x0xf32, strided<[1, 4]>>) {
  %l = memref.alloca() : memref<3x0x5xf32>
  func.call @helper(%l) : (memref<3x0x5xf32>) -> ()
  func.call @called(%l) : (memref<3x0x5xf32>) -> ()
  return
}
func.func private @declared(memref<3x0x5xf32>)
