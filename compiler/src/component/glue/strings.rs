//! Strings in compiled glue: lowering a string into a guest as CanonicalABI.md's
//! `store_string_into_range` prescribes, `realloc` call by `realloc` call.
//!
//! The spec's algorithms are observable through the guest's `realloc`: which sizes and
//! alignments it is asked for, and in what order (a first allocation, a growth to the worst
//! case when transcoding meets a wider code point, a final shrink to the exact size). The glue
//! makes each of those calls here, in IR, with the spec's arguments, and checks each result as
//! the spec does (alignment where the spec checks it, then bounds); the `string_*` component
//! builtins (`kiln-runtime`'s `component/strings.rs`) move the code units in between.
//!
//! The source of a string is either the host (UTF-8, its length in bytes) or, in a fused
//! adapter, the other guest's memory in that guest's encoding ([`Source`]).

use super::builder::Glue;
use cranelift_codegen::ir::{condcodes::IntCC, types, Block, InstBuilder, Value};
use kiln_environ::component::abi::{MAX_STRING_BYTE_LENGTH, UTF16_TAG};
use kiln_environ::component::glue::{ComponentBuiltin, GlueTrap};
use kiln_environ::component::StringEncoding;

/// Where the code units of a string being lowered come from (CanonicalABI.md's
/// `src_encoding` / `src_simple_encoding`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// UTF-8 of the host, validated where it entered the runtime (not validated again).
    HostUtf8,
    /// UTF-8 of a `utf8` guest.
    Utf8,
    /// UTF-16 of a `utf16` guest.
    Utf16,
    /// latin1 of a `latin1+utf16` guest (tag bit clear).
    CompactLatin1,
    /// UTF-16 of a `latin1+utf16` guest (tag bit set).
    CompactUtf16,
}

impl Source {
    /// The `src_enc` code the builtins take: 0 UTF-8, 1 UTF-16, 2 latin1, 3 the host's UTF-8.
    fn code(self) -> i64 {
        match self {
            Source::HostUtf8 => 3,
            Source::Utf8 => 0,
            Source::Utf16 | Source::CompactUtf16 => 1,
            Source::CompactLatin1 => 2,
        }
    }
}

/// What the length word of a lowered string counts.
#[derive(Copy, Clone)]
enum Units {
    /// Bytes (UTF-8, latin1).
    Bytes,
    /// UTF-16 code units.
    Utf16,
    /// UTF-16 code units with the `latin1+utf16` tag.
    TaggedUtf16,
}

impl Glue<'_, '_> {
    /// Lowers the string whose code units are at native address `src` into the options'
    /// memory. `len` (`i64`) is the length word the string came with: a byte length for host
    /// strings, the source guest's tagged code units for a fused adapter's string in encoding
    /// `from`. Returns the guest `(ptr, tagged length)` (`i32`s).
    pub fn lower_string(
        &mut self,
        from: Option<StringEncoding>,
        src: Value,
        len: Value,
    ) -> (Value, Value) {
        let merge = self.b.create_block();
        self.b.append_block_param(merge, types::I32);
        self.b.append_block_param(merge, types::I32);
        match from {
            None | Some(StringEncoding::Utf8) => {
                if from.is_none() {
                    // A host string: the lifted strings of guests already passed this check.
                    let long = self.b.ins().icmp_imm_s(
                        IntCC::UnsignedGreaterThan,
                        len,
                        i64::from(MAX_STRING_BYTE_LENGTH),
                    );
                    self.trap_if(long, GlueTrap::StringTooLong);
                }
                let kind = if from.is_none() {
                    Source::HostUtf8
                } else {
                    Source::Utf8
                };
                self.store_string(kind, src, len, merge);
            }
            Some(StringEncoding::Utf16) => self.store_string(Source::Utf16, src, len, merge),
            Some(StringEncoding::Latin1Utf16) => {
                let tagged = self.b.ins().band_imm_s(len, i64::from(UTF16_TAG));
                let (wide, narrow) = (self.b.create_block(), self.b.create_block());
                self.b.ins().brif(tagged, wide, &[], narrow, &[]);
                self.b.switch_to_block(wide);
                let n = self.b.ins().band_imm_s(len, i64::from(!UTF16_TAG));
                self.store_string(Source::CompactUtf16, src, n, merge);
                self.b.switch_to_block(narrow);
                self.store_string(Source::CompactLatin1, src, len, merge);
            }
        }
        self.b.switch_to_block(merge);
        let p = self.b.block_params(merge);
        (p[0], p[1])
    }

