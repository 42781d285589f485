#!/usr/bin/env python3
"""Writes kiln's canonical-ABI string and list scripts (`tests/components/wast/canon-*.wast`)
with expectations computed by the Component Model specification's own Python
(`design/mvp/canonical-abi/definitions.py`), not by kiln.

Every script instantiates guests whose `realloc` logs each call's four arguments (old pointer,
old size, alignment, new size) and can be told to return a misaligned or out-of-bounds pointer
at a chosen call. This driver simulates those guests exactly (their bump allocator, their log,
their faults, the heap hash they report) and runs the spec's `store_string_into_range`,
`load_string_from_range`, `store_list_into_range` and `load_list_from_range` against the
simulated memories: the realloc sequence, the pointer and length word the guest receives, the
bytes it ends up holding and, when the spec traps, which `trap_if` fired (read from the
traceback: the spec's traps carry no message) all come from the spec. The driver only maps a
spec trap to the words kiln's `GlueTrap` uses for it.

The spec is not part of kiln. By default it is read from the Component Model mirror
(`git -C MIRROR show REV:design/mvp/canonical-abi/definitions.py`); `--spec FILE` uses a copy.

    python3 tests/components/oracle/canon_oracle.py            # rewrite the scripts
    python3 tests/components/oracle/canon_oracle.py --check    # fail if they are out of date

See README.md next to this file.
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import traceback

MIRROR = '/work/.mirror/WebAssembly+component-model/repo'
SPEC_PATH = 'design/mvp/canonical-abi/definitions.py'
HERE = os.path.dirname(os.path.abspath(__file__))
WAST_DIR = os.path.normpath(os.path.join(HERE, '..', 'wast'))

spec = None  # the imported definitions.py
SPEC_ORIGIN = ''

# --- the simulated guest ------------------------------------------------------------------

PAGE = 65536
HEAP = 4096      # the bump allocator's start
LOG = 1024       # the realloc log: 16 bytes a call
LOG_CAP = 64
STAGE = 2048     # where `give`/`send` put the bytes the host passes (plus a skew)
TAG = 1 << 31

ENCODINGS = ['utf8', 'utf16', 'latin1+utf16']
SHORT = {'utf8': 'utf8', 'utf16': 'utf16', 'latin1+utf16': 'latin1'}

# Fault kinds (the guest's `set-fault` takes the same numbers).
MISALIGNED = 1   # an odd pointer
OUT_OF_BOUNDS = 2  # the lowest aligned pointer whose block passes the end of memory
EDGE = 3         # the highest aligned pointer whose block still fits
HALF = 4         # aligned to half the requested alignment only
KIND_NAMES = {MISALIGNED: 'misaligned', OUT_OF_BOUNDS: 'out of bounds', EDGE: 'at the very end of memory', HALF: 'half-aligned'}


class Guest:
    """What the scripts' `$Libc` core module does, byte for byte."""

    def __init__(self, armed=True):
        self.mem = bytearray(PAGE)
        self.bump = HEAP
        self.log = []
        self.armed = armed
        self.fault = None  # (step, kind)

    def realloc(self, args):
        old, oldsz, align, size = args
        kind = 0
        if self.armed:
            assert len(self.log) < LOG_CAP
            if self.fault is not None and self.fault[0] == len(self.log):
                kind = self.fault[1]
            self.log.append((old, oldsz, align, size))
        return [self.alloc(old, oldsz, align, size, kind)]

    def alloc(self, old, oldsz, align, size, kind):
        top = len(self.mem)
        if kind == OUT_OF_BOUNDS:
            return (top - size + align) & -align & 0xffffffff
        if kind == EDGE:
            p = (top - size) & -align
        else:
            if kind == 0:
                p = (self.bump + align - 1) & -align
            else:
                p = ((self.bump + 7) & -8) + (1 if kind == MISALIGNED else align >> 1)
            self.bump = p + size
        if old:
            n = min(oldsz, size)
            self.mem[p:p + n] = self.mem[old:old + n]
        return p

    def heap_hash(self):
        """FNV-1a (32 bits) of [HEAP, bump), as the guest's `report` computes it."""
        h = 0x811c9dc5
        for b in self.mem[HEAP:self.bump]:
            h = ((h ^ b) * 0x01000193) & 0xffffffff
        return h

    def flat_log(self):
        return [x for call in self.log for x in call]


def cx_for(guest, encoding):
    opts = spec.CanonicalOptions()
    opts.memory = spec.MemInst(guest.mem, 'i32')
    opts.string_encoding = encoding
    opts.realloc = guest.realloc
    opts.post_return = None
    opts.async_ = False
    opts.callback = None
    return spec.LiftLowerContext(opts, spec.ComponentInstance(spec.Store()))


# --- which rule trapped -------------------------------------------------------------------

def spec_trap(exc):
    """The spec function and `trap_if` line that raised `exc` (a `spec.Trap`)."""
    for f in reversed(traceback.extract_tb(exc.__traceback__)):
        line = (f.line or '').strip()
        if f.name in ('trap_if', 'trap'):
            continue
        if line.startswith('trap_if(') or line == 'trap()':
            return f.name, line
    raise AssertionError('cannot tell which rule trapped:\n' + ''.join(traceback.format_tb(exc.__traceback__)))


def trap_class(exc):
    func, line = spec_trap(exc)
    if func == 'load_string_from_range':
        if 'MAX_STRING_BYTE_LENGTH' in line:
            return 'string-too-long'
        if 'align_to' in line:
            return 'string-misaligned'
        if 'len(cx.opts.memory)' in line:
            return 'string-oob'
        if line == 'trap()':
            return 'string-encoding'
    if func == 'load_list_from_range':
        if 'MAX_LIST_BYTE_LENGTH' in line:
            return 'list-too-long'
        if 'align_to' in line:
            return 'list-misaligned'
        if 'len(cx.opts.memory)' in line:
            return 'list-oob'
    if func.startswith('store_') and 'align_to' in line:
        return 'realloc-misaligned'
    if func == 'store_list_into_range' and 'len(cx.opts.memory)' in line:
        return 'list-realloc-oob'
    if func.startswith('store_') and 'len(cx.opts.memory)' in line:
        return 'string-realloc-oob'
    raise AssertionError(f'unexpected trap in {func}: {line}')


# How kiln words each rule (`GlueTrap::message`, compiler/environ/src/component/glue.rs).
KILN_MESSAGE = {
    'realloc-misaligned': 'unaligned pointer (realloc return: result not aligned to the requested alignment)',
    'string-realloc-oob': 'string content out-of-bounds (realloc return: beyond end of memory)',
    'list-realloc-oob': 'list content out-of-bounds (realloc return: beyond end of memory)',
    'string-too-long': "string content out-of-bounds (string byte length above the canonical ABI's maximum, 2^28 - 1)",
    'string-misaligned': 'unaligned pointer (string pointer not aligned to 2)',
    'string-oob': 'string content out-of-bounds (string pointer/length out of bounds of memory)',
    'list-too-long': "list content out-of-bounds (list byte length above the canonical ABI's maximum)",
    'list-misaligned': 'unaligned pointer (list pointer is not aligned)',
    'list-oob': 'list content out-of-bounds (list pointer/length out of bounds of memory)',
}


def kiln_message(cls, simple_encoding=None):
    if cls == 'string-encoding':
        return {'utf8': 'invalid utf8 encoding', 'utf16': 'invalid utf16 encoding'}[simple_encoding]
    return KILN_MESSAGE[cls]


def simple_encoding(encoding, lenword):
    if encoding == 'latin1+utf16':
        return 'utf16' if lenword & TAG else 'latin1'
    return encoding


# --- running the spec ---------------------------------------------------------------------

class Outcome:
    """The spec's result of one case: a trap, or what the receiving guest holds."""

    def __init__(self, trap=None, guest=None, ptr=None, lenword=None, value=None, steps=0):
        self.trap = trap          # kiln's message when the spec traps
        self.guest = guest        # the receiving guest (its log, heap)
        self.ptr = ptr
        self.lenword = lenword
        self.value = value        # the string (or list) as the receiving guest's lift reads it
        self.steps = steps        # realloc calls made


