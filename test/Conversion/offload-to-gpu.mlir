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

// Arguments read through a memref.reshape: the data (the view's source) and
// the shape (read for the view's sizes) are both copied in.
// CHECK-LABEL: func.func @reshape_reads
// CHECK-DAG:     %[[DATA:.*]] = gpu.alloc () : memref<12xf32>
// CHECK-DAG:     gpu.memcpy %[[DATA]], %arg0
// CHECK-DAG:     %[[SHAPE:.*]] = gpu.alloc () : memref<2xi64>
// CHECK-DAG:     gpu.memcpy %[[SHAPE]], %arg1
// CHECK:         memref.reshape %[[DATA]](%[[SHAPE]])
func.func @reshape_reads(%data: memref<12xf32>, %shape: memref<2xi64>,
                         %out: memref<4x3xf32>) {
  %v = memref.reshape %data(%shape) : (memref<12xf32>, memref<2xi64>) -> memref<?x?xf32>
  %c0 = arith.constant 0 : index
  %e = memref.load %v[%c0, %c0] : memref<?x?xf32>
  memref.store %e, %out[%c0, %c0] : memref<4x3xf32>
  return
}

// -----

// A product of 8-bit activations moves to its GPU twin, whose zero point
// operand is followed by the zero point's device address. A zero point the
// model computes (a byte in device memory, read on the host as ext(load))
// passes by address and the host read goes; a host value passes with a
// null address. `y` and `z` are the outputs (operand 15): copied back,
// never in; the input `x` is copied in.

func.func private @parsimony_quant_matmul_u8_f32(!llvm.ptr, i64, i64, i64, !llvm.ptr, !llvm.ptr, i32, i32, i64, i32, i32, i32, !llvm.ptr, i32, !llvm.ptr, !llvm.ptr)

memref.global "private" constant @q : memref<8x4xi8> = dense<1>
memref.global "private" constant @s : memref<8xf32> = dense<5.000000e-01>

