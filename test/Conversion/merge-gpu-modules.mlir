// RUN: parsimony-opt %s --parsimony-merge-gpu-modules | FileCheck %s

// Two outlined kernels with the same name end up in one module, the second
// renamed, and each launch points at its kernel.
// CHECK: gpu.module @a
// CHECK:   gpu.func @k(%{{.*}}: f32) kernel
// CHECK:   gpu.func @[[K2:k_[0-9]+]](%{{.*}}: i32) kernel
// CHECK-NOT: gpu.module @b
// CHECK: func.func @main
// CHECK:   gpu.launch_func @a::@k
// CHECK:   gpu.launch_func @a::@[[K2]]
module attributes {gpu.container_module} {
  gpu.module @a {
    gpu.func @k(%x: f32) kernel {
      gpu.return
    }
  }
  gpu.module @b {
    gpu.func @k(%x: i32) kernel {
      gpu.return
    }
  }
  func.func @main(%f: f32, %i: i32) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @a::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%f : f32)
    gpu.launch_func @b::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%i : i32)
    return
  }
}
