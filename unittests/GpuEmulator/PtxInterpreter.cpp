//===- PtxInterpreter.cpp - runs generated PTX kernels on the SIMT emulator
//===//
//
// See PtxInterpreter.h. A module is parsed once into instructions with
// resolved registers, labels and parameters; a launch interprets them on
// one simt fiber per GPU thread. Registers hold 64-bit patterns; an
// instruction's type says how to read and write them.
//
//===----------------------------------------------------------------------===//

#define SIMT_IMPLEMENTATION
#include "PtxInterpreter.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ptx {
namespace {

enum class Type : uint8_t {
  None,
  Pred,
  B8,
  B16,
  B32,
  B64,
  U8,
  U16,
  U32,
  U64,
  S8,
  S16,
  S32,
  S64,
  F16,
  BF16,
  F32,
  F64
};

Type typeNamed(const std::string &s) {
  static const std::unordered_map<std::string, Type> names = {
      {"pred", Type::Pred}, {"b8", Type::B8},   {"b16", Type::B16},
      {"b32", Type::B32},   {"b64", Type::B64}, {"u8", Type::U8},
      {"u16", Type::U16},   {"u32", Type::U32}, {"u64", Type::U64},
      {"s8", Type::S8},     {"s16", Type::S16}, {"s32", Type::S32},
      {"s64", Type::S64},   {"f16", Type::F16}, {"bf16", Type::BF16},
      {"f32", Type::F32},   {"f64", Type::F64}};
  auto it = names.find(s);
  return it == names.end() ? Type::None : it->second;
}

unsigned bitsOf(Type t) {
  switch (t) {
  case Type::Pred:
    return 1;
  case Type::B8:
  case Type::U8:
  case Type::S8:
    return 8;
  case Type::B16:
  case Type::U16:
  case Type::S16:
  case Type::F16:
  case Type::BF16:
    return 16;
  case Type::B32:
  case Type::U32:
  case Type::S32:
  case Type::F32:
    return 32;
  default:
    return 64;
  }
}
bool isSigned(Type t) {
  return t == Type::S8 || t == Type::S16 || t == Type::S32 || t == Type::S64;
}
bool isFloat(Type t) {
  return t == Type::F16 || t == Type::BF16 || t == Type::F32 || t == Type::F64;
}

enum class Op : uint8_t {
  Mov,
  Ld,
  St,
  Cvta,
  Add,
  Sub,
  Mul,
  Mad,
  Fma,
  Div,
  Rem,
  Min,
  Max,
  Abs,
  Neg,
  And,
  Or,
  Xor,
  Not,
  Shl,
  Shr,
  Selp,
  Setp,
  Cvt,
  Sqrt,
  Rsqrt,
  Rcp,
  Ex2,
  Lg2,
  Sin,
  Cos,
  Tanh,
  Copysign,
  Testp,
  Popc,
  Clz,
  Bra,
  Ret,
  Bar
};

// Modifier flags.
enum : uint32_t {
  kWide = 1,
  kHi = 2,
  kSat = 4,
  kRni = 8, // round to integer, nearest even
  kRzi = 16,
  kRmi = 32,
  kRpi = 64,
  kAndPred = 128,
  kOrPred = 256,
  kParam = 512, // ld/st state space
};

enum Special : int {
  kTidX,
  kTidY,
  kTidZ,
  kNtidX,
  kNtidY,
  kNtidZ,
  kCtaidX,
  kCtaidY,
  kCtaidZ,
  kNctaidX,
  kNctaidY,
  kNctaidZ,
  kLaneId
};

struct Operand {
  enum Kind : uint8_t {
    None,
    Reg,
    Imm,
    Spec,
    Mem,
    Label,
    Vec,
    SharedAddress // the address of a .shared variable (imm: its offset)
  } kind = None;
  int reg = -1;        // Reg; Mem: base register or -1
  int param = -1;      // Mem: the kernel parameter it addresses
  bool shared = false; // Mem: imm is an offset in the block's shared memory
  uint64_t imm = 0;    // Imm: bits; Mem: byte offset
  int special = 0;
  int target = -1; // Label: instruction index
  bool negated = false;
  int pairReg = -1; // "p|q" destinations of setp
  std::vector<int> regs;
};

struct Instr {
  Op op;
  Type type = Type::None, srcType = Type::None;
  uint32_t mods = 0;
  int cmp = 0;
  int vec = 1;
  int guard = -1;
  bool guardNegated = false;
  std::vector<Operand> ops;
  std::string text;
};

enum Cmp {
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  Lo,
  Ls,
  Hi,
  Hs,
  Equ,
  Neu,
  Ltu,
  Leu,
  Gtu,
  Geu,
  Num,
  Nan
};

int cmpNamed(const std::string &s) {
  static const std::unordered_map<std::string, int> names = {
      {"eq", Eq},   {"ne", Ne},   {"lt", Lt},   {"le", Le},   {"gt", Gt},
      {"ge", Ge},   {"lo", Lo},   {"ls", Ls},   {"hi", Hi},   {"hs", Hs},
      {"equ", Equ}, {"neu", Neu}, {"ltu", Ltu}, {"leu", Leu}, {"gtu", Gtu},
      {"geu", Geu}, {"num", Num}, {"nan", Nan}};
  auto it = names.find(s);
  return it == names.end() ? -1 : it->second;
}

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos)
    return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