def source_string(encoding, data, at, lenword):
    """`load_string_from_range` in a guest holding `data` at `at`: the spec's string value, or
    the trap class."""
    g = Guest(armed=False)
    if len(data):
        g.mem[at:at + len(data)] = data
    try:
        return spec.load_string_from_range(cx_for(g, encoding), at, lenword), None
    except spec.Trap as e:
        return None, kiln_message(trap_class(e), simple_encoding(encoding, lenword))


def lower_string(value, dst_encoding, fault=None, prefill=b''):
    """`store_string_into_range` of the spec string `value` into a fresh guest (whose heap
    already holds `prefill`, what an earlier call left there)."""
    g = Guest()
    g.mem[HEAP:HEAP + len(prefill)] = prefill
    g.fault = fault
    cx = cx_for(g, dst_encoding)
    try:
        ptr, lenword = spec.store_string_into_range(cx, value)
    except spec.Trap as e:
        return Outcome(trap=kiln_message(trap_class(e)), guest=g, steps=len(g.log))
    try:
        back = spec.load_string_from_range(cx_for(g, dst_encoding), ptr, lenword)[0]
    except spec.Trap as e:
        # The spec stored a string its own lift refuses: `store_probably_utf16_to_latin1_or_utf16`
        # shrinks with alignment 1 and does not check it, but a latin1+utf16 string needs
        # alignment 2 (`load_string_from_range`). The guest's report then gives the bytes.
        assert trap_class(e) == 'string-misaligned' and dst_encoding == 'latin1+utf16'
        back = None
    return Outcome(guest=g, ptr=ptr, lenword=lenword, value=back, steps=len(g.log))


# --- wast text ----------------------------------------------------------------------------

def wstr(s):
    out = []
    for c in s:
        o = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == '\\':
            out.append('\\\\')
        elif o < 0x20 or o == 0x7f or 0x80 <= o < 0xa0:
            out.append('\\u{%x}' % o)
        else:
            out.append(c)
    return '(str.const "' + ''.join(out) + '")'


def u8s(data):
    return '(list.const' + ''.join(' (u8.const %d)' % b for b in data) + ')'


def u32s(xs):
    return '(list.const' + ''.join(' (u32.const %d)' % x for x in xs) + ')'


def report(o, value):
    """The tuple `report-*` returns: pointer, length word, the value, the realloc log and the
    hash of the heap."""
    return '(tuple.const (u32.const %d) (u32.const %d) %s %s (u32.const %d))' % (
        o.ptr, o.lenword, value, u32s(o.guest.flat_log()), o.guest.heap_hash())


def describe(s):
    return ' '.join('U+%04X' % ord(c) for c in s) if s else 'empty'


# --- the components -----------------------------------------------------------------------

def libc(armed, lists=False):
    """The core module every guest holds: memory, the logging `realloc`, the report."""
    list_takes = ''
    if lists:
        for name, size in LIST_SIZES:
            list_takes += (
                f'    (func (export "take-list-{name}") (param i32 i32)\n'
                f'      (call $note (local.get 0) (local.get 1) (i32.mul (local.get 1) (i32.const {size}))))\n')
    return f'''  (core module $Libc
    (memory (export "mem") 1)
    (global $bump (mut i32) (i32.const {HEAP}))
    (global $n (mut i32) (i32.const 0))
    (global $armed (mut i32) (i32.const {1 if armed else 0}))
    (global $fstep (mut i32) (i32.const -1))
    (global $fkind (mut i32) (i32.const 0))
    (global $hi (mut i32) (i32.const {HEAP}))
    ;; A bump allocator: a fresh block for every call (the old contents copied), never in place.
    ;; While armed it logs (old, old size, align, new size) at {LOG} and at call number $fstep
    ;; returns: 1 an odd pointer, 2 the lowest aligned pointer whose block passes the end of
    ;; memory (nothing copied), 3 the highest aligned pointer whose block still fits,
    ;; 4 a pointer aligned to half the requested alignment.
    (func $realloc (export "realloc") (param $old i32) (param $oldsz i32) (param $align i32) (param $size i32) (result i32)
      (local $kind i32) (local $p i32)
      (if (global.get $armed)
        (then
          (if (i32.ge_u (global.get $n) (i32.const {LOG_CAP})) (then unreachable))
          (local.set $p (i32.add (i32.const {LOG}) (i32.shl (global.get $n) (i32.const 4))))
          (i32.store (local.get $p) (local.get $old))
          (i32.store offset=4 (local.get $p) (local.get $oldsz))
          (i32.store offset=8 (local.get $p) (local.get $align))
          (i32.store offset=12 (local.get $p) (local.get $size))
          (if (i32.eq (global.get $n) (global.get $fstep)) (then (local.set $kind (global.get $fkind))))
          (global.set $n (i32.add (global.get $n) (i32.const 1)))))
      (if (i32.eq (local.get $kind) (i32.const 2))
        (then (return (i32.and
          (i32.add (i32.sub (i32.shl (memory.size) (i32.const 16)) (local.get $size)) (local.get $align))
          (i32.sub (i32.const 0) (local.get $align))))))
      (if (i32.eq (local.get $kind) (i32.const 3))
        (then (local.set $p (i32.and
          (i32.sub (i32.shl (memory.size) (i32.const 16)) (local.get $size))
          (i32.sub (i32.const 0) (local.get $align)))))
        (else
          (if (i32.eqz (local.get $kind))
            (then (local.set $p (i32.and
              (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
              (i32.sub (i32.const 0) (local.get $align)))))
            (else (local.set $p (i32.add
              (i32.and (i32.add (global.get $bump) (i32.const 7)) (i32.const -8))
              (select (i32.const 1) (i32.shr_u (local.get $align) (i32.const 1))
                (i32.eq (local.get $kind) (i32.const 1)))))))
          (global.set $bump (i32.add (local.get $p) (local.get $size)))
          (if (i32.gt_u (global.get $bump) (global.get $hi)) (then (global.set $hi (global.get $bump))))))
      (if (local.get $old)
        (then (memory.copy (local.get $p) (local.get $old)
          (select (local.get $oldsz) (local.get $size) (i32.lt_u (local.get $oldsz) (local.get $size))))))
      (local.get $p))
    (func (export "set-fault") (param i32 i32) (global.set $fstep (local.get 0)) (global.set $fkind (local.get 1)))
    ;; a fresh log and heap for the next call (the heap keeps its contents)
    (func (export "arm") (global.set $n (i32.const 0)) (global.set $bump (i32.const {HEAP})) (global.set $armed (i32.const 1)))
    (func (export "disarm") (global.set $armed (i32.const 0)))
    ;; a fresh log, heap (zeroed where it was used) and no fault
    (func $reset (export "reset")
      (memory.fill (i32.const {HEAP}) (i32.const 0) (i32.sub (global.get $hi) (i32.const {HEAP})))
      (global.set $hi (i32.const {HEAP}))
      (global.set $n (i32.const 0)) (global.set $bump (i32.const {HEAP}))
      (global.set $fstep (i32.const -1)) (global.set $fkind (i32.const 0)))
    (func (export "post") (param i32) (call $reset))
    ;; what the last call received: pointer, length word, byte length
    (func $note (export "note") (param i32 i32 i32)
      (i32.store (i32.const 16) (local.get 0))
      (i32.store (i32.const 20) (local.get 1))
      (i32.store (i32.const 24) (local.get 2)))
    (func (export "take-utf8") (param i32 i32) (call $note (local.get 0) (local.get 1) (local.get 1)))
    (func (export "take-utf16") (param i32 i32)
      (call $note (local.get 0) (local.get 1) (i32.shl (local.get 1) (i32.const 1))))
    (func (export "take-latin1") (param i32 i32)
      (call $note (local.get 0) (local.get 1)
        (select (i32.shl (i32.and (local.get 1) (i32.const 0x7fffffff)) (i32.const 1)) (local.get 1)
          (i32.lt_s (local.get 1) (i32.const 0)))))
{list_takes}    ;; FNV-1a of the heap the calls used
    (func $hash (result i32) (local $h i32) (local $i i32)
      (local.set $h (i32.const 0x811c9dc5))
      (local.set $i (i32.const {HEAP}))
      (block $out (loop $l
        (br_if $out (i32.ge_u (local.get $i) (global.get $bump)))
        (local.set $h (i32.mul (i32.xor (local.get $h) (i32.load8_u (local.get $i))) (i32.const 0x01000193)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (local.get $h))
    ;; (pointer, length word, the value received as (pointer, $x), the log, the heap hash)
    (func $report (param $x i32) (result i32)
      (i32.store (i32.const 32) (i32.load (i32.const 16)))
      (i32.store (i32.const 36) (i32.load (i32.const 20)))
      (i32.store (i32.const 40) (i32.load (i32.const 16)))
      (i32.store (i32.const 44) (local.get $x))
      (i32.store (i32.const 48) (i32.const {LOG}))
      (i32.store (i32.const 52) (i32.shl (global.get $n) (i32.const 2)))
      (i32.store (i32.const 56) (call $hash))
      (i32.const 32))
    (func (export "report-string") (result i32) (call $report (i32.load (i32.const 20))))
    ;; the heap the calls used, [{HEAP}, bump)
    (func (export "heap") (result i32)
      (i32.store (i32.const 80) (i32.const {HEAP}))
      (i32.store (i32.const 84) (i32.sub (global.get $bump) (i32.const {HEAP})))
      (i32.const 80))
    (func (export "report-bytes") (result i32) (call $report (i32.load (i32.const 24))))
    ;; the bytes the host passes, copied to `at`, returned as (at, len)
    (func (export "give") (param $b i32) (param $bn i32) (param $at i32) (param $len i32) (result i32)
      (if (local.get $bn) (then (memory.copy (local.get $at) (local.get $b) (local.get $bn))))
      (i32.store (i32.const 64) (local.get $at))
      (i32.store (i32.const 68) (local.get $len))
      (i32.const 64))
  )
  (core instance $libc (instantiate $Libc))
  (alias core export $libc "mem" (core memory $mem))
  (alias core export $libc "realloc" (core func $realloc))
'''


