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

func.func @host_needs_value(%m: memref<8xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{the host needs this value computed from device memory}}
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
// condition computed on the device) cannot run.
func.func @host_branch_on_device_value(%m: memref<8xf32>, %flag: memref<i1>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %z = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    // expected-error @+1 {{the host needs this value computed from device memory}}
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

func.func @reduction(%m: memref<8xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %z = arith.constant 0.0 : f32
  // expected-error @+1 {{parallel reductions are not supported}}
  %r = scf.parallel (%i) = (%c0) to (%c8) step (%c1) init (%z) -> f32 {
    %v = memref.load %m[%i] : memref<8xf32>
    scf.reduce(%v : f32) {
    ^bb0(%a: f32, %b: f32):
      %s = arith.addf %a, %b : f32
      scf.reduce.return %s : f32
    }
  }
  return %r : f32
}

// -----

// Rows whose body is one long accumulation (a layer norm's or softmax's
// row sum) run a block per row: each thread folds a strided share from the
// identity, a tree in workgroup memory combines the partials between
// barriers, and thread 0 folds the total into the row's element.
// CHECK-LABEL: func.func @row_sums
// CHECK:         %[[C256:.*]] = arith.constant 256 : index
// CHECK:         gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[TOTAL:.*]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C256]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) workgroup(%[[SCRATCH:.*]] : memref<256xf32, #gpu.address_space<workgroup>>)
// CHECK:           %[[RS:.*]] = arith.muli %[[BX]], %{{.*}} : index
// CHECK:           %[[ROW:.*]] = arith.addi %{{.*}}, %[[RS]] : index
// CHECK:           %[[TS:.*]] = arith.muli %[[TX]], %{{.*}} : index
// CHECK:           %[[START:.*]] = arith.addi %{{.*}}, %[[TS]] : index
// CHECK:           %[[PART:.*]] = scf.for %[[K:.*]] = %[[START]] to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (f32)
// CHECK:             %[[V:.*]] = memref.load %{{.*}}[%[[ROW]], %[[K]]]
// CHECK:             %[[SQ:.*]] = arith.mulf %[[V]], %[[V]]
// CHECK:             %[[NEXT:.*]] = arith.addf %[[ACC]], %[[SQ]]
// CHECK:             scf.yield %[[NEXT]]
// CHECK:           memref.store %[[PART]], %[[SCRATCH]][%[[TX]]]
// CHECK:           gpu.barrier
// CHECK:           arith.cmpi ult, %[[TX]], %{{.*}}
// CHECK-COUNT-8:   gpu.barrier
// CHECK:           arith.cmpi eq, %[[TX]]
// CHECK:           scf.if
// CHECK:             %[[INIT:.*]] = memref.load %{{.*}}[%[[ROW]]]
// CHECK:             %[[TOT:.*]] = memref.load %[[SCRATCH]]
// CHECK:             %[[SUM:.*]] = arith.addf %[[INIT]], %[[TOT]]
// CHECK:             memref.store %[[SUM]], %{{.*}}[%[[ROW]]]
// B128-LABEL: func.func @row_sums
// B128: workgroup(%{{.*}} : memref<128xf32, #gpu.address_space<workgroup>>)
func.func @row_sums(%x: memref<3x768xf32>, %out: memref<3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c768 = arith.constant 768 : index
  scf.parallel (%i) = (%c0) to (%c3) step (%c1) {
    scf.for %k = %c0 to %c768 step %c1 {
      %v = memref.load %x[%i, %k] : memref<3x768xf32>
      %a = memref.load %out[%i] : memref<3xf32>
      %sq = arith.mulf %v, %v : f32
      %s = arith.addf %a, %sq : f32
      memref.store %s, %out[%i] : memref<3xf32>
    }
    scf.reduce
  }
  return
}

// -----

// A row maximum of 100 (a softmax's first pass): 64 threads, the largest
// power of two not above the trip count, and -inf as the identity.
// CHECK-LABEL: func.func @row_max
// CHECK:         gpu.launch {{.*}} workgroup(%{{.*}} : memref<64xf32, #gpu.address_space<workgroup>>)
// CHECK:           %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK:           scf.for {{.*}} iter_args(%{{.*}} = %[[NEGINF]]) -> (f32)
// CHECK:             arith.maximumf
func.func @row_max(%x: memref<4x100xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c100 = arith.constant 100 : index
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    scf.for %k = %c0 to %c100 step %c1 {
      %v = memref.load %x[%i, %k] : memref<4x100xf32>
      %a = memref.load %out[%i] : memref<4xf32>
      %m = arith.maximumf %a, %v : f32
      memref.store %m, %out[%i] : memref<4xf32>
    }
    scf.reduce
  }
  return
}

