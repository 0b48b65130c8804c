// RUN: parsimony-opt %s --parsimony-insert-runtime-checks --split-input-file --mlir-print-debuginfo | FileCheck %s
// RUN: parsimony-opt %s --parsimony-insert-runtime-checks --canonicalize --split-input-file | FileCheck %s --check-prefix=FOLDED

// A cast to a static size checks the runtime size, named after the node.
// CHECK-LABEL: func.func @cast_to_static
// CHECK: %[[D:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[D]], %c6
// CHECK: cf.assert %[[OK]], "a size computed at run time (dimension 0) is not 6, the size the model's shapes give it (node 'reshape_1')"
// CHECK-NOT: cf.assert
// CHECK: tensor.cast
func.func @cast_to_static(%x: tensor<?x2xf32>) -> tensor<6x2xf32> {
  %0 = tensor.cast %x : tensor<?x2xf32> to tensor<6x2xf32> loc(#named)
  return %0 : tensor<6x2xf32>
}
#named = loc("reshape_1"("model.onnx":0:0))

// -----

// Static to static, and static to dynamic: nothing to check.
// CHECK-LABEL: func.func @cast_needs_no_check
// CHECK-NOT: cf.assert
func.func @cast_needs_no_check(%x: tensor<6x2xf32>) -> tensor<?x2xf32> {
  %0 = tensor.cast %x : tensor<6x2xf32> to tensor<?x2xf32>
  return %0 : tensor<?x2xf32>
}

// -----

// tensor.reshape: non-negative sizes multiplying to the source's 12
// elements (in f64, which cannot wrap), then each static result size.
// CHECK-LABEL: func.func @reshape
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi sge
// CHECK: arith.mulf
// CHECK: arith.cmpf oeq, %{{.*}}, %cst
// CHECK: cf.assert %{{.*}}, "a shape computed at run time has a negative size or another element count than the tensor it reshapes"
// CHECK: %[[S:.*]] = arith.cmpi eq, %{{.*}}, %c4
// CHECK: cf.assert %[[S]], "a shape computed at run time has a size (dimension 1) other than 4
// CHECK: tensor.reshape
func.func @reshape(%x: tensor<3x4xf32>, %a: index, %b: index) -> tensor<?x4xf32> {
  %ia = arith.index_cast %a : index to i64
  %ib = arith.index_cast %b : index to i64
  %shape = tensor.from_elements %ia, %ib : tensor<2xi64>
  %0 = tensor.reshape %x(%shape) : (tensor<3x4xf32>, tensor<2xi64>) -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// expand_shape with runtime sizes: each group multiplies to the source size.
// CHECK-LABEL: func.func @expand
// CHECK: cf.assert %{{.*}}, "sizes computed at run time split a dimension into parts that do not multiply to its size"
// CHECK: tensor.expand_shape
func.func @expand(%x: tensor<?xf32>, %a: index) -> tensor<?x4xf32> {
  %0 = tensor.expand_shape %x [[0, 1]] output_shape [%a, 4] : tensor<?xf32> into tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// tensor.empty with a runtime size: non-negative and at most 1 TiB (2^38 =
// 0x4250000000000000 f32 elements).
// CHECK-LABEL: func.func @empty
// CHECK: arith.cmpi sge, %arg0, %c0
// CHECK: %[[BOUND:.*]] = arith.cmpf ole, %{{.*}}, %cst
// CHECK: cf.assert %{{.*}}, "a size computed at run time is negative or makes a tensor of more than 1 TiB"
// CHECK: tensor.empty(%arg0)
// FOLDED-LABEL: func.func @empty
// FOLDED: arith.constant 0x4250000000000000 : f64{{$}}
func.func @empty(%n: index) -> tensor<?x3xf32> {
  %0 = tensor.empty(%n) : tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}

// -----

// Concatenation: sizes outside the axis agree (here with the static one).
// CHECK-LABEL: func.func @concat
// CHECK: %[[D:.*]] = tensor.dim %arg1, %c1
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[D]], %c4
// CHECK: cf.assert %[[OK]], "tensors joined by a concatenation have sizes computed at run time that differ outside the concatenation axis"
func.func @concat(%a: tensor<2x4xf32>, %b: tensor<3x?xf32>) -> tensor<5x4xf32> {
  %0 = tensor.concat dim(0) %a, %b : (tensor<2x4xf32>, tensor<3x?xf32>) -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}

// -----

// Slices at runtime offsets stay inside the tensor (empty ones may start at
// its end); static slices are verified statically.
// CHECK-LABEL: func.func @slices
// CHECK: cf.assert %{{.*}}, "a slice read at offsets or sizes computed at run time runs outside the tensor"
// CHECK: tensor.extract_slice %arg0[%arg2, 0] [2, 4]
// CHECK: cf.assert %{{.*}}, "a slice written at offsets or sizes computed at run time runs outside the tensor"
// CHECK: tensor.insert_slice
// CHECK-NOT: cf.assert
// CHECK: tensor.extract_slice %arg0[1, 0] [2, 4]
func.func @slices(%x: tensor<8x4xf32>, %y: tensor<2x4xf32>, %o: index) -> (tensor<2x4xf32>, tensor<8x4xf32>, tensor<2x4xf32>) {
  %0 = tensor.extract_slice %x[%o, 0] [2, 4] [1, 1] : tensor<8x4xf32> to tensor<2x4xf32>
  %1 = tensor.insert_slice %y into %x[%o, 0] [2, 4] [1, 1] : tensor<2x4xf32> into tensor<8x4xf32>
  %2 = tensor.extract_slice %x[1, 0] [2, 4] [1, 1] : tensor<8x4xf32> to tensor<2x4xf32>
  return %0, %1, %2 : tensor<2x4xf32>, tensor<8x4xf32>, tensor<2x4xf32>
}

// -----

// A linalg op whose operands share a loop: the dynamic sizes must agree
// with each other; a broadcast operand (no dN result) is not compared.
// CHECK-LABEL: func.func @elementwise
// CHECK-DAG: %[[DA:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG: %[[DB:.*]] = tensor.dim %arg1, %c1
// CHECK: cf.assert %{{.*}}, "operands with sizes computed at run time disagree on a dimension they share"
// CHECK: linalg.generic
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @elementwise(%a: tensor<?x4xf32>, %b: tensor<3x?xf32>, %c: tensor<4xf32>) -> tensor<3x4xf32> {
  %init = tensor.empty() : tensor<3x4xf32>
  %0 = linalg.generic {indexing_maps = [#id, #id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a, %b, %c : tensor<?x4xf32>, tensor<3x?xf32>, tensor<4xf32>) outs(%init : tensor<3x4xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32, %out: f32):
    %s = arith.addf %x, %y : f32
    %t = arith.addf %s, %z : f32
    linalg.yield %t : f32
  } -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// Fully static models get no check at all, and private helpers are left
// alone.
// FOLDED-LABEL: func.func @static_model
// FOLDED-NOT: cf.assert
// FOLDED-LABEL: func.func private @helper
// FOLDED-NOT: cf.assert
func.func @static_model(%a: tensor<3x4xf32>, %b: tensor<3x4xf32>) -> tensor<12xf32> {
  %init = tensor.empty() : tensor<3x4xf32>
  %0 = linalg.add ins(%a, %b : tensor<3x4xf32>, tensor<3x4xf32>) outs(%init : tensor<3x4xf32>) -> tensor<3x4xf32>
  %1 = tensor.collapse_shape %0 [[0, 1]] : tensor<3x4xf32> into tensor<12xf32>
  return %1 : tensor<12xf32>
}
func.func private @helper(%x: tensor<?xf32>) -> tensor<4xf32> {
  %0 = tensor.cast %x : tensor<?xf32> to tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Checks go under host control flow (a Loop's scf.for, an If's scf.if),
// not into linalg bodies, where they would sit in an inner loop or a GPU
// kernel.
// CHECK-LABEL: func.func @nesting
// FOLDED-LABEL: func.func @nesting
// CHECK: scf.for
// CHECK: cf.assert %{{.*}}, "a size computed at run time (dimension 0) is not 4
// CHECK: tensor.cast
// CHECK: linalg.generic
// CHECK-NOT: cf.assert
// CHECK: tensor.extract_slice
// CHECK-NOT: cf.assert
// CHECK: tensor.cast
// CHECK: linalg.yield
#id1 = affine_map<(d0) -> (d0)>
func.func @nesting(%x: tensor<?xf32>, %n: index) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %init = tensor.empty() : tensor<4xf32>
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %init) -> tensor<4xf32> {
    %c = tensor.cast %x : tensor<?xf32> to tensor<4xf32>
    scf.yield %c : tensor<4xf32>
  }
  %g = linalg.generic {indexing_maps = [#id1], iterator_types = ["parallel"]} outs(%r : tensor<4xf32>) {
  ^bb0(%out: f32):
    %e = tensor.extract_slice %x[%n] [4] [1] : tensor<?xf32> to tensor<4xf32>
    %c = tensor.cast %x : tensor<?xf32> to tensor<4xf32>
    linalg.yield %out : f32
  } -> tensor<4xf32>
  return %g : tensor<4xf32>
}