REPORT_T = '(tuple u32 u32 string (list u32) u32)'
REPORT_BYTES_T = '(tuple u32 u32 (list u8) (list u32) u32)'
GIVE_PARAMS = '(param "b" (list u8)) (param "at" u32) (param "len" u32)'


def guest_component():
    lifts = []
    for e in ENCODINGS:
        s = SHORT[e]
        lifts.append(f'  (func (export "take-{s}") (param "s" string)\n'
                     f'    (canon lift (core func $libc "take-{s}") (memory $mem) (realloc $realloc) string-encoding={e}))')
        lifts.append(f'  (func (export "give-{s}") {GIVE_PARAMS} (result string)\n'
                     f'    (canon lift (core func $libc "give") (memory $mem) (realloc $realloc) string-encoding={e}\n'
                     f'      (post-return (core func $libc "post"))))')
        lifts.append(f'  (func (export "report-{s}") (result {REPORT_T})\n'
                     f'    (canon lift (core func $libc "report-string") (memory $mem) string-encoding={e}\n'
                     f'      (post-return (core func $libc "post"))))')
    lifts.append(f'  (func (export "report-bytes") (result {REPORT_BYTES_T})\n'
                 f'    (canon lift (core func $libc "report-bytes") (memory $mem) (post-return (core func $libc "post"))))')
    lifts.append('  (func (export "heap") (result (list u8)) (canon lift (core func $libc "heap") (memory $mem)))')
    lifts.append('  (func (export "set-fault") (param "step" u32) (param "kind" u32)\n'
                 '    (canon lift (core func $libc "set-fault")))')
    return '(component\n' + libc(True) + '\n'.join(lifts) + ')'


def peer_component():
    """Imports the guest's `take-*`/`give-*` as the instance "guest"; lowers each with each
    encoding; `send-SRC-DST` passes the bytes it gets, as a string in SRC, to `take-DST`;
    `fetch-SRC-DST` gets the string `give-SRC` returns, lowered in DST, and keeps it for
    `report-DST`."""
    items = []
    for e in ENCODINGS:
        s = SHORT[e]
        items.append(f'    (export "take-{s}" (func (param "s" string)))')
        items.append(f'    (export "give-{s}" (func {GIVE_PARAMS} (result string)))')
    out = ['(component', '  (import "guest" (instance $guest', *items, '  ))']
    out.append(libc(False))
    lowers, imports, funcs, lifts = [], [], [], []
    for src in ENCODINGS:
        for dst in ENCODINGS:
            a, b = SHORT[src], SHORT[dst]
            lowers.append(f'  (core func $t-{a}-{b} (canon lower (func $guest "take-{b}") (memory $mem) (realloc $realloc) string-encoding={src}))')
            lowers.append(f'  (core func $g-{a}-{b} (canon lower (func $guest "give-{a}") (memory $mem) (realloc $realloc) string-encoding={dst}))')
            imports.append(f'    (import "take" "{a}-{b}" (func $take-{a}-{b} (param i32 i32)))')
            imports.append(f'    (import "give" "{a}-{b}" (func $give-{a}-{b} (param i32 i32 i32 i32 i32)))')
            funcs.append(
                f'    (func (export "send-{a}-{b}") (param $b i32) (param $bn i32) (param $at i32) (param $len i32)\n'
                f'      (if (local.get $bn) (then (memory.copy (local.get $at) (local.get $b) (local.get $bn))))\n'
                f'      (call $reset)\n'
                f'      (call $take-{a}-{b} (local.get $at) (local.get $len)))\n'
                f'    (func (export "fetch-{a}-{b}") (param $b i32) (param $bn i32) (param $at i32) (param $len i32)\n'
                f'      (call $arm)\n'
                f'      (call $give-{a}-{b} (local.get $b) (local.get $bn) (local.get $at) (local.get $len) (i32.const 72))\n'
                f'      (call $disarm)\n'
                f'      (call $take-{b} (i32.load (i32.const 72)) (i32.load (i32.const 76))))')
            for verb in ('send', 'fetch'):
                lifts.append(f'  (func (export "{verb}-{a}-{b}") {GIVE_PARAMS}\n'
                             f'    (canon lift (core func $main "{verb}-{a}-{b}") (memory $mem) (realloc $realloc)))')
    out += lowers
    out.append('  (core module $Main')
    out.append('    (import "libc" "mem" (memory 1))')
    out.append('    (import "libc" "arm" (func $arm))')
    out.append('    (import "libc" "disarm" (func $disarm))')
    out.append('    (import "libc" "reset" (func $reset))')
    for e in ENCODINGS:
        out.append(f'    (import "libc" "take-{SHORT[e]}" (func $take-{SHORT[e]} (param i32 i32)))')
    out += imports + funcs
    out.append('  )')
    withs = ' '.join(f'(export "{a}-{b}" (func $t-{a}-{b}))' for a in SHORT.values() for b in SHORT.values())
    gwiths = ' '.join(f'(export "{a}-{b}" (func $g-{a}-{b}))' for a in SHORT.values() for b in SHORT.values())
    out.append('  (core instance $main (instantiate $Main (with "libc" (instance $libc))')
    out.append(f'    (with "take" (instance {withs}))')
    out.append(f'    (with "give" (instance {gwiths}))))')
    out += lifts
    for e in ENCODINGS:
        s = SHORT[e]
        out.append(f'  (func (export "report-{s}") (result {REPORT_T})\n'
                   f'    (canon lift (core func $libc "report-string") (memory $mem) string-encoding={e}\n'
                   f'      (post-return (core func $libc "post"))))')
    out.append(f'  (func (export "report-bytes") (result {REPORT_BYTES_T})\n'
               f'    (canon lift (core func $libc "report-bytes") (memory $mem) (post-return (core func $libc "post"))))')
    out.append('  (func (export "heap") (result (list u8)) (canon lift (core func $libc "heap") (memory $mem)))')
    out.append('  (func (export "set-fault") (param "step" u32) (param "kind" u32)\n'
               '    (canon lift (core func $libc "set-fault")))')
    out.append(')')
    return '\n'.join(out)


def indent(text, n):
    pad = ' ' * n
    return '\n'.join(pad + l if l else l for l in text.split('\n'))