    /// `store_string_into_range`: dispatches on the source and destination encodings; jumps
    /// to `merge` with `(ptr, tagged length)`.
    fn store_string(&mut self, src_kind: Source, src: Value, n: Value, merge: Block) {
        use Source::*;
        match (self.opts.string_encoding, src_kind) {
            (StringEncoding::Utf8, Utf8 | HostUtf8) => {
                self.store_copy(src_kind, src, n, 1, 1, merge)
            }
            (StringEncoding::Utf8, Utf16 | CompactUtf16) => {
                self.store_to_utf8(src_kind, src, n, 3, merge)
            }
            (StringEncoding::Utf8, CompactLatin1) => self.store_to_utf8(src_kind, src, n, 2, merge),
            (StringEncoding::Utf16, Utf8 | HostUtf8) => self.store_utf8_to_utf16(src, n, merge),
            (StringEncoding::Utf16, Utf16 | CompactUtf16 | CompactLatin1) => {
                self.store_copy(src_kind, src, n, 2, 2, merge)
            }
            (StringEncoding::Latin1Utf16, Utf8 | HostUtf8 | Utf16) => {
                self.store_to_latin1_or_utf16(src_kind, src, n, merge)
            }
            (StringEncoding::Latin1Utf16, CompactLatin1) => {
                self.store_copy(src_kind, src, n, 1, 2, merge)
            }
            (StringEncoding::Latin1Utf16, CompactUtf16) => self.store_probably_utf16(src, n, merge),
        }
    }

    /// `realloc(old, old_size, align, new_size)` (sizes `i64`, known to fit in 32 bits), its
    /// result checked: aligned (when `check_align`, as the spec does at that step), then
    /// `[ptr, ptr + new_size)` inside memory.
    fn string_realloc(
        &mut self,
        old: Option<(Value, Value)>,
        align: u32,
        new_size: Value,
        check_align: bool,
    ) -> Value {
        let ptr = self.realloc_call(old, align, new_size);
        if check_align {
            self.check_align(ptr, align, GlueTrap::ReallocMisaligned);
        }
        let p64 = self.b.ins().uextend(types::I64, ptr);
        self.check_range(p64, new_size, GlueTrap::StringReallocOutOfBounds);
        ptr
    }

    fn jump_result(&mut self, merge: Block, ptr: Value, tagged: Value) {
        let tagged = if self.b.func.dfg.value_type(tagged) == types::I64 {
            self.b.ins().ireduce(types::I32, tagged)
        } else {
            tagged
        };
        self.b.ins().jump(merge, &[ptr.into(), tagged.into()]);
    }

    /// `store_string_copy`: one allocation of `unit * n` bytes, a copy.
    fn store_copy(
        &mut self,
        src_kind: Source,
        src: Value,
        n: Value,
        unit: i64,
        align: u32,
        merge: Block,
    ) {
        let bytes = self.b.ins().imul_imm_s(n, unit);
        let ptr = self.string_realloc(None, align, bytes, true);
        let mem = self.mem_def();
        let s = self.i32(src_kind.code());
        let d = self.i32(self.encoding_code());
        self.builtin(ComponentBuiltin::string_copy, &[mem, s, d, src, n, ptr]);
        self.jump_result(merge, ptr, n);
    }

    /// `store_string_to_utf8` (from UTF-16 or latin1; `worst` bytes per code unit).
    fn store_to_utf8(&mut self, src_kind: Source, src: Value, n: Value, worst: i64, merge: Block) {
        let ptr0 = self.string_realloc(None, 1, n, false);
        let mem = self.mem_def();
        let s = self.i32(src_kind.code());
        let done = self
            .builtin(
                ComponentBuiltin::string_to_utf8_prefix,
                &[mem, s, src, n, ptr0],
            )
            .expect("returns");
        let ascii = self.b.ins().icmp(IntCC::Equal, done, n);
        let (all, grow) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(ascii, all, &[], grow, &[]);
        self.b.switch_to_block(all);
        self.jump_result(merge, ptr0, n);

        self.b.switch_to_block(grow);
        let worst = self.b.ins().imul_imm_s(n, worst);
        let ptr1 = self.string_realloc(Some((ptr0, n)), 1, worst, false);
        let mem = self.mem_def();
        let s = self.i32(src_kind.code());
        let len = self
            .builtin(
                ComponentBuiltin::string_to_utf8_rest,
                &[mem, s, src, n, done, ptr1],
            )
            .expect("returns");
        self.shrink_to(merge, ptr1, worst, 1, len, false, Units::Bytes);
    }

