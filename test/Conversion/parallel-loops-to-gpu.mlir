// RUN: parsimony-opt %s --pass-pipeline='builtin.module(func.func(parsimony-parallel-loops-to-gpu))' --split-input-file --verify-diagnostics | FileCheck %s
// RUN: parsimony-opt %s --pass-pipeline='builtin.module(func.func(parsimony-parallel-loops-to-gpu{block-size=128}))' --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=B128

// A 2-D loop nest runs one thread per point of its flattened 6 x 10 space:
// ceil(60 / 256) blocks of 256 threads, guarded, the induction variables
// recovered by div/rem with their bounds and steps.
// CHECK-LABEL: func.func @nest
// CHECK-DAG:     %[[C256:.*]] = arith.constant 256 : index
// CHECK:         %[[BLOCKS:.*]] = arith.ceildivsi %[[TOTAL:.*]], %[[C256]]
// CHECK:         gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[BLOCKS]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%[[BDX:.*]] = %[[C256]],
// CHECK:           %[[BASE:.*]] = arith.muli %[[BX]], %[[BDX]]
// CHECK:           %[[LIN:.*]] = arith.addi %[[BASE]], %[[TX]]
// CHECK:           %[[IN:.*]] = arith.cmpi slt, %[[LIN]], %[[TOTAL]]
// CHECK:           scf.if %[[IN]] {
// CHECK:             %[[J:.*]] = arith.remsi %[[LIN]]
// CHECK:             %[[I:.*]] = arith.divsi %[[LIN]]
// CHECK:             memref.store
// CHECK:           gpu.terminator
// CHECK-NOT:     scf.parallel
// B128-LABEL: func.func @nest
// B128: arith.constant 128 : index
func.func @nest(%m: memref<12x10xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c10 = arith.constant 10 : index
  %c12 = arith.constant 12 : index
  %f = arith.constant 1.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c12, %c10) step (%c2, %c1) {
    memref.store %f, %m[%i, %j] : memref<12x10xf32>
    scf.reduce
  }
  return
}

// -----

// A full reduction (no parallel dimension) on the host runs in one thread.
// CHECK-LABEL: func.func @serial
// CHECK: gpu.launch
// CHECK-NEXT: scf.for
// CHECK-NOT: scf.for
func.func @serial(%m: memref<8xf32>, %out: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  scf.for %i = %c0 to %c8 step %c1 {
    %v = memref.load %m[%i] : memref<8xf32>
    %a = memref.load %out[] : memref<f32>
    %s = arith.addf %a, %v : f32
    memref.store %s, %out[] : memref<f32>
  }
  return
}

// -----

// A scalar the host needs (returned, a loop bound, a branch condition, a
// size) that a kernel computes is read back: stored (as i64 bits) in a
// device buffer, copied into a host buffer allocated at the entry (zeroed
// first), loaded and converted back.
// CHECK-LABEL: func.func @host_needs_value
// CHECK:         %[[HOST:.*]] = memref.alloca() : memref<1xi64>
// CHECK:         %[[DEV:.*]] = gpu.alloc () : memref<1xi64>
// CHECK:         gpu.launch
// CHECK-NEXT:      %[[V:.*]] = memref.load %arg0
// CHECK-NEXT:      %[[I:.*]] = arith.bitcast %[[V]] : f32 to i32
// CHECK-NEXT:      %[[W:.*]] = arith.extui %[[I]] : i32 to i64
// CHECK-NEXT:      memref.store %[[W]], %[[DEV]][%[[C0:[a-z0-9_]+]]] : memref<1xi64>
// CHECK-NEXT:      gpu.terminator
// CHECK:         memref.store %{{.*}}, %[[HOST]][%[[C0]]] {parsimony.host_slot}
// CHECK-NEXT:    gpu.memcpy %[[HOST]], %[[DEV]]
// CHECK-NEXT:    gpu.dealloc %[[DEV]]
// CHECK-NEXT:    %[[L:.*]] = memref.load %[[HOST]][%[[C0]]] {parsimony.host_slot}
// CHECK-NEXT:    %[[T:.*]] = arith.trunci %[[L]] : i64 to i32
// CHECK-NEXT:    %[[R:.*]] = arith.bitcast %[[T]] : i32 to f32
// CHECK-NEXT:    return %[[R]]
func.func @host_needs_value(%m: memref<8xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %v = memref.load %m[%c0] : memref<8xf32>
  return %v : f32
}

// -----