def strings_definition():
    """`$Strings`: a guest and, as its sibling, a peer that imports it (fused adapters)."""
    g = guest_component().replace('(component\n', '(component $Guest\n', 1)
    p = peer_component().replace('(component\n', '(component $Peer\n', 1)
    exports = []
    for e in ENCODINGS:
        s = SHORT[e]
        exports += [f'  (export "take-{s}" (func $g "take-{s}"))',
                    f'  (export "give-{s}" (func $g "give-{s}"))',
                    f'  (export "guest-report-{s}" (func $g "report-{s}"))',
                    f'  (export "peer-report-{s}" (func $p "report-{s}"))']
    exports += ['  (export "guest-report-bytes" (func $g "report-bytes"))',
                '  (export "peer-report-bytes" (func $p "report-bytes"))',
                '  (export "guest-heap" (func $g "heap"))',
                '  (export "peer-heap" (func $p "heap"))']
    for a in SHORT.values():
        for b in SHORT.values():
            exports += [f'  (export "send-{a}-{b}" (func $p "send-{a}-{b}"))',
                        f'  (export "fetch-{a}-{b}" (func $p "fetch-{a}-{b}"))']
    exports += ['  (export "guest-set-fault" (func $g "set-fault"))',
                '  (export "peer-set-fault" (func $p "set-fault"))']
    return ('(component definition $Strings\n' + indent(g, 2) + '\n' + indent(p, 2) + '\n'
            '  (instance $g (instantiate $Guest))\n'
            '  (instance $p (instantiate $Peer (with "guest" (instance $g))))\n'
            + '\n'.join(exports) + ')\n')


def host_peer_definition():
    """`$HostPeer`: the same peer, its import "guest" resolved by the script host to the
    registered `$Strings` instance: every call goes through compiled import trampolines."""
    return '(component definition $HostPeer\n' + indent(peer_component()[len('(component\n'):], 0) + '\n'


# --- the cases ----------------------------------------------------------------------------

# Strings that take each path of the spec's algorithms: empty, ASCII, latin1 beyond ASCII,
# BMP beyond latin1, astral; the first wide character at the start, in the middle, at the end.
STRINGS = [
    '', 'abc', '\x7f\x80',
    'éab', 'aéb', 'abé',
    '€ab', 'a€b', 'ab€',
    '😀ab', 'a😀b', 'ab😀',
    'aé€😀', 'ÿĀ',
]