/// Splits at top-level commas (not inside [] or {}).
std::vector<std::string> splitOperands(const std::string &s) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '[' || c == '{')
      ++depth;
    if (c == ']' || c == '}')
      --depth;
    if (c == ',' && depth == 0) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!trim(cur).empty())
    out.push_back(trim(cur));
  return out;
}

std::vector<std::string> splitDots(const std::string &s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == '.') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

std::string stripComments(const std::string &text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "//") == 0) {
      while (i < text.size() && text[i] != '\n')
        ++i;
    } else if (text.compare(i, 2, "/*") == 0) {
      size_t e = text.find("*/", i + 2);
      i = e == std::string::npos ? text.size() : e + 2;
    } else {
      out += text[i++];
    }
  }
  return out;
}

} // namespace

struct Kernel {
  std::string name;
  std::vector<unsigned> paramBytes;
  std::unordered_map<std::string, int> params;
  // .shared variables: offset in the block's shared memory.
  std::unordered_map<std::string, size_t> shared;
  size_t sharedBytes = 0;
  std::unordered_map<std::string, int> registers;
  std::vector<Instr> code;
};

namespace {

class Parser {
public:
  Parser(Kernel &k, std::string &error) : k(k), error(error) {}

  std::unordered_set<std::string> namedRegisters;

  bool fail(const std::string &what, const std::string &where) {
    error = "PTX kernel " + k.name + ": " + what + " in `" + where + "`";
    return false;
  }

  int reg(const std::string &name) {
    auto [it, inserted] =
        k.registers.emplace(name, static_cast<int>(k.registers.size()));
    return it->second;
  }

  bool operand(const std::string &s, Operand &o, const std::string &where) {
    if (s.empty())
      return fail("empty operand", where);
    if (s[0] == '[') {
      size_t close = s.find(']');
      if (close == std::string::npos)
        return fail("unterminated address", where);
      std::string inner = trim(s.substr(1, close - 1));
      o.kind = Operand::Mem;
      size_t plus = inner.find('+');
      std::string base = trim(inner.substr(0, plus));
      if (plus != std::string::npos)
        o.imm = uint64_t(std::stoll(trim(inner.substr(plus + 1)), nullptr, 0));
      if (!base.empty() && base[0] == '%') {
        o.reg = reg(base);
      } else if (k.shared.count(base)) {
        o.shared = true;
        o.imm += k.shared[base];
      } else if (k.params.count(base)) {
        o.param = k.params[base];
      } else if (!base.empty() &&
                 std::isdigit(static_cast<unsigned char>(base[0]))) {
        o.imm += uint64_t(std::stoll(base, nullptr, 0));
      } else {
        return fail("address of an unknown symbol '" + base + "'", where);
      }
      return true;
    }
    if (s[0] == '{') {
      o.kind = Operand::Vec;
      for (const std::string &r : splitOperands(s.substr(1, s.find('}') - 1))) {
        if (r.empty() || (r[0] != '%' && !namedRegisters.count(r)))
          return fail("vector element that is not a register", where);
        o.regs.push_back(reg(r));
      }
      return true;
    }
    std::string t = s;
    if (t[0] == '!') {
      o.negated = true;
      t = t.substr(1);
    }
    if (t[0] == '%') {
      static const std::unordered_map<std::string, int> specials = {
          {"%tid.x", kTidX},       {"%tid.y", kTidY},
          {"%tid.z", kTidZ},       {"%ntid.x", kNtidX},
          {"%ntid.y", kNtidY},     {"%ntid.z", kNtidZ},
          {"%ctaid.x", kCtaidX},   {"%ctaid.y", kCtaidY},
          {"%ctaid.z", kCtaidZ},   {"%nctaid.x", kNctaidX},
          {"%nctaid.y", kNctaidY}, {"%nctaid.z", kNctaidZ},
          {"%laneid", kLaneId}};
      auto it = specials.find(t);
      if (it != specials.end()) {
        o.kind = Operand::Spec;
        o.special = it->second;
        return true;
      }
      size_t bar = t.find('|');
      if (bar != std::string::npos) {
        o.pairReg = reg(t.substr(bar + 1));
        t = t.substr(0, bar);
      }
      if (t.find('.') != std::string::npos)
        return fail("unsupported special register " + t, where);
      o.kind = Operand::Reg;
      o.reg = reg(t);
      return true;
    }
    if ((t.size() == 10 && (t[1] == 'f' || t[1] == 'F') && t[0] == '0') ||
        (t.size() == 18 && (t[1] == 'd' || t[1] == 'D') && t[0] == '0')) {
      o.kind = Operand::Imm;
      o.imm = std::stoull(t.substr(2), nullptr, 16);
      return true;
    }
    if (std::isdigit(static_cast<unsigned char>(t[0])) || t[0] == '-') {
      o.kind = Operand::Imm;
      std::string digits = t;
      if (!digits.empty() && (digits.back() == 'U' || digits.back() == 'u'))
        digits.pop_back();
      o.imm = digits[0] == '-' ? uint64_t(std::stoll(digits, nullptr, 0))
                               : std::stoull(digits, nullptr, 0);
      return true;
    }
    if (namedRegisters.count(t)) {
      o.kind = Operand::Reg;
      o.reg = reg(t);
      return true;
    }
    if (k.shared.count(t)) {
      o.kind = Operand::SharedAddress;
      o.imm = k.shared[t];
      return true;
    }
    o.kind = Operand::Label;
    return true; // resolved after the body is read
  }