    /// The final shrink of the transcoding algorithms: when `cap > len` (bytes), `realloc(ptr,
    /// cap, align, len)` (checked); jumps to `merge` with the pointer and the length word of
    /// `len` bytes of `units`.
    #[allow(clippy::too_many_arguments)]
    fn shrink_to(
        &mut self,
        merge: Block,
        ptr: Value,
        cap: Value,
        align: u32,
        len: Value,
        check_align: bool,
        units: Units,
    ) {
        let tagged = match units {
            Units::Bytes => len,
            Units::Utf16 => self.b.ins().ushr_imm_s(len, 1),
            Units::TaggedUtf16 => {
                let n = self.b.ins().ushr_imm_s(len, 1);
                self.b.ins().bor_imm_s(n, i64::from(UTF16_TAG))
            }
        };
        let bigger = self.b.ins().icmp(IntCC::UnsignedGreaterThan, cap, len);
        let (shrink, keep) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(bigger, shrink, &[], keep, &[]);
        self.b.switch_to_block(keep);
        self.jump_result(merge, ptr, tagged);
        self.b.switch_to_block(shrink);
        let p = self.string_realloc(Some((ptr, cap)), align, len, check_align);
        self.jump_result(merge, p, tagged);
    }

    /// `store_utf8_to_utf16`: the worst case (two bytes per UTF-8 byte), then a shrink.
    fn store_utf8_to_utf16(&mut self, src: Value, n: Value, merge: Block) {
        let worst = self.b.ins().imul_imm_s(n, 2);
        let ptr = self.string_realloc(None, 2, worst, true);
        let mem = self.mem_def();
        let len = self
            .builtin(ComponentBuiltin::string_utf8_to_utf16, &[mem, src, n, ptr])
            .expect("returns");
        self.shrink_to(merge, ptr, worst, 2, len, true, Units::Utf16);
    }

    /// `store_string_to_latin1_or_utf16` (from UTF-8 or plain UTF-16): latin1 first; at the
    /// first wider code point, growth to the UTF-16 worst case and inflation.
    fn store_to_latin1_or_utf16(&mut self, src_kind: Source, src: Value, n: Value, merge: Block) {
        let ptr0 = self.string_realloc(None, 2, n, true);
        let mem = self.mem_def();
        let s = self.i32(src_kind.code());
        let r = self
            .builtin(
                ComponentBuiltin::string_to_latin1_prefix,
                &[mem, s, src, n, ptr0],
            )
            .expect("returns");
        let done = self.b.ins().ushr_imm_s(r, 1);
        let stopped = self.b.ins().band_imm_s(r, 1);
        let (wide, latin1) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(stopped, wide, &[], latin1, &[]);

        self.b.switch_to_block(latin1);
        self.shrink_to(merge, ptr0, n, 2, done, true, Units::Bytes);

        self.b.switch_to_block(wide);
        let worst = self.b.ins().imul_imm_s(n, 2);
        let ptr1 = self.string_realloc(Some((ptr0, n)), 2, worst, true);
        let mem = self.mem_def();
        let s = self.i32(src_kind.code());
        let len = self
            .builtin(
                ComponentBuiltin::string_latin1_inflate,
                &[mem, s, src, n, done, ptr1],
            )
            .expect("returns");
        self.shrink_to(merge, ptr1, worst, 2, len, true, Units::TaggedUtf16);
    }

    /// `store_probably_utf16_to_latin1_or_utf16`: UTF-16 first; compacted to latin1 (and
    /// shrunk, alignment 1) when every code point fits.
    fn store_probably_utf16(&mut self, src: Value, n: Value, merge: Block) {
        let bytes = self.b.ins().imul_imm_s(n, 2);
        let ptr = self.string_realloc(None, 2, bytes, true);
        let mem = self.mem_def();
        let wide = self
            .builtin(ComponentBuiltin::string_utf16_compact, &[mem, src, n, ptr])
            .expect("returns");
        let (keep, compact) = (self.b.create_block(), self.b.create_block());
        self.b.ins().brif(wide, keep, &[], compact, &[]);
        self.b.switch_to_block(keep);
        let tagged = self.b.ins().bor_imm_s(n, i64::from(UTF16_TAG));
        self.jump_result(merge, ptr, tagged);
        self.b.switch_to_block(compact);
        let p = self.string_realloc(Some((ptr, bytes)), 1, n, false);
        self.jump_result(merge, p, n);
    }
}
