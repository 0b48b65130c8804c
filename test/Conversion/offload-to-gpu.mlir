// RUN: parsimony-opt %s --parsimony-offload-to-gpu --split-input-file --verify-diagnostics | FileCheck %s

// Arguments get device twins: `x` is only read (copied in), `y` only
// written (copied back); temporaries live in device memory, weights are
// uploaded once through the runtime, contiguous copies are device copies
// and the GEMM call moves to the GPU runtime.

memref.global "private" constant @w : memref<4x4xf32> = dense<1.0>

func.func private @parsimony_sgemm_batched(i64, i64, i64, i64, f32, !llvm.ptr, i64, i64, i32, !llvm.ptr, i64, i64, i32, f32, !llvm.ptr, i64, i64)

// The CPU kernel's declaration is replaced by the GPU one.
// CHECK-NOT: func.func private @parsimony_sgemm_batched(
// CHECK: func.func private @parsimony_gpu_sgemm_batched(
// CHECK-NOT: func.func private @parsimony_sgemm_batched(
// CHECK-LABEL: func.func @entry(
// CHECK-SAME:    %[[X:.*]]: memref<4x4xf32>, %[[Y:.*]]: memref<4x4xf32>)
func.func @entry(%x: memref<4x4xf32>, %y: memref<4x4xf32>) {
  // CHECK-DAG: %[[YD:.*]] = gpu.alloc () : memref<4x4xf32>
  // CHECK-DAG: %[[XD:.*]] = gpu.alloc () : memref<4x4xf32>
  // CHECK-DAG: gpu.memcpy %[[XD]], %[[X]]
  // CHECK-NOT: gpu.memcpy %[[YD]], %[[Y]]
  // CHECK: %[[W:.*]] = memref.get_global @w
  // CHECK: %[[WPTR:.*]] = llvm.inttoptr
  // CHECK: %[[DEV:.*]] = llvm.call @parsimony_gpu_constant(%[[WPTR]], %{{.*}}) : (!llvm.ptr, i64) -> !llvm.ptr
  // CHECK: %[[WD:.*]] = builtin.unrealized_conversion_cast %{{.*}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)> to memref<4x4xf32>
  %w = memref.get_global @w : memref<4x4xf32>
  // CHECK: %[[T:.*]] = gpu.alloc () : memref<4x4xf32>
  %t = memref.alloc() : memref<4x4xf32>
  // CHECK: gpu.memcpy %[[T]], %[[XD]]
  memref.copy %x, %t : memref<4x4xf32> to memref<4x4xf32>
  %c0 = arith.constant 0 : i64
  %c1 = arith.constant 1 : i64
  %c4 = arith.constant 4 : i64
  %zero = arith.constant 0 : i32
  %one = arith.constant 1.0 : f32
  %a = llvm.mlir.zero : !llvm.ptr
  %m0, %o0, %s0:2, %st0:2 = memref.extract_strided_metadata %t : memref<4x4xf32> -> memref<f32>, index, index, index, index, index
  %p0 = memref.extract_aligned_pointer_as_index %m0 : memref<f32> -> index
  %i0 = arith.index_cast %p0 : index to i64
  %tp = llvm.inttoptr %i0 : i64 to !llvm.ptr
  %m1, %o1, %s1:2, %st1:2 = memref.extract_strided_metadata %w : memref<4x4xf32> -> memref<f32>, index, index, index, index, index
  %p1 = memref.extract_aligned_pointer_as_index %m1 : memref<f32> -> index
  %i1 = arith.index_cast %p1 : index to i64
  %wp = llvm.inttoptr %i1 : i64 to !llvm.ptr
  %m2, %o2, %s2:2, %st2:2 = memref.extract_strided_metadata %y : memref<4x4xf32> -> memref<f32>, index, index, index, index, index
  %p2 = memref.extract_aligned_pointer_as_index %m2 : memref<f32> -> index
  %i2 = arith.index_cast %p2 : index to i64
  %yp = llvm.inttoptr %i2 : i64 to !llvm.ptr
  // CHECK: call @parsimony_gpu_sgemm_batched(
  func.call @parsimony_sgemm_batched(%c1, %c4, %c4, %c4, %one, %tp, %c4, %c0, %zero, %wp, %c4, %c0, %zero, %one, %yp, %c4, %c0) : (i64, i64, i64, i64, f32, !llvm.ptr, i64, i64, i32, !llvm.ptr, i64, i64, i32, f32, !llvm.ptr, i64, i64) -> ()
  // CHECK: gpu.dealloc %[[T]]
  memref.dealloc %t : memref<4x4xf32>
  // CHECK: gpu.memcpy %[[Y]], %[[YD]]
  // CHECK-NOT: gpu.memcpy %[[X]]
  // CHECK-DAG: gpu.dealloc %[[XD]]
  // CHECK-DAG: gpu.dealloc %[[YD]]
  // CHECK: return
  return
}

// -----

// A strided copy becomes a linalg.copy (a generated kernel later).
// CHECK-LABEL: func.func @strided_copy
func.func @strided_copy(%x: memref<4x8xf32>, %y: memref<4x4xf32>) {
  %v = memref.subview %x[0, 0] [4, 4] [1, 2] : memref<4x8xf32> to memref<4x4xf32, strided<[8, 2]>>
  // CHECK: linalg.copy ins(%{{.*}} : memref<4x4xf32, strided<[8, 2]>>) outs(%{{.*}} : memref<4x4xf32>)
  memref.copy %v, %y : memref<4x4xf32, strided<[8, 2]>> to memref<4x4xf32>
  return
}

// -----

func.func private @unknown_library_call(!llvm.ptr)

func.func @host_call(%x: memref<4xf32>) {
  %p = llvm.mlir.zero : !llvm.ptr
  // expected-error @+1 {{GPU offload: 'unknown_library_call' has no GPU implementation}}
  func.call @unknown_library_call(%p) : (!llvm.ptr) -> ()
  return
}

// -----

// expected-error @+1 {{GPU offload needs arguments of static shape and identity layout; argument #0 is 'memref<?xf32>'}}
func.func @dynamic(%x: memref<?xf32>) {
  return
}

// -----

// expected-error @+1 {{GPU offload needs functions that return no buffers}}
func.func @returns(%x: memref<4xf32>) -> memref<4xf32> {
  return %x : memref<4xf32>
}