  /// A register declaration: "%r<5>" ranges are created on first use;
  /// plain names ("tmp", declared in inline scopes) are remembered so that
  /// operands can name them.
  bool registerNames(const std::string &s) {
    size_t type = s.find('.', 4);
    size_t names =
        type == std::string::npos ? type : s.find_first_of(" \t", type);
    if (names == std::string::npos)
      return fail("malformed register declaration", s);
    for (const std::string &name : splitOperands(s.substr(names)))
      if (!name.empty() && name[0] != '%')
        namedRegisters.insert(name);
    return true;
  }

  /// One statement of a kernel body (no trailing ';').
  bool statement(std::string s, std::vector<std::string> &labelsOf) {
    s = trim(s);
    if (s.empty())
      return true;
    if (s[0] == '.') {
      // Declarations: registers are created on first use.
      static const char *ignored[] = {".loc", ".pragma", ".file"};
      for (const char *d : ignored)
        if (s.compare(0, std::strlen(d), d) == 0)
          return true;
      if (s.compare(0, 4, ".reg") == 0)
        return registerNames(s);
      if (s.compare(0, 7, ".shared") == 0)
        return sharedVariable(s);
      return fail("unsupported directive", s);
    }
    Instr in;
    in.text = s;
    if (s[0] == '@') {
      size_t sp = s.find_first_of(" \t");
      std::string g = s.substr(1, sp - 1);
      if (!g.empty() && g[0] == '!') {
        in.guardNegated = true;
        g = g.substr(1);
      }
      in.guard = reg(g);
      s = trim(s.substr(sp));
    }
    size_t sp = s.find_first_of(" \t");
    std::string opcode = s.substr(0, sp);
    std::string rest = sp == std::string::npos ? "" : trim(s.substr(sp));
    std::vector<std::string> parts = splitDots(opcode);
    static const std::unordered_map<std::string, Op> ops = {
        {"mov", Op::Mov},     {"ld", Op::Ld},       {"st", Op::St},
        {"cvta", Op::Cvta},   {"add", Op::Add},     {"sub", Op::Sub},
        {"mul", Op::Mul},     {"mad", Op::Mad},     {"fma", Op::Fma},
        {"div", Op::Div},     {"rem", Op::Rem},     {"min", Op::Min},
        {"max", Op::Max},     {"abs", Op::Abs},     {"neg", Op::Neg},
        {"and", Op::And},     {"or", Op::Or},       {"xor", Op::Xor},
        {"not", Op::Not},     {"shl", Op::Shl},     {"shr", Op::Shr},
        {"selp", Op::Selp},   {"setp", Op::Setp},   {"cvt", Op::Cvt},
        {"sqrt", Op::Sqrt},   {"rsqrt", Op::Rsqrt}, {"rcp", Op::Rcp},
        {"ex2", Op::Ex2},     {"lg2", Op::Lg2},     {"sin", Op::Sin},
        {"cos", Op::Cos},     {"tanh", Op::Tanh},   {"copysign", Op::Copysign},
        {"testp", Op::Testp}, {"popc", Op::Popc},   {"clz", Op::Clz},
        {"bra", Op::Bra},     {"ret", Op::Ret},     {"exit", Op::Ret},
        {"bar", Op::Bar},     {"barrier", Op::Bar}};
    auto it = ops.find(parts[0]);
    if (it == ops.end())
      return fail("unsupported instruction '" + parts[0] + "'", s);
    in.op = it->second;
    std::vector<Type> types;
    for (size_t i = 1; i < parts.size(); ++i) {
      const std::string &m = parts[i];
      Type t = typeNamed(m);
      if (t != Type::None) {
        types.push_back(t);
        continue;
      }
      int c = cmpNamed(m);
      if (in.op == Op::Setp && c >= 0 && in.cmp == 0 && types.empty() &&
          !(in.mods & (kAndPred | kOrPred))) {
        in.cmp = c + 1;
        continue;
      }
      if (m == "wide")
        in.mods |= kWide;
      else if (m == "hi")
        in.mods |= kHi;
      else if (m == "sat")
        in.mods |= kSat;
      else if (m == "rni")
        in.mods |= kRni;
      else if (m == "rzi")
        in.mods |= kRzi;
      else if (m == "rmi")
        in.mods |= kRmi;
      else if (m == "rpi")
        in.mods |= kRpi;
      else if (m == "and" && in.op == Op::Setp)
        in.mods |= kAndPred;
      else if (m == "or" && in.op == Op::Setp)
        in.mods |= kOrPred;
      else if (m == "param")
        in.mods |= kParam;
      else if (m == "v2")
        in.vec = 2;
      else if (m == "v4")
        in.vec = 4;
      else if (in.op == Op::Testp)
        in.cmp = m == "finite"       ? 1
                 : m == "infinite"   ? 2
                 : m == "number"     ? 3
                 : m == "notanumber" ? 4
                 : m == "normal"     ? 5
                 : m == "subnormal"  ? 6
                                     : 0;
      else if (m == "local" || m == "const")
        return fail("unsupported state space ." + m, s);
      // Rounding, ftz, approx, full, uni, global, nc, to, lo, cache hints,
      // sync/aligned: no effect here.
    }
    if (in.op == Op::Testp && in.cmp == 0)
      return fail("unsupported testp", s);
    if (in.op == Op::Setp && in.cmp == 0)
      return fail("setp without a comparison", s);
    if (!types.empty())
      in.type = types[0];
    if (types.size() > 1)
      in.srcType = types[1];
    if ((in.op == Op::Cvt && types.size() != 2) ||
        (in.op != Op::Cvt && in.op != Op::Bra && in.op != Op::Ret &&
         in.op != Op::Bar && in.op != Op::Cvta && types.empty()))
      return fail("unexpected types", s);
    for (const std::string &o : splitOperands(rest)) {
      in.ops.emplace_back();
      if (!operand(o, in.ops.back(), s))
        return false;
      if (in.ops.back().kind == Operand::Label)
        labelsOf.push_back(o);
      else
        labelsOf.push_back("");
    }
    bool writes = in.op != Op::St && in.op != Op::Bra && in.op != Op::Ret &&
                  in.op != Op::Bar;
    if (writes && (in.ops.empty() || (in.ops[0].kind != Operand::Reg &&
                                      in.ops[0].kind != Operand::Vec)))
      return fail("destination is not a register", s);
    if ((in.op == Op::Bra &&
         (in.ops.empty() || in.ops[0].kind != Operand::Label)))
      return fail("branch without a label", s);
    k.code.push_back(std::move(in));
    return true;
  }