// Scalar code between kernels (a mean over every element: the division
// after the sum) runs with the loop that feeds it, in one single-thread
// kernel; index arithmetic the host needs stays on the host.
// CHECK-LABEL: func.func @scalar_tail
// CHECK:         %[[VIEW:.*]] = memref.expand_shape %arg4
// CHECK-NEXT:    %[[N:.*]] = arith.muli
// CHECK-NEXT:    gpu.launch blocks({{.*}}) in (%{{.*}} = %[[ONE:[^,]*]], {{.*}}) threads({{.*}}) in (%{{.*}} = %[[ONE]], {{.*}})
// CHECK-NEXT:      memref.store %{{.*}}, %arg4[] : memref<f32>
// CHECK-NEXT:      scf.for
// CHECK:           }
// CHECK-NEXT:      %[[TOTAL:.*]] = memref.load %[[VIEW]]
// CHECK-NEXT:      %[[MEAN:.*]] = arith.divf %[[TOTAL]]
// CHECK-NEXT:      memref.store %[[MEAN]], %arg1
// CHECK-NEXT:      gpu.terminator
// CHECK:         gpu.launch
// CHECK-SAME:      threads({{.*}}) in (%{{.*}} = %[[N]],
// CHECK-NOT:     gpu.launch
func.func @scalar_tail(%m: memref<8xf32>, %out: memref<1xf32>,
                       %n: index, %big: memref<?xf32>, %sum: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %z = arith.constant 0.0 : f32
  %eight = arith.constant 8.0 : f32
  memref.store %z, %sum[] : memref<f32>
  scf.for %i = %c0 to %c8 step %c1 {
    %v = memref.load %m[%i] : memref<8xf32>
    %a = memref.load %sum[] : memref<f32>
    %s = arith.addf %a, %v : f32
    memref.store %s, %sum[] : memref<f32>
  }
  %view = memref.expand_shape %sum [] output_shape [1] : memref<f32> into memref<1xf32>
  %total = memref.load %view[%c0] : memref<1xf32>
  // Computed among the kernel's ops, needed by the host for the next launch.
  %threads = arith.muli %n, %c8 : index
  %mean = arith.divf %total, %eight : f32
  memref.store %mean, %out[%c0] : memref<1xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %threads, %sy = %c1, %sz = %c1) {
    memref.store %z, %big[%tx] : memref<?xf32>
    gpu.terminator
  }
  return
}

// -----

// A host loop around a kernel (a model's Loop) that touches buffers itself:
// its accesses run in single-thread kernels inside the loop.
// CHECK-LABEL: func.func @host_loop_around_kernel
// CHECK:         scf.for %[[I:.*]] = %c0 to %c8 step %c1 {
// CHECK:           gpu.launch blocks({{.*}}) in (%{{.*}} = %[[ONE:[^,]*]], {{.*}}) threads({{.*}}) in (%{{.*}} = %[[ONE]],
// CHECK-NEXT:        memref.store %{{.*}}, %arg0[%[[I]]] : memref<8xf32>
// CHECK-NEXT:        gpu.terminator
// CHECK:           gpu.launch
func.func @host_loop_around_kernel(%m: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %z = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %z, %m[%i] : memref<8xf32>
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
      memref.store %z, %m[%tx] : memref<8xf32>
      gpu.terminator
    }
  }
  return
}

// -----

// A host loop whose control flow depends on a buffer's contents (a Loop's
// condition computed on the device): the condition is read back inside the
// loop, into one host buffer allocated at the entry (not per iteration).
// CHECK-LABEL: func.func @host_branch_on_device_value
// CHECK:         %[[HOST:.*]] = memref.alloca() : memref<1xi64>
// CHECK:         scf.for
// CHECK:           gpu.launch
// CHECK:             memref.load %arg1[]
// CHECK:           gpu.memcpy %[[HOST]]
// CHECK:           %[[BITS:.*]] = memref.load %[[HOST]]
// CHECK-NEXT:      %[[GO:.*]] = arith.trunci %[[BITS]] : i64 to i1
// CHECK-NEXT:      scf.if %[[GO]] {
// CHECK-NEXT:        gpu.launch
func.func @host_branch_on_device_value(%m: memref<8xf32>, %flag: memref<i1>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %z = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    %go = memref.load %flag[] : memref<i1>
    scf.if %go {
      gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
                 threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
        memref.store %z, %m[%tx] : memref<8xf32>
        gpu.terminator
      }
    }
  }
  return
}

// -----