// CHECK-NOT: func.func private @parsimony_quant_matmul_u8_f32(
// CHECK: func.func private @parsimony_gpu_quant_matmul_u8_f32(!llvm.ptr, i64, i64, i64, !llvm.ptr, !llvm.ptr, i32, i32, i64, i32, i32, i32, !llvm.ptr, !llvm.ptr, i32, !llvm.ptr, !llvm.ptr)
// CHECK-NOT: func.func private @parsimony_quant_matmul_u8_f32(
// CHECK-LABEL: func.func @byte_matmul(
// CHECK-SAME:    %[[X:.*]]: memref<2x4xi8>, %[[Y:.*]]: memref<2x8xf32>, %[[Z:.*]]: memref<2x8xf32>)
func.func @byte_matmul(%x: memref<2x4xi8>, %y: memref<2x8xf32>, %z: memref<2x8xf32>) {
  // CHECK-DAG: %[[ZD:.*]] = gpu.alloc () : memref<2x8xf32>
  // CHECK-DAG: %[[YD:.*]] = gpu.alloc () : memref<2x8xf32>
  // CHECK-DAG: %[[XD:.*]] = gpu.alloc () : memref<2x4xi8>
  // CHECK-DAG: gpu.memcpy %[[XD]], %[[X]]
  // CHECK-NOT: gpu.memcpy %[[YD]], %[[Y]]
  // CHECK-NOT: gpu.memcpy %[[ZD]], %[[Z]]
  // CHECK: %[[ZP:.*]] = gpu.alloc () : memref<i8>
  // CHECK: linalg.fill ins(%{{.*}} : i8) outs(%[[ZP]] : memref<i8>)
  // CHECK-NOT: memref.load
  // CHECK-NOT: arith.extui
  %c2 = arith.constant 2 : i64
  %c4 = arith.constant 4 : i64
  %c8 = arith.constant 8 : i64
  %c0_i64 = arith.constant 0 : i64
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c3 = arith.constant 3 : i32
  %c8_i32 = arith.constant 8 : i32
  %c7_i8 = arith.constant 7 : i8
  %null = llvm.mlir.zero : !llvm.ptr
  %zp = memref.alloc() : memref<i8>
  linalg.fill ins(%c7_i8 : i8) outs(%zp : memref<i8>)
  %zp8 = memref.load %zp[] : memref<i8>
  %zp32 = arith.extui %zp8 : i8 to i32
  %q = memref.get_global @q : memref<8x4xi8>
  %s = memref.get_global @s : memref<8xf32>
  %mx, %ox, %sx:2, %tx:2 = memref.extract_strided_metadata %x : memref<2x4xi8> -> memref<i8>, index, index, index, index, index
  %ax = memref.extract_aligned_pointer_as_index %mx : memref<i8> -> index
  %ix = arith.index_cast %ax : index to i64
  %xp = llvm.inttoptr %ix : i64 to !llvm.ptr
  %mq, %oq, %sq:2, %tq:2 = memref.extract_strided_metadata %q : memref<8x4xi8> -> memref<i8>, index, index, index, index, index
  %aq = memref.extract_aligned_pointer_as_index %mq : memref<i8> -> index
  %iq = arith.index_cast %aq : index to i64
  %qp = llvm.inttoptr %iq : i64 to !llvm.ptr
  %ms, %os, %ss, %ts = memref.extract_strided_metadata %s : memref<8xf32> -> memref<f32>, index, index, index
  %as = memref.extract_aligned_pointer_as_index %ms : memref<f32> -> index
  %is = arith.index_cast %as : index to i64
  %sp = llvm.inttoptr %is : i64 to !llvm.ptr
  %my, %oy, %sy:2, %ty:2 = memref.extract_strided_metadata %y : memref<2x8xf32> -> memref<f32>, index, index, index, index, index
  %ay = memref.extract_aligned_pointer_as_index %my : memref<f32> -> index
  %iy = arith.index_cast %ay : index to i64
  %yp = llvm.inttoptr %iy : i64 to !llvm.ptr
  %mz, %oz, %sz:2, %tz:2 = memref.extract_strided_metadata %z : memref<2x8xf32> -> memref<f32>, index, index, index, index, index
  %az = memref.extract_aligned_pointer_as_index %mz : memref<f32> -> index
  %iz = arith.index_cast %az : index to i64
  %zpz = llvm.inttoptr %iz : i64 to !llvm.ptr
  // CHECK: memref.extract_strided_metadata %[[XD]]
  // CHECK: %[[XP:.*]] = llvm.inttoptr
  // CHECK: memref.extract_strided_metadata %[[YD]]
  // CHECK: %[[YP:.*]] = llvm.inttoptr
  // CHECK: memref.extract_strided_metadata %[[ZD]]
  // CHECK: %[[ZOUT:.*]] = llvm.inttoptr
  // CHECK: memref.extract_strided_metadata %[[ZP]] : memref<i8>
  // CHECK: %[[ZPP:.*]] = llvm.inttoptr
  // CHECK: %[[ZERO:.*]] = arith.constant 0 : i32
  // CHECK: call @parsimony_gpu_quant_matmul_u8_f32(%[[XP]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %[[ZERO]], %[[ZPP]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %[[YP]])
  func.call @parsimony_quant_matmul_u8_f32(%xp, %c2, %c4, %c8, %qp, %sp, %c1, %c8_i32, %c0_i64, %c0, %c0, %zp32, %null, %c0, %null, %yp) : (!llvm.ptr, i64, i64, i64, !llvm.ptr, !llvm.ptr, i32, i32, i64, i32, i32, i32, !llvm.ptr, i32, !llvm.ptr, !llvm.ptr) -> ()
  // CHECK: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
  // CHECK: call @parsimony_gpu_quant_matmul_u8_f32(%[[XP]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %c1_i32, %c3_i32, %[[NULL]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %[[ZOUT]])
  func.call @parsimony_quant_matmul_u8_f32(%xp, %c2, %c4, %c8, %qp, %sp, %c1, %c8_i32, %c0_i64, %c0, %c1, %c3, %null, %c0, %null, %zpz) : (!llvm.ptr, i64, i64, i64, !llvm.ptr, !llvm.ptr, i32, i32, i64, i32, i32, i32, !llvm.ptr, i32, !llvm.ptr, !llvm.ptr) -> ()
  // CHECK: gpu.dealloc %[[ZP]]
  memref.dealloc %zp : memref<i8>
  // CHECK-DAG: gpu.memcpy %[[Y]], %[[YD]]
  // CHECK-DAG: gpu.memcpy %[[Z]], %[[ZD]]
  // CHECK-NOT: gpu.memcpy %[[X]]
  // CHECK: return
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
