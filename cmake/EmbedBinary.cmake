# cmake -DINPUT=file -DOUTPUT=file.c -DSYMBOL=name -P EmbedBinary.cmake
# Writes a C file defining `const unsigned char SYMBOL[]` (the bytes of
# INPUT plus a terminating zero) and `const size_t SYMBOL_size`.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" length)
math(EXPR size "${length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){32})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}"
  "/* Generated from ${INPUT} by cmake/EmbedBinary.cmake. */\n"
  "#include <stddef.h>\n"
  "__attribute__((aligned(64))) const unsigned char ${SYMBOL}[] = {\n"
  "${bytes}0x00};\n"
  "const size_t ${SYMBOL}_size = ${size};\n")
