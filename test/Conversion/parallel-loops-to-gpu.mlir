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