def representations(s):
    """The ways a guest can hold `s`: (source encoding, label, bytes, length word)."""
    u16 = s.encode('utf-16-le')
    reps = [('utf8', 'utf8', s.encode('utf-8'), len(s.encode('utf-8'))),
            ('utf16', 'utf16', u16, len(u16) // 2)]
    try:
        l1 = s.encode('latin-1')
        reps.append(('latin1+utf16', 'latin1', l1, len(l1)))
    except UnicodeEncodeError:
        pass
    reps.append(('latin1+utf16', 'latin1 tagged utf16', u16, (len(u16) // 2) | TAG))
    return reps


def give_args(data, at, lenword):
    return f'{u8s(data)} (u32.const {at}) (u32.const {lenword})'


def fetch_prefill(data):
    """What the peer's heap holds when `fetch` runs: the host lowered its `list<u8>` argument
    there (one realloc of alignment 1 at the heap's start)."""
    return bytes(data)


class Script:
    def __init__(self, name, header):
        self.name = name
        self.lines = [';; ' + l if l else ';;' for l in header.strip('\n').split('\n')]
        self.lines.append(';;')
        self.lines.append(';; GENERATED by tests/components/oracle/canon_oracle.py from the Component Model')
        self.lines.append(f';; specification\'s definitions.py ({SPEC_ORIGIN}); do not edit by hand.')
        self.lines.append(';; Rerun: python3 tests/components/oracle/canon_oracle.py (README.md there).')
        self.lines.append('')
        self.cases = 0
        self.directives = 0

    def add(self, text):
        self.lines.append(text)

    def comment(self, text):
        self.lines.append(';; ' + text)

    def directive(self, text):
        self.lines.append(text)
        self.directives += 1

    def text(self):
        return '\n'.join(self.lines) + '\n'


def fresh(script, host_peer=False):
    script.directive('(component instance $s $Strings)')
    if host_peer:
        script.directive('(register "guest" $s)')
        script.directive('(component instance $h $HostPeer)')


def expect_lowered(script, call, o, report_call, dst):
    """`call` lowers a string (outcome `o`) into a guest whose report is `report_call` + the
    destination encoding: the string read back in it, or `bytes`: the bytes it occupies."""
    script.cases += 1
    if o.trap:
        script.directive(f'(assert_trap {call} "{o.trap}")')
        return
    script.directive(f'(assert_return {call})')
    if o.value is None:
        data = bytes(o.guest.mem[o.ptr:o.ptr + string_bytes(dst, o.lenword)])
        script.comment('the spec stored it at an odd address: its own lift would refuse it, so the bytes')
        script.directive(f'(assert_return {report_call}bytes") {report(o, u8s(data))})')
    else:
        script.directive(f'(assert_return {report_call}{SHORT[dst]}") {report(o, wstr(o.value))})')


def string_bytes(encoding, lenword):
    if encoding == 'utf8':
        return lenword
    if encoding == 'utf16':
        return 2 * lenword
    return 2 * (lenword & ~TAG) if lenword & TAG else lenword


# Directions in which a string is lowered into a guest, with how each is invoked.
#   host: the host calls the guest's export (export glue lowers the parameter)
#   import-take: $HostPeer's core code calls its import; the import trampoline lifts the
#       string to the host, which calls $Strings' `take-DST` (export glue lowers it again)
#   import-fetch: $HostPeer calls its import `give-SRC`; $Strings' export glue lifts the
#       result to the host, the import trampoline lowers it into $HostPeer
#   adapter-send: $Strings' peer calls the guest's `take-DST` through a fused adapter
#   adapter-fetch: the peer calls the guest's `give-SRC` through a fused adapter, which
#       lowers the result into the peer


def lowering(direction, src, rep_bytes, at, lenword, dst, fault=None):
    """The spec's outcome of one lowering and the directives that make and check it."""
    a, b = SHORT[src] if src else None, SHORT[dst]
    if direction == 'host':
        s = rep_bytes  # the host string itself
        value = (s, 'utf8', len(s.encode('utf-8')))
        o = lower_string(value, dst, fault)
        return o, f'(invoke "take-{b}" {wstr(s)})', '(invoke "guest-report-'
    if direction == 'import-take':
        # trampoline lift from the peer (src), host string, export glue lowering (utf8 -> dst)
        value, trap = source_string(src, rep_bytes, at, lenword)
        if trap:
            return Outcome(trap=trap), f'(invoke $h "send-{a}-{b}" {give_args(rep_bytes, at, lenword)})', None
        host = value[0]
        o = lower_string((host, 'utf8', len(host.encode('utf-8'))), dst, fault)
        return o, f'(invoke $h "send-{a}-{b}" {give_args(rep_bytes, at, lenword)})', '(invoke $s "guest-report-'
    if direction == 'import-fetch':
        value, trap = source_string(src, rep_bytes, at, lenword)
        call = f'(invoke $h "fetch-{a}-{b}" {give_args(rep_bytes, at, lenword)})'
        if trap:
            return Outcome(trap=trap), call, None
        host = value[0]
        o = lower_string((host, 'utf8', len(host.encode('utf-8'))), dst, fault, fetch_prefill(rep_bytes))
        return o, call, '(invoke $h "report-'
    if direction == 'adapter-send':
        value, trap = source_string(src, rep_bytes, at, lenword)
        call = f'(invoke "send-{a}-{b}" {give_args(rep_bytes, at, lenword)})'
        if trap:
            return Outcome(trap=trap), call, None
        o = lower_string(value, dst, fault)
        return o, call, '(invoke "guest-report-'
    if direction == 'adapter-fetch':
        value, trap = source_string(src, rep_bytes, at, lenword)
        call = f'(invoke "fetch-{a}-{b}" {give_args(rep_bytes, at, lenword)})'
        if trap:
            return Outcome(trap=trap), call, None
        o = lower_string(value, dst, fault, fetch_prefill(rep_bytes))
        return o, call, '(invoke "peer-report-'
    raise AssertionError(direction)


def fault_target(direction):
    """The instance and export that arm a fault in the guest the string is lowered into."""
    return {
        'host': '(invoke "guest-set-fault"',
        'import-take': '(invoke $s "guest-set-fault"',
        'import-fetch': '(invoke $h "set-fault"',
        'adapter-send': '(invoke "guest-set-fault"',
        'adapter-fetch': '(invoke "peer-set-fault"',
    }[direction]


def matrix_cases(direction):
    """Every string of STRINGS in every representation into every destination encoding."""
    for s in STRINGS:
        if direction == 'host':
            for dst in ENCODINGS:
                yield s, None, 'host utf8', s, STAGE, None, dst
            continue
        for src, label, data, lenword in representations(s):
            for dst in ENCODINGS:
                yield s, src, label, data, STAGE, lenword, dst


def signature(o):
    """The shape of a lowering's realloc sequence: alignment, growth or not, empty or not."""
    return tuple((align, old != 0, size == 0) for old, _, align, size in o.guest.log)


# --- the scripts --------------------------------------------------------------------------

def strings_host_script():
    sc = Script('canon-strings-host.wast', '''
Strings between the host and a guest, every encoding, checked against the spec's Python.

Part 1, host -> guest: the host passes a string (UTF-8) to `take-E` of a guest lifting with
string-encoding E; CanonicalABI.md `store_string_into_range` lowers it into the guest with the
guest's `realloc`. `guest-report-E` then returns what the guest got: (pointer, length word,
the string read back in E, the log of every realloc call as (old pointer, old size, alignment,
new size), an FNV-1a hash of the guest's heap). The expected log, pointer, length word and
heap come from running the spec's `store_string_into_range` against a simulation of the
guest's allocator.

Part 2, guest -> host: `give-E` returns, as a string in E, the bytes the host passes (copied to
2048) with the length word the host passes: every string in each representation a guest in E
can hold it (UTF-8; UTF-16; latin1+UTF-16 as latin1 when it fits, and as tagged UTF-16, which
a latin1+UTF-16 guest may use for any string). The host reads the spec's
`load_string_from_range` result.
''')
    sc.add(strings_definition())
    fresh(sc)
    sc.add('')
    sc.comment('Part 1: host -> guest')
    for s, _, _, host, _, _, dst in matrix_cases('host'):
        o, call, rep = lowering('host', None, host, None, None, dst)
        sc.comment(f'{describe(s)} -> {dst}')
        expect_lowered(sc, call, o, rep, dst)
    sc.add('')
    sc.comment('Part 2: guest -> host')
    for s in STRINGS:
        for src, label, data, lenword in representations(s):
            value, trap = source_string(src, data, STAGE, lenword)
            assert trap is None and value[0] == s
            sc.cases += 1
            sc.directive(f'(assert_return (invoke "give-{SHORT[src]}" {give_args(data, STAGE, lenword)}) {wstr(value[0])})')
    return sc


def strings_between_guests_script(kind):
    if kind == 'adapter':
        name = 'canon-strings-adapters.wast'
        header = '''
Strings from one guest to another through fused adapters, every (source, destination)
encoding pair, checked against the spec's Python.

$Strings holds two sibling component instances: the guest $g and the peer $p, which imports
$g's functions and lowers each with each string encoding.
Part 1, `send-SRC-DST`: the peer passes the bytes it is given (copied to 2048) with the given
length word, as a string in SRC, to $g's `take-DST` (lifted in DST): the adapter lifts it
from the peer (`load_string_from_range`) and lowers it into $g (`store_string_into_range`,
with $g's realloc). `guest-report-DST` returns what $g got and its realloc log.
Part 2, `fetch-SRC-DST`: the peer calls $g's `give-SRC`, which returns those bytes as a string
in SRC; the adapter lowers it into the peer in DST with the peer's realloc (logged only during
that call). `peer-report-DST` returns what the peer got and the log.
Every string is sent in every representation a guest can hold it (UTF-8, UTF-16, latin1 when it
fits, tagged UTF-16 in a latin1+UTF-16 guest). The spec keeps a string in its source
encoding until the destination lowers it, so the realloc sequence depends on the source: the
expectations come from the spec's lift then store, run on simulated guest memories.
'''
        dirs = [('adapter-send', 'Part 1: send (parameters)'), ('adapter-fetch', 'Part 2: fetch (results)')]
        host_peer = False
    else:
        name = 'canon-strings-imports.wast'
        header = '''
Strings through compiled import trampolines, every (source, destination) encoding pair,
checked against the spec's Python.

$HostPeer is the peer of canon-strings-adapters.wast instantiated on its own: its import
"guest" is resolved by the script host to the registered $Strings instance, so each call
leaves the peer through its import trampoline, reaches the host as a UTF-8 string, and enters
$Strings through its export glue.
Part 1, `send-SRC-DST`: the trampoline lifts the peer's string (in SRC) for the host; the host
passes it to $Strings' `take-DST`, which lowers it (UTF-8 -> DST); `guest-report-DST` on $s.
Part 2, `fetch-SRC-DST`: the host calls $Strings' `give-SRC` (a string in SRC lifted for the
host) and the trampoline lowers the result into the peer in DST with the peer's realloc;
`report-DST` on $h.
'''
        dirs = [('import-take', 'Part 1: send (import parameters)'), ('import-fetch', 'Part 2: fetch (import results)')]
        host_peer = True
    sc = Script(name, header)
    sc.add(strings_definition())
    if host_peer:
        sc.add(host_peer_definition())
    fresh(sc, host_peer)
    for direction, title in dirs:
        sc.add('')
        sc.comment(title)
        for s, src, label, data, at, lenword, dst in matrix_cases(direction):
            o, call, rep = lowering(direction, src, data, at, lenword, dst)
            assert o.trap is None, (direction, s, label, dst, o.trap)
            sc.comment(f'{describe(s)}: {label} -> {dst}')
            expect_lowered(sc, call, o, rep, dst)
    return sc


def strings_faults_script():
    sc = Script('canon-strings-faults.wast', '''
A `realloc` returning a bad pointer at each step of the spec's string algorithms, in every
direction a string is lowered into a guest (host -> guest, import results, fused adapter
parameters and results), for every (source representation, destination encoding) pair.

For each pair, every distinct realloc sequence the strings of the matrix scripts make (first
allocation, growth to the worst case, shrink; the empty string apart) is replayed with the
destination's `realloc` told (`set-fault STEP KIND`) to return, at exactly one call:
an odd pointer (traps where the spec checks alignment: every step of alignment 2; the steps of
alignment 1, `store_string_to_utf8`'s and the latin1 shrink of
`store_probably_utf16_to_latin1_or_utf16`, accept it), the lowest aligned pointer whose block
passes the end of memory (always a trap: "string content out-of-bounds"), or the highest
aligned pointer whose block still fits (never a trap). Whether each traps, and what the guest
holds when not, comes from the spec's Python run with the same faulty allocator.
Import parameters are not repeated here: their lowering is the host's (part 1).
''')
    sc.add(strings_definition())
    sc.add(host_peer_definition())
    for direction in ('host', 'import-fetch', 'adapter-send', 'adapter-fetch'):
        sc.add('')
        sc.comment(f'direction: {direction}')
        seen = set()
        for s, src, label, data, at, lenword, dst in matrix_cases(direction):
            base, _, _ = lowering(direction, src, data, at, lenword, dst)
            key = (label, dst, signature(base))
            if key in seen:
                continue
            seen.add(key)
            for step in range(base.steps):
                align = base.guest.log[step][2]
                for kind in (MISALIGNED, OUT_OF_BOUNDS, EDGE):
                    o, call, rep = lowering(direction, src, data, at, lenword, dst, (step, kind))
                    sc.comment(f'{describe(s)}: {label} -> {dst}, realloc call {step} '
                               f'(alignment {align}) returns a pointer {KIND_NAMES[kind]}')
                    fresh(sc, direction.startswith('import'))
                    sc.directive(f'{fault_target(direction)} (u32.const {step}) (u32.const {kind}))')
                    expect_lowered(sc, call, o, rep, dst)
    return sc


def strings_lift_script():
    sc = Script('canon-strings-lift.wast', '''
Damaged strings lifted from a guest: invalid encodings and length words the canonical ABI
must refuse, in CanonicalABI.md `load_string_from_range`'s order (byte length against
MAX_STRING_BYTE_LENGTH = 2^28-1, then alignment, then bounds, then the encoding), wherever a
guest's string is lifted: for the host (`give-E`), by an import trampoline (`send` of
$HostPeer), and by fused adapters (`send`: the caller's parameter; `fetch`: the callee's
result). Each case gives the bytes (copied to AT), the address AT and the length word; the
expected outcome (trap and which rule, or the string) is the spec's.
''')
    cases = lift_cases()
    sc.add(strings_definition())
    sc.add(host_peer_definition())
    sc.add('')
    sc.comment('guest -> host')
    fresh(sc)
    for enc, what, data, at, lenword in cases:
        value, trap = source_string(enc, data, at, lenword)
        sc.comment(f'{enc}: {what}')
        call = f'(invoke "give-{SHORT[enc]}" {give_args(data, at, lenword)})'
        sc.cases += 1
        if trap:
            sc.directive(f'(assert_trap {call} "{trap}")')
            fresh(sc)
        else:
            sc.directive(f'(assert_return {call} {wstr(value[0])})')
    for direction in ('import-take', 'adapter-send', 'adapter-fetch'):
        sc.add('')
        sc.comment(f'direction: {direction}')
        fresh(sc, direction.startswith('import'))
        for enc, what, data, at, lenword in cases:
            for dst in ENCODINGS:
                o, call, rep = lowering(direction, enc, data, at, lenword, dst)
                sc.comment(f'{enc}: {what} -> {dst}')
                expect_lowered(sc, call, o, rep, dst)
                if o.trap:
                    fresh(sc, direction.startswith('import'))
    return sc


def lift_cases():
    """(encoding, description, bytes, address, length word)."""
    big = 1 << 28
    c = []
    u = 'utf8'
    c += [(u, 'invalid byte 0xff', b'a\xff', STAGE, 2),
          (u, 'truncated sequence', b'a\xc3', STAGE, 2),
          (u, 'encoded surrogate', b'\xed\xa0\x80', STAGE, 3),
          (u, 'overlong NUL', b'\xc0\x80', STAGE, 2),
          (u, 'odd address (alignment 1: fine)', b'ab', STAGE + 1, 2),
          (u, 'length 2^28-1: in the limit, out of bounds', b'', STAGE, big - 1),
          (u, 'length 2^28: too long', b'', STAGE, big),
          (u, 'length with bit 31 (no tag in utf8): too long', b'ab', STAGE, TAG | 2),
          (u, 'last byte of memory', b'z', PAGE - 1, 1),
          (u, 'one past the end', b'', PAGE - 1, 2),
          (u, 'empty, at the end of memory', b'', PAGE, 0),
          (u, 'empty, past the end of memory', b'', PAGE + 1, 0)]
    u = 'utf16'
    c += [(u, 'lone high surrogate', b'a\x00\x00\xd8', STAGE, 2),
          (u, 'lone low surrogate', b'\x00\xdc', STAGE, 1),
          (u, 'surrogates reversed', b'\x00\xdc\x00\xd8', STAGE, 2),
          (u, 'valid pair', b'\x3d\xd8\x00\xde', STAGE, 2),
          (u, 'odd address', b'a\x00', STAGE + 1, 1),
          (u, 'odd address and too long: length first', b'', STAGE + 1, 1 << 27),
          (u, 'odd address and out of bounds: alignment first', b'', STAGE + 1, (1 << 27) - 1),
          (u, 'length word with bit 31 (the latin1+utf16 tag): too long', b'a\x00', STAGE, TAG | 1),
          (u, '2^27 units (2^28 bytes): too long', b'', STAGE, 1 << 27),
          (u, '2^27-1 units: in the limit, out of bounds', b'', STAGE, (1 << 27) - 1),
          (u, 'last unit of memory', b'z\x00', PAGE - 2, 1),
          (u, 'empty, at the end of memory', b'', PAGE, 0)]
    u = 'latin1+utf16'
    c += [(u, 'latin1 bytes 0x80-0xff', bytes([0x80, 0xe9, 0xff]), STAGE, 3),
          (u, 'latin1 at an odd address (alignment 2 for both forms)', b'ab', STAGE + 1, 2),
          (u, 'tagged utf16 at an odd address', b'a\x00', STAGE + 1, TAG | 1),
          (u, 'tagged lone surrogate', b'\x00\xd8', STAGE, TAG | 1),
          (u, 'tagged utf16 whose characters all fit latin1', 'aé'.encode('utf-16-le'), STAGE, TAG | 2),
          (u, 'latin1 length 2^28: too long', b'', STAGE, big),
          (u, 'latin1 length 2^28-1: out of bounds', b'', STAGE, big - 1),
          (u, 'tagged 2^27 units: too long', b'', STAGE, TAG | (1 << 27)),
          (u, 'tagged 2^27-1 units: out of bounds', b'', STAGE, TAG | ((1 << 27) - 1)),
          (u, 'tagged, zero units', b'', STAGE, TAG),
          (u, 'latin1 at an odd address, too long: length first', b'', STAGE + 1, big)]
    return c


# --- lists --------------------------------------------------------------------------------

LIST_SIZES = [('u8', 1), ('u16', 2), ('u32', 4), ('u64', 8), ('pair', 8), ('string', 8), ('string16', 8)]
LIST_TYPES = {
    'u8': ('u8', lambda: spec.U8Type()),
    'u16': ('u16', lambda: spec.U16Type()),
    'u32': ('u32', lambda: spec.U32Type()),
    'u64': ('u64', lambda: spec.U64Type()),
    'pair': ('(tuple u8 u32)', lambda: spec.TupleType([spec.U8Type(), spec.U32Type()])),
    'string': ('string', lambda: spec.StringType()),
    'string16': ('string', lambda: spec.StringType()),
}
LIST_ENCODING = {'string16': 'utf16'}
LIST_VALUES = {
    'u8': [[], [7], [1, 2, 255]],
    'u16': [[], [0x1234], [1, 2, 0xffff]],
    'u32': [[], [0xdeadbeef], [1, 2, 3]],
    'u64': [[], [0x0123456789abcdef], [1, 2, 3]],
    'pair': [[], [(1, 0x01020304)], [(1, 2), (3, 4), (255, 0xffffffff)]],
    'string': [[], ['a'], ['', 'é€', 'ab😀']],
    'string16': [[], ['a'], ['', 'é€', 'ab😀']],
}


def list_val_wast(name, v):
    if name in ('string', 'string16'):
        return '(list.const' + ''.join(' ' + wstr(x) for x in v) + ')'
    if name == 'pair':
        return '(list.const' + ''.join(f' (tuple.const (u8.const {a}) (u32.const {b}))' for a, b in v) + ')'
    return '(list.const' + ''.join(f' ({name}.const {x})' for x in v) + ')'


def list_spec_value(name, v):
    if name in ('string', 'string16'):
        return [(x, 'utf8', len(x.encode('utf-8'))) for x in v]
    if name == 'pair':
        return [{'0': a, '1': b} for a, b in v]
    return list(v)


def lower_list(name, v, fault=None):
    g = Guest()
    g.fault = fault
    cx = cx_for(g, LIST_ENCODING.get(name, 'utf8'))
    t = LIST_TYPES[name][1]()
    try:
        ptr, n = spec.store_list_into_range(cx, list_spec_value(name, v), t)
    except spec.Trap as e:
        return Outcome(trap=kiln_message(trap_class(e)), guest=g, steps=len(g.log))
    size = dict(LIST_SIZES)[name]
    return Outcome(guest=g, ptr=ptr, lenword=n, value=bytes(g.mem[ptr:ptr + n * size]), steps=len(g.log))


def lists_definition():
    takes, peer_lifts, lowers, imports, funcs = [], [], [], [], []
    items = []
    for name, _ in LIST_SIZES:
        ty = LIST_TYPES[name][0]
        enc = LIST_ENCODING.get(name, 'utf8')
        takes.append(f'  (func (export "take-list-{name}") (param "l" (list {ty}))\n'
                     f'    (canon lift (core func $libc "take-list-{name}") (memory $mem) (realloc $realloc) string-encoding={enc}))')
        items.append(f'    (export "take-list-{name}" (func (param "l" (list {ty}))))')
        lowers.append(f'  (core func $t-{name} (canon lower (func $guest "take-list-{name}") (memory $mem) (realloc $realloc)))')
        imports.append(f'    (import "take" "{name}" (func $take-{name} (param i32 i32)))')
        funcs.append(f'    (func (export "send-list-{name}") (param i32 i32) (call $take-{name} (local.get 0) (local.get 1)))')
        peer_lifts.append(f'  (func (export "send-list-{name}") (param "l" (list {ty}))\n'
                          f'    (canon lift (core func $main "send-list-{name}") (memory $mem) (realloc $realloc)))')
    for name, align in (('u8', 1), ('u32', 4), ('u64', 8)):
        takes.append(f'  (func (export "give-list-{name}") {GIVE_PARAMS} (result (list {name}))\n'
                     f'    (canon lift (core func $libc "give") (memory $mem) (realloc $realloc) (post-return (core func $libc "post"))))')
    takes.append('  (func (export "report") (result (tuple u32 u32 (list u8) (list u32) u32))\n'
                 '    (canon lift (core func $libc "report-bytes") (memory $mem) (post-return (core func $libc "post"))))')
    takes.append('  (func (export "set-fault") (param "step" u32) (param "kind" u32)\n'
                 '    (canon lift (core func $libc "set-fault")))')
    guest = '(component $Guest\n' + libc(True, lists=True) + '\n'.join(takes) + ')'
    peer = ['(component $Peer', '  (import "guest" (instance $guest', *items, '  ))', libc(False, lists=True)]
    peer += lowers
    peer += ['  (core module $Main'] + imports + funcs + ['  )']
    withs = ' '.join(f'(export "{n}" (func $t-{n}))' for n, _ in LIST_SIZES)
    peer.append(f'  (core instance $main (instantiate $Main (with "libc" (instance $libc)) (with "take" (instance {withs}))))')
    peer += peer_lifts
    peer.append(')')
    exports = []
    for name, _ in LIST_SIZES:
        exports += [f'  (export "take-list-{name}" (func $g "take-list-{name}"))',
                    f'  (export "send-list-{name}" (func $p "send-list-{name}"))']
    for name in ('u8', 'u32', 'u64'):
        exports.append(f'  (export "give-list-{name}" (func $g "give-list-{name}"))')
    exports += ['  (export "report" (func $g "report"))', '  (export "set-fault" (func $g "set-fault"))']
    return ('(component definition $Lists\n' + indent(guest, 2) + '\n' + indent('\n'.join(peer), 2) + '\n'
            '  (instance $g (instantiate $Guest))\n'
            '  (instance $p (instantiate $Peer (with "guest" (instance $g))))\n'
            + '\n'.join(exports) + ')\n')


def lists_script():
    sc = Script('canon-lists.wast', '''
Lists lowered into a guest (CanonicalABI.md `store_list_into_range`) and lifted from one
(`load_list_from_range`), checked against the spec's Python.

Part 1: the host passes lists of u8, u16, u32, u64, tuple<u8, u32>, string (to a UTF-8 and to a
UTF-16 guest) to `take-list-T`, and the peer passes the same lists through a fused adapter
(`send-list-T`); `report` returns (pointer, length, the list's bytes, the realloc log, a hash
of the heap). The list is allocated first with its element type's alignment (the empty list
too), then its strings in order.
Part 2: `realloc` returning an odd pointer, a pointer aligned to half the element alignment,
a block past the end of memory, or the last block that fits, at each call.
Part 3: `give-list-T` returns a list the host describes (bytes copied to AT, length): element
alignment, MAX_LIST_BYTE_LENGTH (2^28-1 bytes) and bounds, in the spec's order.
''')
    sc.add(lists_definition())
    sc.directive('(component instance $l $Lists)')
    sc.add('')
    sc.comment('Part 1: host -> guest and guest -> guest')
    for name, _ in LIST_SIZES:
        for v in LIST_VALUES[name]:
            o = lower_list(name, v)
            assert o.trap is None
            for verb in ('take', 'send'):
                sc.cases += 1
                sc.comment(f'{verb} list<{LIST_TYPES[name][0]}> of {len(v)}')
                sc.directive(f'(assert_return (invoke "{verb}-list-{name}" {list_val_wast(name, v)}))')
                sc.directive(f'(assert_return (invoke "report") {report(o, u8s(o.value))})')
    sc.add('')
    sc.comment('Part 2: faulty realloc')
    for name, _ in LIST_SIZES:
        for v in LIST_VALUES[name]:
            base = lower_list(name, v)
            if name in ('string', 'string16') and len(v) != 3 and v:
                continue
            for step in range(base.steps):
                align = base.guest.log[step][2]
                kinds = [MISALIGNED, OUT_OF_BOUNDS, EDGE] + ([HALF] if align >= 4 else [])
                for kind in kinds:
                    o = lower_list(name, v, (step, kind))
                    for verb in ('take', 'send'):
                        sc.cases += 1
                        sc.comment(f'{verb} list<{LIST_TYPES[name][0]}> of {len(v)}: realloc call {step} '
                                   f'(alignment {align}) returns a pointer {KIND_NAMES[kind]}')
                        sc.directive('(component instance $l $Lists)')
                        sc.directive(f'(invoke "set-fault" (u32.const {step}) (u32.const {kind}))')
                        call = f'(invoke "{verb}-list-{name}" {list_val_wast(name, v)})'
                        if o.trap:
                            sc.directive(f'(assert_trap {call} "{o.trap}")')
                        else:
                            sc.directive(f'(assert_return {call})')
                            sc.directive(f'(assert_return (invoke "report") {report(o, u8s(o.value))})')
    sc.add('')
    sc.comment('Part 3: lifting damaged lists')
    sc.directive('(component instance $l $Lists)')
    for name, size, what, data, at, n in list_lift_cases():
        g = Guest(armed=False)
        if data:
            g.mem[at:at + len(data)] = data
        t = {'u8': spec.U8Type(), 'u32': spec.U32Type(), 'u64': spec.U64Type()}[name]
        sc.comment(f'list<{name}>: {what}')
        call = f'(invoke "give-list-{name}" {give_args(data, at, n)})'
        sc.cases += 1
        try:
            got = spec.load_list_from_range(cx_for(g, 'utf8'), at, n, t)
        except spec.Trap as e:
            sc.directive(f'(assert_trap {call} "{kiln_message(trap_class(e))}")')
            sc.directive('(component instance $l $Lists)')
            continue
        sc.directive(f'(assert_return {call} {list_val_wast(name, got)})')
    return sc


def list_lift_cases():
    m = (1 << 28) - 1
    return [
        ('u8', 1, 'odd address (alignment 1: fine)', b'\x01\x02', STAGE + 1, 2),
        ('u8', 1, f'length 2^28 (> {m}): too long', b'', STAGE, 1 << 28),
        ('u8', 1, 'length 2^28-1: out of bounds', b'', STAGE, m),
        ('u8', 1, 'empty, at the end of memory', b'', PAGE, 0),
        ('u8', 1, 'empty, past the end of memory', b'', PAGE + 1, 0),
        ('u32', 4, 'address 2 mod 4', b'\x01\x00\x00\x00', STAGE + 2, 1),
        ('u32', 4, 'odd address, empty', b'', STAGE + 1, 0),
        ('u32', 4, '2^26 elements (2^28 bytes): too long', b'', STAGE, 1 << 26),
        ('u32', 4, '2^26 elements at an odd address: length first', b'', STAGE + 1, 1 << 26),
        ('u32', 4, '2^26-1 elements: out of bounds', b'', STAGE, (1 << 26) - 1),
        ('u32', 4, 'length that overflows 32 bits when multiplied', b'', STAGE, 1 << 30),
        ('u32', 4, 'last element of memory', b'\x07\x00\x00\x00', PAGE - 4, 1),
        ('u32', 4, 'one element past the end', b'', PAGE - 4, 2),
        ('u64', 8, 'address 4 mod 8', b'\x01\x00\x00\x00\x00\x00\x00\x00', STAGE + 4, 1),
        ('u64', 8, 'two elements', bytes(range(16)), STAGE, 2),
        ('u64', 8, '2^25 elements: too long', b'', STAGE, 1 << 25),
    ]


# --- the differential test's component and oracle service ------------------------------

STANDALONE = os.path.normpath(os.path.join(HERE, '..', 'canon-strings.wat'))
STANDALONE_PEER = os.path.normpath(os.path.join(HERE, '..', 'canon-strings-peer.wat'))
STANDALONE_LISTS = os.path.normpath(os.path.join(HERE, '..', 'canon-lists.wat'))


def standalone_component():
    """`$Strings` as a component of its own, for kiln-diff (tests/diff/src/strings.rs)."""
    body = strings_definition()
    assert body.startswith('(component definition $Strings\n')
    return (';; The guest and peer of tests/components/wast/canon-strings-*.wast as one component, for\n'
            ';; the differential test (tests/diff/src/strings.rs). GENERATED by\n'
            ';; tests/components/oracle/canon_oracle.py; do not edit by hand.\n'
            '(component\n' + body[len('(component definition $Strings\n'):])


def standalone_peer():
    """The peer alone (`$HostPeer`): its import "guest" for the host to provide."""
    return (';; The peer of tests/components/wast/canon-strings-imports.wast on its own: its import\n'
            ';; "guest" is provided by the host (the differential test forwards it to an instance of\n'
            ';; canon-strings.wat). GENERATED by tests/components/oracle/canon_oracle.py; do not edit.\n'
            + peer_component() + '\n')


def standalone_lists():
    """`$Lists` of canon-lists.wast as a component of its own, for kiln-diff's list cases."""
    body = lists_definition()
    assert body.startswith('(component definition $Lists\n')
    return (';; The guest and peer of tests/components/wast/canon-lists.wast as one component, for the\n'
            ';; differential test (tests/diff/src/lists.rs). GENERATED by\n'
            ';; tests/components/oracle/canon_oracle.py; do not edit by hand.\n'
            '(component\n' + body[len('(component definition $Lists\n'):])


def run_list_case(line):
    """One of kiln-diff's list cases (`tests/diff/src/lists.rs`), in its line format
    `list VERB ELEM FAULT-STEP FAULT-KIND ITEM...` (VERB take/send: from the host or through a
    fused adapter, the same lowering; ELEM one of LIST_SIZES; a negative step is no fault;
    items are numbers, `A:B` pairs, or `x` and the string's UTF-8 in hex), answered as the spec
    does: `trap MESSAGE` or `value PTR LENGTH HEXBYTES LOG HASH`, what the guest's `report`
    returns (the list's bytes, the realloc log as comma-separated numbers, the heap's hash;
    `-` for empty)."""
    _, verb, name, fstep, fkind, *items = line.split()
    assert verb in ('take', 'send') and name in LIST_TYPES, line
    fstep, fkind = int(fstep), int(fkind)
    if name in ('string', 'string16'):
        v = [bytes.fromhex(x[1:]).decode('utf-8') for x in items]
    elif name == 'pair':
        v = [tuple(int(y) for y in x.split(':')) for x in items]
    else:
        v = [int(x) for x in items]
    o = lower_list(name, v, None if fstep < 0 else (fstep, fkind))
    if o.trap:
        return 'trap ' + o.trap
    log = ','.join(str(x) for x in o.guest.flat_log())
    return f'value {o.ptr} {o.lenword} {o.value.hex() or "-"} {log or "-"} {o.guest.heap_hash()}'


def run_case(line):
    """One case of kiln-diff's string cases, in its line format
    `DIR SRC DST AT LENWORD FAULT-STEP FAULT-KIND HEXBYTES` (DIR take/give/send/fetch, or
    itake/ifetch: send/fetch of the peer on its own, through its import trampolines; for
    take the bytes are the host's UTF-8 string; a negative step is no fault), answered as the
    spec does: `trap MESSAGE` (kiln's wording of the rule), `string HEX` (what the host gets
    from give) or `value PTR LENWORD HEXBYTES LOG HEXHEAP` (what the receiving guest holds:
    the string's bytes, the realloc log as comma-separated numbers, its heap; `-` for empty)."""
    if line.startswith('list '):
        return run_list_case(line)
    d, src, dst, at, lenword, fstep, fkind, hexb = line.split()
    data = bytes.fromhex('' if hexb == '-' else hexb)
    at, lenword, fstep, fkind = int(at), int(lenword), int(fstep), int(fkind)
    fault = None if fstep < 0 else (fstep, fkind)
    if d == 'take':
        s = data.decode('utf-8')
        o = lower_string((s, 'utf8', len(data)), dst, fault)
    elif d in ('itake', 'ifetch'):
        # through the peer's import trampolines and the host
        direction = {'itake': 'import-take', 'ifetch': 'import-fetch'}[d]
        o, _, _ = lowering(direction, src, data, at, lenword, dst, fault)
    else:
        value, trap = source_string(src, data, at, lenword)
        if trap:
            return 'trap ' + trap
        if d == 'give':
            return 'string ' + (value[0].encode('utf-8').hex() or '-')
        if d == 'send':
            o = lower_string(value, dst, fault)
        elif d == 'fetch':
            o = lower_string(value, dst, fault, fetch_prefill(data))
        else:
            raise ValueError(d)
    if o.trap:
        return 'trap ' + o.trap
    g = o.guest
    sb = bytes(g.mem[o.ptr:o.ptr + string_bytes(dst, o.lenword)])
    log = ','.join(str(x) for x in g.flat_log())
    return f'value {o.ptr} {o.lenword} {sb.hex() or "-"} {log or "-"} {bytes(g.mem[HEAP:g.bump]).hex() or "-"}'


def serve():
    """Answers case lines from stdin, one line each, until EOF."""
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            out = run_case(line)
        except Exception as e:  # a malformed line: say so, keep serving
            out = 'error ' + repr(e).replace('\n', ' ')
        sys.stdout.write(out + '\n')
        sys.stdout.flush()


# --- main ---------------------------------------------------------------------------------

def load_spec(path, rev):
    global spec, SPEC_ORIGIN
    if path is None:
        commit = subprocess.run(['git', '-C', MIRROR, 'rev-parse', rev], check=True,
                                capture_output=True, text=True).stdout.strip()
        text = subprocess.run(['git', '-C', MIRROR, 'show', f'{commit}:{SPEC_PATH}'], check=True,
                              capture_output=True, text=True).stdout
        tmp = tempfile.mkdtemp(prefix='canon-oracle-')
        path = os.path.join(tmp, 'definitions.py')
        with open(path, 'w') as f:
            f.write(text)
        SPEC_ORIGIN = f'WebAssembly/component-model {commit[:12]}'
    else:
        SPEC_ORIGIN = f'copy at {os.path.basename(path)}'
    s = importlib.util.spec_from_file_location('definitions', path)
    spec = importlib.util.module_from_spec(s)
    sys.modules['definitions'] = spec
    s.loader.exec_module(spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--spec', help='a copy of definitions.py (default: from the mirror)')
    ap.add_argument('--rev', default='HEAD', help='revision of the mirror to read the spec from')
    ap.add_argument('--check', action='store_true', help='compare with the committed scripts instead of writing')
    ap.add_argument('--out', default=WAST_DIR, help='directory of the scripts')
    ap.add_argument('--serve', action='store_true',
                    help="answer kiln-diff's string cases on stdin (see run_case) instead of writing scripts")
    args = ap.parse_args()
    load_spec(args.spec, args.rev)
    if args.serve:
        serve()
        return
    scripts = [strings_host_script(), strings_between_guests_script('adapter'),
               strings_between_guests_script('imports'), strings_faults_script(),
               strings_lift_script(), lists_script()]
    stale = []
    outputs = [(sc.name, os.path.join(args.out, sc.name), sc.text(), sc) for sc in scripts]
    outputs.append(('canon-strings.wat', STANDALONE, standalone_component(), None))
    outputs.append(('canon-strings-peer.wat', STANDALONE_PEER, standalone_peer(), None))
    outputs.append(('canon-lists.wat', STANDALONE_LISTS, standalone_lists(), None))
    for name, path, text, sc in outputs:
        if sc is not None:
            print(f'{name}: {sc.cases} cases, {sc.directives} directives')
        if args.check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(name)
            except FileNotFoundError:
                stale.append(name)
        else:
            with open(path, 'w') as f:
                f.write(text)
    if stale:
        print('out of date: ' + ', '.join(stale), file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