// Sizes read from a buffer (a Reshape to a shape tensor's contents): the
// values share one copy; the view built from them is recomputed
// on the host from the copies. The allocation between the shape's stores
// and loads moves before the kernel instead of splitting it.
// CHECK-LABEL: func.func @view_of_device_sizes
// CHECK:         %[[HOST:.*]] = memref.alloca() : memref<2xi64>
// CHECK:         %[[SHAPE:.*]] = gpu.alloc () : memref<2xi64>
// CHECK:         %[[DEV:.*]] = gpu.alloc () : memref<2xi64>
// CHECK:         gpu.launch
// CHECK:           memref.store %{{.*}}, %[[SHAPE]]
// CHECK:           memref.load %[[SHAPE]]
// CHECK:           memref.reinterpret_cast
// CHECK:           memref.store %{{.*}}, %[[DEV]][%[[C0:[a-z0-9_]+]]]
// CHECK:           memref.store %{{.*}}, %[[DEV]][%[[C1:[a-z0-9_]+]]]
// CHECK-NEXT:      gpu.terminator
// CHECK:         gpu.memcpy %[[HOST]], %[[DEV]]
// CHECK-NOT:     gpu.memcpy
// CHECK:         %[[R64:.*]] = memref.load %[[HOST]][%[[C0]]]
// CHECK-NEXT:    %[[ROWS:.*]] = arith.index_cast %[[R64]] : i64 to index
// CHECK-NEXT:    %[[C64:.*]] = memref.load %[[HOST]][%[[C1]]]
// CHECK-NEXT:    %[[COLS:.*]] = arith.index_cast %[[C64]] : i64 to index
// CHECK-NEXT:    %[[VIEW:.*]] = memref.reinterpret_cast %arg0 to offset: [0], sizes: [%[[ROWS]], %[[COLS]]], strides: [%[[COLS]], 1]
// CHECK-NEXT:    gpu.launch
// CHECK:           memref.store %{{.*}}, %[[VIEW]]
func.func @view_of_device_sizes(%data: memref<12xf32>, %shape: memref<2xi64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %z = arith.constant 0.0 : f32
  %r0 = memref.load %shape[%c0] : memref<2xi64>
  %r1 = memref.load %shape[%c1] : memref<2xi64>
  %copy = gpu.alloc () : memref<2xi64>
  memref.store %r0, %copy[%c0] : memref<2xi64>
  memref.store %r1, %copy[%c1] : memref<2xi64>
  %s0 = memref.load %copy[%c0] : memref<2xi64>
  %s1 = memref.load %copy[%c1] : memref<2xi64>
  %rows = arith.index_cast %s0 : i64 to index
  %cols = arith.index_cast %s1 : i64 to index
  %view = memref.reinterpret_cast %data to offset: [0], sizes: [%rows, %cols], strides: [%cols, 1] : memref<12xf32> to memref<?x?xf32, strided<[?, 1]>>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    memref.store %z, %view[%tx, %tx] : memref<?x?xf32, strided<[?, 1]>>
    gpu.terminator
  }
  return
}

// -----

// A buffer chosen by a branch on device memory has no host copy to give.
func.func @host_needs_device_buffer(%a: memref<4xf32>, %b: memref<4xf32>,
                                    %flag: memref<i1>) {
  %c1 = arith.constant 1 : index
  %z = arith.constant 0.0 : f32
  %go = memref.load %flag[] : memref<i1>
  // expected-error @+1 {{the host needs a value of type 'memref<4xf32>' computed from device memory, which cannot be copied back}}
  %pick = scf.if %go -> memref<4xf32> {
    scf.yield %a : memref<4xf32>
  } else {
    scf.yield %b : memref<4xf32>
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    memref.store %z, %pick[%tx] : memref<4xf32>
    gpu.terminator
  }
  return
}

// -----

// Values of several types from one kernel (a size, a check's condition, a
// float) come back in one copy of i64 slots; an assert is host code and
// stays outside the kernel.
// CHECK-LABEL: func.func @mixed_types_one_copy
// CHECK:         %[[HOST:.*]] = memref.alloca() : memref<3xi64>
// CHECK:         gpu.launch
// CHECK:         gpu.memcpy %[[HOST]]
// CHECK-NOT:     gpu.memcpy
// CHECK:         %[[OK:.*]] = arith.trunci %{{.*}} : i64 to i1
// CHECK:         cf.assert %[[OK]], "bad size"
func.func @mixed_types_one_copy(%m: memref<8xi64>, %f: memref<8xf32>) -> (index, f32) {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %v = memref.load %m[%c0] : memref<8xi64>
  %n = arith.index_cast %v : i64 to index
  %ok = arith.cmpi sle, %n, %c8 : index
  %x = memref.load %f[%c0] : memref<8xf32>
  cf.assert %ok, "bad size"
  return %n, %x : index, f32
}
