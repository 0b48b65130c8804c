// RUN: parsimony-opt %s --pass-pipeline='builtin.module(func.func(parsimony-parallel-iterators-first))' --split-input-file | FileCheck %s

// A reduction over the leading axis (ReduceSum/ArgMax over axis 0): the
// parallel dimension moves first, the maps and linalg.index follow.
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1) -> (d1, d0)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[SECOND:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @leading_reduction
// CHECK:         linalg.generic {indexing_maps = [#[[IN]], #[[OUT]], #[[OUT]]], iterator_types = ["parallel", "reduction"]}
// CHECK:           %[[P:.*]] = linalg.index 0 : index
// CHECK:           %[[R:.*]] = linalg.index 1 : index
// CHECK:           %[[OLD0:.*]] = affine.apply #[[SECOND]](%[[P]], %[[R]])
// CHECK:           arith.index_cast %[[OLD0]]
func.func @leading_reduction(%in: memref<4x8xf32>, %max: memref<8xf32>,
                             %arg: memref<8xi64>) {
  linalg.generic {
      indexing_maps = [affine_map<(r, p) -> (r, p)>, affine_map<(r, p) -> (p)>,
                       affine_map<(r, p) -> (p)>],
      iterator_types = ["reduction", "parallel"]}
      ins(%in : memref<4x8xf32>) outs(%max, %arg : memref<8xf32>, memref<8xi64>) {
  ^bb0(%x: f32, %m: f32, %a: i64):
    %r = linalg.index 0 : index
    %ri = arith.index_cast %r : index to i64
    %better = arith.cmpf ogt, %x, %m : f32
    %nm = arith.select %better, %x, %m : f32
    %na = arith.select %better, %ri, %a : i64
    linalg.yield %nm, %na : f32, i64
  }
  return
}

// -----

// Parallel iterators already first (a row reduction): unchanged.
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @trailing_reduction
// CHECK:         linalg.generic {indexing_maps = [#[[ROW]], #{{.*}}], iterator_types = ["parallel", "reduction"]}
func.func @trailing_reduction(%in: memref<4x8xf32>, %out: memref<4xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(p, r) -> (p, r)>, affine_map<(p, r) -> (p)>],
      iterator_types = ["parallel", "reduction"]}
      ins(%in : memref<4x8xf32>) outs(%out : memref<4xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %s = arith.addf %x, %acc : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Several of each kind keep their relative order: (r0, p0, r1, p1) ->
// (p0, p1, r0, r1).
// CHECK-DAG: #[[IN3:.*]] = affine_map<(d0, d1, d2, d3) -> (d2, d0, d3, d1)>
// CHECK-DAG: #[[OUT3:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
// CHECK-LABEL: func.func @interleaved
// CHECK:         linalg.generic {indexing_maps = [#[[IN3]], #[[OUT3]]], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
func.func @interleaved(%in: memref<2x3x4x5xf32>, %out: memref<3x5xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>,
                       affine_map<(a, b, c, d) -> (b, d)>],
      iterator_types = ["reduction", "parallel", "reduction", "parallel"]}
      ins(%in : memref<2x3x4x5xf32>) outs(%out : memref<3x5xf32>) {
  ^bb0(%x: f32, %acc: f32):
    %s = arith.addf %x, %acc : f32
    linalg.yield %s : f32
  }
  return
}
