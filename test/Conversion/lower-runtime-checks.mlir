// RUN: parsimony-opt %s --parsimony-lower-runtime-checks --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s

// Each cf.assert of an entry point becomes a branch to a block that passes
// the message to the runtime and returns; asserts with the same message
// share the block and the string constant.
// CHECK-DAG: llvm.mlir.global internal constant @parsimony_check_message("size A\00")
// CHECK-DAG: llvm.mlir.global internal constant @parsimony_check_message_0("size B\00")
// CHECK-DAG: llvm.func @parsimony_check_failed(!llvm.ptr)
// CHECK-LABEL: func.func @entry
// CHECK: cf.cond_br %arg1, ^[[OK1:.*]], ^[[FAIL_A:[a-z0-9]+]]
// CHECK: ^[[OK1]]:
// CHECK: "test.first"
// CHECK: cf.cond_br %arg2, ^[[OK2:.*]], ^[[FAIL_B:[a-z0-9]+]]
// CHECK: ^[[OK2]]:
// CHECK: cf.cond_br %arg1, ^[[OK3:.*]], ^[[FAIL_A]]
// CHECK: ^[[OK3]]:
// CHECK: "test.second"
// CHECK: return
// CHECK: ^[[FAIL_A]]:
// CHECK: %[[A:.*]] = llvm.mlir.addressof @parsimony_check_message
// CHECK: %[[P:.*]] = llvm.getelementptr %[[A]][0, 0]
// CHECK: llvm.call @parsimony_check_failed(%[[P]])
// CHECK: return
// CHECK: ^[[FAIL_B]]:
// CHECK: llvm.mlir.addressof @parsimony_check_message_0
// CHECK: llvm.call @parsimony_check_failed
// CHECK: return
func.func @entry(%x: memref<4xf32>, %ok: i1, %ok2: i1) {
  cf.assert %ok, "size A"
  "test.first"() : () -> ()
  cf.assert %ok2, "size B"
  cf.assert %ok, "size A"
  "test.second"() : () -> ()
  return
}

// -----

// Functions without checks are left alone, and no runtime function is
// declared.
// CHECK-NOT: parsimony_check_failed
// CHECK-LABEL: func.func @no_checks
// CHECK-NEXT: return
func.func @no_checks() {
  return
}

// -----

func.func @with_results(%ok: i1) -> i32 {
  // expected-error @below {{a runtime check in a function with results}}
  cf.assert %ok, "never"
  %c = arith.constant 0 : i32
  return %c : i32
}

// -----

func.func @nested(%ok: i1, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
    // expected-error @below {{a runtime check inside a region (run after --convert-scf-to-cf)}}
    cf.assert %ok, "in a loop"
  }
  return
}