// -----

// Not reassociable (subtraction), too short (8 iterations), or reading
// the accumulated row inside the loop: one thread per row, as before.
// CHECK-LABEL: func.func @stays_serial
// CHECK-NOT:     workgroup
// CHECK-LABEL: func.func @short_rows
// CHECK-NOT:     workgroup
// CHECK-LABEL: func.func @reads_accumulator
// CHECK-NOT:     workgroup
func.func @stays_serial(%x: memref<3x768xf32>, %out: memref<3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c768 = arith.constant 768 : index
  scf.parallel (%i) = (%c0) to (%c3) step (%c1) {
    scf.for %k = %c0 to %c768 step %c1 {
      %v = memref.load %x[%i, %k] : memref<3x768xf32>
      %a = memref.load %out[%i] : memref<3xf32>
      %s = arith.subf %a, %v : f32
      memref.store %s, %out[%i] : memref<3xf32>
    }
    scf.reduce
  }
  return
}
func.func @short_rows(%x: memref<3x8xf32>, %out: memref<3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c8 = arith.constant 8 : index
  scf.parallel (%i) = (%c0) to (%c3) step (%c1) {
    scf.for %k = %c0 to %c8 step %c1 {
      %v = memref.load %x[%i, %k] : memref<3x8xf32>
      %a = memref.load %out[%i] : memref<3xf32>
      %s = arith.addf %a, %v : f32
      memref.store %s, %out[%i] : memref<3xf32>
    }
    scf.reduce
  }
  return
}
func.func @reads_accumulator(%x: memref<3x768xf32>, %out: memref<3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c768 = arith.constant 768 : index
  scf.parallel (%i) = (%c0) to (%c3) step (%c1) {
    scf.for %k = %c0 to %c768 step %c1 {
      %v = memref.load %x[%i, %k] : memref<3x768xf32>
      %a = memref.load %out[%i] : memref<3xf32>
      %b = memref.load %out[%c0] : memref<3xf32>
      %t = arith.mulf %v, %b : f32
      %s = arith.addf %a, %t : f32
      memref.store %s, %out[%i] : memref<3xf32>
    }
    scf.reduce
  }
  return
}

// -----

// A long full reduction on the host gets one block instead of one thread.
// CHECK-LABEL: func.func @serial_long
// CHECK:         %[[C1024:.*]] = arith.constant 1024 : index
// CHECK-NEXT:    %[[ONE:.*]] = arith.constant 1 : index
// CHECK-NEXT:    %[[C256:.*]] = arith.constant 256 : index
// CHECK:         gpu.launch blocks({{.*}}) in (%{{.*}} = %[[ONE]], {{.*}}) threads({{.*}}) in (%{{.*}} = %[[C256]], {{.*}}) workgroup(%{{.*}} : memref<256xf32, #gpu.address_space<workgroup>>)
// CHECK:           scf.for {{.*}} iter_args
// CHECK-NOT:     scf.for %{{.*}} = %c0 to %c1024 step %c1 {
func.func @serial_long(%m: memref<1024xf32>, %out: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c1024 = arith.constant 1024 : index
  scf.for %i = %c0 to %c1024 step %c1 {
    %v = memref.load %m[%i] : memref<1024xf32>
    %a = memref.load %out[] : memref<f32>
    %s = arith.addf %a, %v : f32
    memref.store %s, %out[] : memref<f32>
  }
  return
}

// -----

// A full reduction over two dimensions (ReduceMean over every axis) is
// coalesced into one loop over 2048 elements, which gets a block.
// CHECK-LABEL: func.func @serial_2d
// CHECK:         %[[C256:.*]] = arith.constant 256 : index
// CHECK:         gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %[[C256]], {{.*}}) workgroup(%{{.*}} : memref<256xf32, #gpu.address_space<workgroup>>)
// CHECK:           scf.for {{.*}} to %c2048
// CHECK:             affine.delinearize_index %{{.*}} into (32, 64)
// CHECK:           gpu.barrier
func.func @serial_2d(%m: memref<32x64xf32>, %out: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c32 step %c1 {
    scf.for %j = %c0 to %c64 step %c1 {
      %v = memref.load %m[%i, %j] : memref<32x64xf32>
      %a = memref.load %out[] : memref<f32>
      %s = arith.addf %a, %v : f32
      memref.store %s, %out[] : memref<f32>
    }
  }
  return
}
