// REQUIRES: ptxas
// RUN: parsimony-opt %S/../e2e/Inputs/linear-gelu.mlir --parsimony-gpu-pipeline='format=isa chip=sm_80' | FileCheck %s
// RUN: parsimony-opt %S/../e2e/Inputs/linear-gelu.mlir --parsimony-gpu-pipeline='format=fatbin chip=sm_90' | FileCheck %s --check-prefix=FATBIN
// RUN: parsimony-opt %S/../e2e/Inputs/linear-gelu.mlir --parsimony-gpu-pipeline='kernels=false format=isa' | FileCheck %s --check-prefix=LOOPS

// The stages of --parsimony-gpu-pipeline on a linear layer + GELU: the
// matmul runs on the GPU runtime's GEMM, the fill and the bias + GELU are
// generated kernels in one gpu.module of NVVM-compiled PTX, buffers are
// device allocations with host copies at the boundary, and the host entry
// keeps the bare-pointer ABI.

// CHECK: module attributes {gpu.container_module}
// CHECK: llvm.func @parsimony_gpu_sgemm_batched(
// CHECK: llvm.func @main(%{{.*}}: !llvm.ptr {onnx.name = "x"}, %{{.*}}: !llvm.ptr {onnx.name = "w"}, %{{.*}}: !llvm.ptr {onnx.name = "b"}, %{{.*}}: !llvm.ptr {onnx.name = "y"})
// CHECK:   llvm.call @mgpuMemAlloc(
// CHECK:   llvm.call @mgpuMemcpy(
// CHECK:   gpu.launch_func <%{{.*}} : !llvm.ptr> @main_kernel::@main_kernel blocks in
// CHECK:   llvm.call @parsimony_gpu_sgemm_batched(
// CHECK:   gpu.launch_func <%{{.*}} : !llvm.ptr> @main_kernel::@main_kernel_0 blocks in
// CHECK:   llvm.call @mgpuMemFree(
// CHECK:   llvm.return
// One module, PTX for the requested architecture, two kernels.
// CHECK: gpu.binary @main_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_80">, {{.*}}assembly = "{{.*}}.target sm_80{{.*}}.entry main_kernel({{.*}}.entry main_kernel_0(
// CHECK-NOT: gpu.binary

// FATBIN: gpu.binary @main_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90">, properties = {ISAToBinaryTimeInMs

// Without the GEMM kernels the matmul is a generated kernel as well.
// LOOPS-NOT: parsimony_gpu_sgemm_batched
// LOOPS: gpu.binary @main_kernel {{.*}}.entry main_kernel({{.*}}.entry main_kernel_0({{.*}}.entry main_kernel_1(