  /// ".shared .align A .b8 NAME[N]": N bytes aligned to A.
  bool sharedVariable(const std::string &s) {
    size_t open = s.find('['), close = s.find(']');
    size_t nameStart = s.find_last_of(" \t", open);
    if (open == std::string::npos || close == std::string::npos ||
        nameStart == std::string::npos)
      return fail("unsupported .shared declaration", s);
    std::string name = s.substr(nameStart + 1, open - nameStart - 1);
    size_t elements = std::stoul(s.substr(open + 1, close - open - 1));
    size_t element = 1, align = 1;
    for (const std::string &word : splitDots(s.substr(0, nameStart))) {
      Type t = typeNamed(trim(word));
      if (t != Type::None)
        element = std::max(1u, bitsOf(t) / 8);
    }
    size_t alignAt = s.find(".align");
    if (alignAt != std::string::npos)
      align = std::stoul(s.substr(alignAt + 6));
    align = std::max<size_t>(align, 1);
    k.sharedBytes = (k.sharedBytes + align - 1) / align * align;
    k.shared[name] = k.sharedBytes;
    k.sharedBytes += elements * element;
    return true;
  }

  bool body(const std::string &source) {
    // Scope braces stand on lines of their own; vector operands' braces
    // are inside statements.
    std::string text;
    size_t lineStart = 0;
    while (lineStart < source.size()) {
      size_t lineEnd = source.find('\n', lineStart);
      if (lineEnd == std::string::npos)
        lineEnd = source.size();
      std::string line = source.substr(lineStart, lineEnd - lineStart);
      std::string t = trim(line);
      if (t != "{" && t != "}")
        text += line + "\n";
      lineStart = lineEnd + 1;
    }
    std::unordered_map<std::string, int> labels;
    std::vector<std::vector<std::string>> operandLabels;
    size_t start = 0;
    for (size_t i = 0; i <= text.size(); ++i) {
      if (i < text.size() && text[i] != ';')
        continue;
      std::string chunk = text.substr(start, i - start);
      start = i + 1;
      // Leading labels ("$L__BB0_3:"), not cache hints ("L1::..."), and
      // the braces of inline scopes ("{ .reg .b32 tmp; mov.b64 ...; }").
      for (;;) {
        std::string t = trim(chunk);
        if (!t.empty() && (t[0] == '{' || t[0] == '}')) {
          chunk = t.substr(1);
          continue;
        }
        size_t colon = t.find(':');
        if (colon == std::string::npos || t.find_first_of(" \t,[{") < colon ||
            (colon + 1 < t.size() && t[colon + 1] == ':'))
          break;
        labels[t.substr(0, colon)] = static_cast<int>(k.code.size());
        chunk = t.substr(colon + 1);
      }
      std::vector<std::string> names;
      size_t before = k.code.size();
      if (!statement(chunk, names))
        return false;
      if (k.code.size() > before)
        operandLabels.push_back(names);
    }
    for (size_t i = 0; i < k.code.size(); ++i)
      for (size_t j = 0; j < k.code[i].ops.size(); ++j) {
        if (k.code[i].ops[j].kind != Operand::Label)
          continue;
        auto it = labels.find(operandLabels[i][j]);
        if (it == labels.end())
          return fail("unknown label '" + operandLabels[i][j] + "'",
                      k.code[i].text);
        k.code[i].ops[j].target = it->second;
      }
    return true;
  }

private:
  Kernel &k;
  std::string &error;
};

//===----------------------------------------------------------------------===//
// Execution.
//===----------------------------------------------------------------------===//

uint64_t maskTo(uint64_t v, unsigned bits) {
  return bits >= 64 ? v : v & ((uint64_t(1) << bits) - 1);
}
int64_t signExtend(uint64_t v, unsigned bits) {
  if (bits >= 64)
    return int64_t(v);
  uint64_t m = uint64_t(1) << (bits - 1);
  v = maskTo(v, bits);
  return int64_t((v ^ m) - m);
}
/// A float-typed value as double (exact for f16 and f32); the low bits of
/// the register hold it.
/// bfloat16 bits of `f`, rounded to nearest even (NaN stays quiet NaN).
uint16_t bfloat16Of(float f) {
  uint32_t bits = simt::toBits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((bits >> 16) | 0x40u);
  return uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

double floatValue(uint64_t v, Type t) {
  switch (t) {
  case Type::F64:
    return simt::fromBits<double>(v);
  case Type::F32:
    return double(simt::fromBits<float>(v));
  case Type::BF16:
    return double(simt::fromBits<float>(uint32_t(v) << 16));
  default:
    return double(simt::fromBits<_Float16>(v));
  }
}
/// The bits of `d` in type t. Narrower types round from double through
/// f32, which is exact for the f32 sources that kernels convert.
uint64_t floatBits(double d, Type t) {
  switch (t) {
  case Type::F64:
    return simt::toBits(d);
  case Type::F32:
    return simt::toBits(float(d));
  case Type::BF16:
    return bfloat16Of(float(d));
  default:
    return simt::toBits(static_cast<_Float16>(float(d)));
  }
}

class Thread {
public:
  Thread(const Kernel &k, void **params, char *shared)
      : k(k), params(params), shared(shared), regs(k.registers.size(), 0) {}

  std::string run() {
    size_t pc = 0;
    while (pc < k.code.size()) {
      const Instr &in = k.code[pc++];
      if (in.guard >= 0 && (regs[size_t(in.guard)] != 0) == in.guardNegated)
        continue;
      switch (in.op) {
      case Op::Bra:
        pc = size_t(in.ops[0].target);
        continue;
      case Op::Ret:
        return "";
      case Op::Bar:
        simt::blockBarrier();
        continue;
      default:
        break;
      }
      std::string error = step(in);
      if (!error.empty())
        return "PTX kernel " + k.name + ": " + error + " in `" + in.text + "`";
    }
    return "";
  }

private:
  uint64_t special(int s) const {
    const simt::Dim3 &t = simt::threadIndex(), &b = simt::blockIndex(),
                     &nt = simt::blockDimension(), &nb = simt::gridDimension();
    switch (s) {
    case kTidX:
      return t.x;
    case kTidY:
      return t.y;
    case kTidZ:
      return t.z;
    case kNtidX:
      return nt.x;
    case kNtidY:
      return nt.y;
    case kNtidZ:
      return nt.z;
    case kCtaidX:
      return b.x;
    case kCtaidY:
      return b.y;
    case kCtaidZ:
      return b.z;
    case kNctaidX:
      return nb.x;
    case kNctaidY:
      return nb.y;
    case kNctaidZ:
      return nb.z;
    default:
      return (t.x + nt.x * (t.y + nt.y * t.z)) % 32;
    }
  }

  uint64_t read(const Operand &o, Type t) const {
    uint64_t v = o.kind == Operand::Reg    ? regs[size_t(o.reg)]
                 : o.kind == Operand::Spec ? special(o.special)
                 : o.kind == Operand::SharedAddress
                     ? reinterpret_cast<uint64_t>(shared + o.imm)
                     : o.imm;
    if (o.negated)
      v = !v;
    return t == Type::Pred ? (v != 0) : maskTo(v, bitsOf(t));
  }
  void write(const Operand &o, Type t, uint64_t v) {
    regs[size_t(o.reg)] = t == Type::Pred ? (v != 0) : maskTo(v, bitsOf(t));
  }
  int64_t sread(const Operand &o, Type t) const {
    return signExtend(read(o, t), bitsOf(t));
  }
  double fread(const Operand &o, Type t) const {
    return floatValue(read(o, t), t);
  }
  void fwrite(const Operand &o, Type t, double v, uint32_t mods) {
    if (mods & kSat)
      v = std::isnan(v) ? 0.0 : std::min(1.0, std::max(0.0, v));
    write(o, t, floatBits(v, t));
  }

  char *address(const Operand &o) const {
    if (o.param >= 0)
      return static_cast<char *>(params[o.param]) + o.imm;
    if (o.shared)
      return shared + o.imm;
    uint64_t base = o.reg >= 0 ? regs[size_t(o.reg)] : 0;
    return reinterpret_cast<char *>(base + o.imm);
  }

  std::string memory(const Instr &in) {
    bool load = in.op == Op::Ld;
    const Operand &addr = load ? in.ops[1] : in.ops[0];
    const Operand &val = load ? in.ops[0] : in.ops[1];
    if (addr.kind != Operand::Mem)
      return "operand is not an address";
    if (!load && addr.param >= 0)
      return "store to a parameter";
    if (addr.param >= 0 && addr.imm + bitsOf(in.type) / 8 * unsigned(in.vec) >
                               k.paramBytes[size_t(addr.param)])
      return "read past the end of a parameter";
    unsigned bytes = std::max(1u, bitsOf(in.type) / 8);
    char *p = address(addr);
    for (int e = 0; e < in.vec; ++e) {
      Operand r;
      r.kind = Operand::Reg;
      if (in.vec > 1) {
        if (val.kind != Operand::Vec || int(val.regs.size()) != in.vec)
          return "vector operand of the wrong width";
        r.reg = val.regs[size_t(e)];
      } else {
        r = val;
      }
      char *q = p + size_t(e) * bytes;
      if (load) {
        uint64_t v = 0;
        std::memcpy(&v, q, bytes);
        if (isSigned(in.type))
          v = uint64_t(signExtend(v, bytes * 8));
        regs[size_t(r.reg)] = v;
      } else {
        uint64_t v = read(r, in.type);
        std::memcpy(q, &v, bytes);
      }
    }
    return "";
  }

  bool compare(const Instr &in, const Operand &a, const Operand &b) const {
    int c = in.cmp - 1;
    if (isFloat(in.type)) {
      double x = fread(a, in.type), y = fread(b, in.type);
      bool unordered = std::isnan(x) || std::isnan(y);
      switch (c) {
      case Eq:
        return !unordered && x == y;
      case Ne:
        return !unordered && x != y;
      case Lt:
        return !unordered && x < y;
      case Le:
        return !unordered && x <= y;
      case Gt:
        return !unordered && x > y;
      case Ge:
        return !unordered && x >= y;
      case Equ:
        return unordered || x == y;
      case Neu:
        return unordered || x != y;
      case Ltu:
        return unordered || x < y;
      case Leu:
        return unordered || x <= y;
      case Gtu:
        return unordered || x > y;
      case Geu:
        return unordered || x >= y;
      case Num:
        return !unordered;
      default:
        return unordered;
      }
    }
    uint64_t x = read(a, in.type), y = read(b, in.type);
    int64_t sx = sread(a, in.type), sy = sread(b, in.type);
    bool s = isSigned(in.type);
    switch (c) {
    case Eq:
      return x == y;
    case Ne:
      return x != y;
    case Lt:
      return s ? sx < sy : x < y;
    case Le:
      return s ? sx <= sy : x <= y;
    case Gt:
      return s ? sx > sy : x > y;
    case Ge:
      return s ? sx >= sy : x >= y;
    case Lo:
      return x < y;
    case Ls:
      return x <= y;
    case Hi:
      return x > y;
    default:
      return x >= y;
    }
  }

  std::string convert(const Instr &in) {
    Type d = in.type, s = in.srcType;
    const Operand &dst = in.ops[0], &src = in.ops[1];
    auto roundInt = [&](double v) {
      if (in.mods & kRni)
        return std::nearbyint(v);
      if (in.mods & kRmi)
        return std::floor(v);
      if (in.mods & kRpi)
        return std::ceil(v);
      if (in.mods & kRzi)
        return std::trunc(v);
      return v;
    };
    if (isFloat(d) && isFloat(s)) {
      fwrite(dst, d, roundInt(fread(src, s)), in.mods);
      return "";
    }
    if (isFloat(d)) {
      // One rounding, straight to the destination type.
      double v = d == Type::F64 ? (isSigned(s) ? double(sread(src, s))
                                               : double(read(src, s)))
                                : double(isSigned(s) ? float(sread(src, s))
                                                     : float(read(src, s)));
      fwrite(dst, d, v, in.mods);
      return "";
    }
    if (isFloat(s)) {
      // Float to integer saturates; NaN gives 0.
      double v = roundInt(fread(src, s));
      unsigned bits = bitsOf(d);
      if (std::isnan(v)) {
        write(dst, d, 0);
      } else if (isSigned(d)) {
        double lo = -std::ldexp(1.0, int(bits) - 1),
               hi = std::ldexp(1.0, int(bits) - 1) - 1;
        write(dst, d, uint64_t(int64_t(std::min(hi, std::max(lo, v)))));
      } else {
        double hi = std::ldexp(1.0, int(bits)) - 1;
        write(dst, d, uint64_t(std::min(hi, std::max(0.0, v))));
      }
      return "";
    }
    // Integer to integer: extend by the source's signedness, or truncate.
    uint64_t v = isSigned(s) ? uint64_t(sread(src, s)) : read(src, s);
    write(dst, d, v);
    return "";
  }

  std::string step(const Instr &in) {
    const std::vector<Operand> &o = in.ops;
    Type t = in.type;
    auto need = [&](size_t n) { return o.size() >= n; };
    switch (in.op) {
    case Op::Ld:
    case Op::St:
      return need(2) ? memory(in) : "missing operands";
    case Op::Cvta:
      if (!need(2))
        return "missing operands";
      regs[size_t(o[0].reg)] = read(o[1], Type::B64);
      return "";
    case Op::Mov:
      if (!need(2))
        return "missing operands";
      if (o[1].kind == Operand::SharedAddress && bitsOf(t) != 64)
        return "32-bit shared addresses are not supported";
      if (o[1].kind == Operand::Vec) { // pack {lo, hi}
        unsigned part = bitsOf(t) / unsigned(o[1].regs.size());
        uint64_t v = 0;
        for (size_t i = 0; i < o[1].regs.size(); ++i)
          v |= maskTo(regs[size_t(o[1].regs[i])], part) << (part * i);
        write(o[0], t, v);
      } else if (o[0].kind == Operand::Vec) { // unpack
        unsigned part = bitsOf(t) / unsigned(o[0].regs.size());
        uint64_t v = read(o[1], t);
        for (size_t i = 0; i < o[0].regs.size(); ++i)
          regs[size_t(o[0].regs[i])] = maskTo(v >> (part * i), part);
      } else {
        write(o[0], t, read(o[1], t));
      }
      return "";
    case Op::Setp: {
      if (!need(3))
        return "missing operands";
      bool r = compare(in, o[1], o[2]);
      if (in.mods & (kAndPred | kOrPred)) {
        if (!need(4))
          return "missing operands";
        bool c = read(o[3], Type::Pred) != 0;
        r = (in.mods & kAndPred) ? r && c : r || c;
      }
      write(o[0], Type::Pred, r);
      if (o[0].pairReg >= 0)
        regs[size_t(o[0].pairReg)] = !r;
      return "";
    }
    case Op::Selp:
      if (!need(4))
        return "missing operands";
      write(o[0], t, read(o[3], Type::Pred) ? read(o[1], t) : read(o[2], t));
      return "";
    case Op::Cvt:
      return need(2) ? convert(in) : "missing operands";
    case Op::Testp: {
      double v = fread(o[1], t);
      bool r = in.cmp == 1   ? std::isfinite(v)
               : in.cmp == 2 ? std::isinf(v)
               : in.cmp == 3 ? !std::isnan(v)
               : in.cmp == 4 ? std::isnan(v)
               : in.cmp == 5 ? std::isnormal(v)
                             : std::fpclassify(float(v)) == FP_SUBNORMAL;
      write(o[0], Type::Pred, r);
      return "";
    }
    default:
      break;
    }
    if (!need(2))
      return "missing operands";
    if (t == Type::Pred) {
      bool a = read(o[1], t) != 0;
      bool b = need(3) ? read(o[2], t) != 0 : false;
      switch (in.op) {
      case Op::And:
        write(o[0], t, a && b);
        return "";
      case Op::Or:
        write(o[0], t, a || b);
        return "";
      case Op::Xor:
        write(o[0], t, a != b);
        return "";
      case Op::Not:
        write(o[0], t, !a);
        return "";
      default:
        return "unsupported predicate operation";
      }
    }
    if (isFloat(t))
      return floatStep(in);
    return intStep(in);
  }

  std::string floatStep(const Instr &in) {
    const std::vector<Operand> &o = in.ops;
    Type t = in.type;
    bool f32 = t != Type::F64;
    double a = fread(o[1], t);
    double b = o.size() > 2 ? fread(o[2], t) : 0.0;
    double c = o.size() > 3 ? fread(o[3], t) : 0.0;
    // f32 arithmetic rounds each result to f32, as the GPU does.
    auto r = [&](double v) { return f32 ? double(float(v)) : v; };
    double v;
    switch (in.op) {
    case Op::Add:
      v = r(a + b);
      break;
    case Op::Sub:
      v = r(a - b);
      break;
    case Op::Mul:
      v = r(a * b);
      break;
    case Op::Fma:
    case Op::Mad:
      v = f32 ? double(std::fma(float(a), float(b), float(c)))
              : std::fma(a, b, c);
      break;
    case Op::Div:
      v = r(a / b);
      break;
    case Op::Min:
      v = std::isnan(a) ? b : std::isnan(b) ? a : std::min(a, b);
      break;
    case Op::Max:
      v = std::isnan(a) ? b : std::isnan(b) ? a : std::max(a, b);
      break;
    case Op::Abs:
      v = std::fabs(a);
      break;
    case Op::Neg:
      v = -a;
      break;
    case Op::Sqrt:
      v = r(std::sqrt(a));
      break;
    case Op::Rsqrt:
      v = r(1.0 / std::sqrt(a));
      break;
    case Op::Rcp:
      v = r(1.0 / a);
      break;
    case Op::Ex2:
      v = r(std::exp2(a));
      break;
    case Op::Lg2:
      v = r(std::log2(a));
      break;
    case Op::Sin:
      v = r(std::sin(a));
      break;
    case Op::Cos:
      v = r(std::cos(a));
      break;
    case Op::Tanh:
      v = r(std::tanh(a));
      break;
    case Op::Copysign: // copysign d, a, b: |b| with a's sign
      v = std::copysign(b, a);
      break;
    default:
      return "unsupported float operation";
    }
    fwrite(o[0], t, v, in.mods);
    return "";
  }

  std::string intStep(const Instr &in) {
    const std::vector<Operand> &o = in.ops;
    Type t = in.type;
    unsigned bits = bitsOf(t);
    bool s = isSigned(t);
    uint64_t a = read(o[1], t);
    uint64_t b = o.size() > 2 ? read(o[2], t) : 0;
    int64_t sa = signExtend(a, bits), sb = signExtend(b, bits);
    Type wide =
        bits == 32 ? (s ? Type::S64 : Type::U64) : (s ? Type::S32 : Type::U32);
    auto product = [&](Type &outType) -> uint64_t {
      if (in.mods & kWide) {
        outType = wide;
        return s ? uint64_t(sa * sb) : a * b;
      }
      outType = t;
      if (in.mods & kHi) {
        if (bits == 64) {
          __int128 p =
              s ? __int128(sa) * sb : __int128((unsigned __int128)a * b);
          return uint64_t(p >> 64);
        }
        return s ? uint64_t((sa * sb) >> bits) : (a * b) >> bits;
      }
      return a * b;
    };
    Type out = t;
    uint64_t v;
    switch (in.op) {
    case Op::Add:
      v = a + b;
      break;
    case Op::Sub:
      v = a - b;
      break;
    case Op::Mul:
      v = product(out);
      break;
    case Op::Mad: {
      v = product(out);
      v += read(o[3], out);
      break;
    }
    case Op::Div: // x / 0 and INT_MIN / -1 are not undefined here
      if (b == 0)
        v = ~uint64_t(0);
      else if (s && sb == -1)
        v = uint64_t(0) - uint64_t(sa);
      else
        v = s ? uint64_t(sa / sb) : a / b;
      break;
    case Op::Rem:
      if (b == 0)
        v = a;
      else if (s && sb == -1)
        v = 0;
      else
        v = s ? uint64_t(sa % sb) : a % b;
      break;
    case Op::Min:
      v = s ? uint64_t(std::min(sa, sb)) : std::min(a, b);
      break;
    case Op::Max:
      v = s ? uint64_t(std::max(sa, sb)) : std::max(a, b);
      break;
    case Op::Abs:
      v = uint64_t(sa < 0 ? -sa : sa);
      break;
    case Op::Neg:
      v = uint64_t(-sa);
      break;
    case Op::And:
      v = a & b;
      break;
    case Op::Or:
      v = a | b;
      break;
    case Op::Xor:
      v = a ^ b;
      break;
    case Op::Not:
      v = ~a;
      break;
    case Op::Shl: {
      uint64_t n = read(o[2], Type::U32);
      v = n >= bits ? 0 : a << n;
      break;
    }
    case Op::Shr: {
      uint64_t n = read(o[2], Type::U32);
      if (s)
        v = uint64_t(n >= bits ? (sa < 0 ? -1 : 0) : sa >> n);
      else
        v = n >= bits ? 0 : a >> n;
      break;
    }
    case Op::Popc:
      v = uint64_t(__builtin_popcountll(a));
      out = Type::U32;
      break;
    case Op::Clz:
      v = a == 0 ? bits : uint64_t(__builtin_clzll(a) - (64 - int(bits)));
      out = Type::U32;
      break;
    default:
      return "unsupported integer operation";
    }
    write(o[0], out, v);
    return "";
  }

  const Kernel &k;
  void **params;
  char *shared; // this block's shared memory
  std::vector<uint64_t> regs;
};

} // namespace

Module::~Module() = default;

std::unique_ptr<Module> Module::parse(const std::string &source,
                                      std::string &error) {
  std::string text = stripComments(source);
  auto module = std::unique_ptr<Module>(new Module);
  size_t pos = 0;
  for (;;) {
    size_t entry = text.find(".entry", pos);
    size_t func = text.find(".func", pos);
    if (func != std::string::npos &&
        (entry == std::string::npos || func < entry)) {
      error = "PTX device functions (.func) are not supported";
      return nullptr;
    }
    if (entry == std::string::npos)
      break;
    size_t open = text.find('(', entry);
    size_t close = text.find(')', open);
    size_t bodyOpen = text.find('{', close);
    if (open == std::string::npos || close == std::string::npos ||
        bodyOpen == std::string::npos) {
      error = "malformed .entry";
      return nullptr;
    }
    auto kernel = std::make_unique<Kernel>();
    kernel->name = trim(text.substr(entry + 6, open - entry - 6));
    for (const std::string &p :
         splitOperands(text.substr(open + 1, close - open - 1))) {
      // ".param .u64 .ptr .align 1 NAME" or ".param .align 8 .b8 NAME[16]".
      std::vector<std::string> words;
      size_t i = 0;
      while (i < p.size()) {
        size_t b = p.find_first_not_of(" \t\r\n", i);
        if (b == std::string::npos)
          break;
        size_t e = p.find_first_of(" \t\r\n", b);
        words.push_back(p.substr(b, e - b));
        i = e == std::string::npos ? p.size() : e;
      }
      std::string name = words.empty() ? "" : words.back();
      unsigned bytes = 0;
      for (const std::string &w : words)
        if (w.size() > 1 && w[0] == '.' && typeNamed(w.substr(1)) != Type::None)
          bytes = std::max(1u, bitsOf(typeNamed(w.substr(1))) / 8);
      size_t bracket = name.find('[');
      if (bracket != std::string::npos) {
        bytes *= unsigned(std::stoul(name.substr(bracket + 1)));
        name = name.substr(0, bracket);
      }
      if (name.empty() || bytes == 0) {
        error = "PTX kernel " + kernel->name + ": unsupported parameter `" + p +
                "`";
        return nullptr;
      }
      kernel->params[name] = int(kernel->paramBytes.size());
      kernel->paramBytes.push_back(bytes);
    }
    // The body ends at the brace that closes bodyOpen.
    int depth = 0;
    size_t end = bodyOpen;
    for (; end < text.size(); ++end) {
      depth += text[end] == '{' ? 1 : text[end] == '}' ? -1 : 0;
      if (depth == 0)
        break;
    }
    if (end == text.size()) {
      error = "PTX kernel " + kernel->name + ": unterminated body";
      return nullptr;
    }
    Parser parser(*kernel, error);
    if (!parser.body(text.substr(bodyOpen + 1, end - bodyOpen - 1)))
      return nullptr;
    std::string name = kernel->name;
    module->kernels[name] = std::move(kernel);
    pos = end + 1;
  }
  if (module->kernels.empty()) {
    error = "no .entry in the PTX";
    return nullptr;
  }
  return module;
}

const Kernel *Module::kernel(const std::string &name) const {
  auto it = kernels.find(name);
  return it == kernels.end() ? nullptr : it->second.get();
}

const std::vector<unsigned> &parameterSizes(const Kernel &kernel) {
  return kernel.paramBytes;
}

std::string launch(const Kernel &kernel, simt::Dim3 grid, simt::Dim3 block,
                   void **params) {
  std::string failure;
  // Blocks run one after another, so they can share one buffer.
  std::vector<char> shared(std::max<size_t>(kernel.sharedBytes, 1));
  std::string error = simt::launch(grid, block, [&] {
    Thread thread(kernel, params, shared.data());
    std::string e = thread.run();
    if (!e.empty() && failure.empty())
      failure = e;
  });
  return !failure.empty() ? failure : error;
}

} // namespace ptx
