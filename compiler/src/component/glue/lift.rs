//! Lifting in compiled glue: the guest's flat core values, or canonical-ABI values in guest
//! memory, become the host C representation, validated as `CanonicalABI.md` requires (char
//! scalar values, discriminants in range, string/list alignment and bounds, string encoding;
//! floats have their NaNs canonicalised, flags their unused bits cleared, bools are `!= 0`);
//! resource handles move into (own) or are lent to (borrow) the host's handle table.
//!
//! Nothing is copied that the host only reads: a list of integers or floats becomes a host
//! slice pointing into guest memory, and a UTF-8 string (validated by the `string_lift`
//! builtin) too. Strings in other encodings are transcoded into the host arena
//! (`host_alloc`), as are lists whose elements need conversion (an IR loop). `task.return` is
//! the exception (`Glue::result_copy`): its guest may free the result as soon as it returns, so
//! strings and lists are copied into blocks the task owns (`result_alloc`).

use super::builder::{gflags, mflags, narrow, Glue};
use super::lower::is_plain;
use cranelift_codegen::ir::{condcodes::FloatCC, condcodes::IntCC, types, InstBuilder, Value};
use cranelift_frontend::Switch;
use kiln_environ::component::abi::{
    discriminant_size, field_offsets, flags_size, flatten_type, layout, payload_offset,
    MAX_LIST_BYTE_LENGTH,
};
use kiln_environ::component::glue::{ComponentBuiltin, GlueTrap};
use kiln_environ::component::host::{host_field_offsets, host_layout, host_payload_offset};
use kiln_environ::component::InterfaceType as T;

impl Glue<'_, '_> {
    /// Canonicalises a NaN (`f32`/`f64` value).
    fn canon_nan(&mut self, v: Value, ty: &T) -> Value {
        let nan = if matches!(ty, T::F32) {
            self.b.ins().f32const(f32::from_bits(0x7fc0_0000))
        } else {
            self.b.ins().f64const(f64::from_bits(0x7ff8_0000_0000_0000))
        };
        let is_nan = self.b.ins().fcmp(FloatCC::Unordered, v, v);
        self.b.ins().select(is_nan, nan, v)
    }

    /// Stores a variant tag (`i32`) into the host representation of `ty` at `dst + off`.
    fn store_host_tag(&mut self, ty: &T, tag: Value, dst: Value, off: i32) {
        if matches!(ty, T::Option(_)) {
            self.b.ins().istore8(mflags(), tag, dst, off);
        } else {
            self.b.ins().store(mflags(), tag, dst, off);
        }
    }

    /// Stores a validated scalar flat value (`i32`, `i64`, `f32`, `f64`) of `ty` at host
    /// `dst + off`.
    fn store_scalar(&mut self, ty: &T, v: Value, dst: Value, off: i32) {
        match ty {
            T::Bool => {
                let nz = self.b.ins().icmp_imm_s(IntCC::NotEqual, v, 0);
                let nz = self.b.ins().uextend(types::I32, nz);
                self.b.ins().istore8(mflags(), nz, dst, off);
            }
            T::S8 | T::U8 => {
                self.b.ins().istore8(mflags(), v, dst, off);
            }
            T::S16 | T::U16 => {
                self.b.ins().istore16(mflags(), v, dst, off);
            }
            T::Char => {
                self.check_char(v);
                self.b.ins().store(mflags(), v, dst, off);
            }
            T::Stream(e) | T::Future(e) => {
                let key = async_key(ty, e);
                let inst = self.i32(i64::from(self.opts.instance));
                let key = self.i32(i64::from(key as i32));
                let h = self
                    .builtin(ComponentBuiltin::async_value_lift, &[inst, key, v])
                    .expect("returns");
                self.b.ins().store(mflags(), h, dst, off);
            }
            T::ErrorContext => {
                let inst = self.i32(i64::from(self.opts.instance));
                let key = self.i32(i64::from(kiln_environ::component::ERROR_CONTEXT_KEY as i32));
                let h = self
                    .builtin(ComponentBuiltin::async_value_lift, &[inst, key, v])
                    .expect("returns");
                self.b.ins().store(mflags(), h, dst, off);
            }
            T::Own(r) | T::Borrow(r) => {
                let which = if matches!(ty, T::Own(_)) {
                    ComponentBuiltin::resource_lift_own
                } else {
                    ComponentBuiltin::resource_lift_borrow
                };
                let inst = self.i32(i64::from(self.opts.instance));
                let res = self.i32(i64::from(*r));
                let h = self.builtin(which, &[inst, res, v]).expect("returns");
                self.b.ins().store(mflags(), h, dst, off);
            }
            T::F32 | T::F64 => {
                let c = self.canon_nan(v, ty);
                self.b.ins().store(mflags(), c, dst, off);
            }
            _ => {
                self.b.ins().store(mflags(), v, dst, off);
            }
        }
    }

    /// Lifts the flat values `vals` (exactly `flatten_type(ty)`) into the host representation
    /// at `dst + off`.
    pub fn lift_flat(&mut self, ty: &T, vals: &[Value], dst: Value, off: i32) {
        match ty {
            T::String | T::List(_) | T::Map(..) => {
                self.lift_slice(ty, vals[0], vals[1], dst, off);
            }
            T::Enum(labels) => {
                self.check_disc(vals[0], labels.len());
                self.b.ins().store(mflags(), vals[0], dst, off);
            }
            T::Flags(labels) => {
                for (w, v) in vals.iter().enumerate() {
                    let bits = (labels.len() - 32 * w).min(32);
                    let v = if bits < 32 {
                        self.b.ins().band_imm_s(*v, (1i64 << bits) - 1)
                    } else {
                        *v
                    };
                    self.b.ins().store(mflags(), v, dst, off + 4 * w as i32);
                }
            }
            T::Record(_) | T::Tuple(_) | T::FixedList(..) => {
                let mut at = 0;
                let fields = ty.record_fields().unwrap_or_default();
                for (f, ho) in fields.iter().zip(host_field_offsets(ty)) {
                    let n = flatten_type(f).len();
                    self.lift_flat(f, &vals[at..at + n], dst, off + ho as i32);
                    at += n;
                }
            }
            T::Variant(_) | T::Option(_) | T::Result { .. } => {
                let cases = ty.variant_cases().unwrap_or_default();
                let flat = flatten_type(ty);
                let tag = vals[0];
                self.check_disc(tag, cases.len());
                self.store_host_tag(ty, tag, dst, off);
                let hpay = off + host_payload_offset(ty).unwrap_or(0) as i32;
                let merge = self.b.create_block();
                let mut switch = Switch::new();
                let mut pending = Vec::new();
                for (i, case) in cases.iter().enumerate() {
                    let Some(ct) = case else { continue };
                    let blk = self.b.create_block();
                    switch.set_entry(i as u128, blk);
                    pending.push((blk, ct));
                }
                switch.emit(self.b, tag, merge);
                for (blk, ct) in pending {
                    self.b.switch_to_block(blk);
                    let cflat = flatten_type(ct);
                    let cv: Vec<Value> = cflat
                        .iter()
                        .enumerate()
                        .map(|(j, to)| narrow(self.b, vals[1 + j], flat[1 + j], *to))
                        .collect();
                    self.lift_flat(ct, &cv, dst, hpay);
                    self.b.ins().jump(merge, &[]);
                }
                self.b.switch_to_block(merge);
            }
            _ => self.store_scalar(ty, vals[0], dst, off),
        }
    }

    /// Lifts a string or list given by guest `(ptr, len)` words (`i32`) into the host slice
    /// at `dst + off`.
    fn lift_slice(&mut self, ty: &T, ptr: Value, len: Value, dst: Value, off: i32) {
        let Some(elem) = ty.list_element() else {
            let mem = self.mem_def();
            let copy = if self.result_copy {
                i64::from(kiln_environ::component::glue::RESULT_COPY)
            } else {
                0
            };
            let enc = self.i32(self.encoding_code() | copy);
            let out = self.b.ins().iadd_imm_s(dst, i64::from(off));
            let which = if self.lift_raw {
                ComponentBuiltin::string_lift_raw
            } else {
                ComponentBuiltin::string_lift
            };
            self.builtin(which, &[mem, enc, ptr, len, out]);
            return;
        };
        // CanonicalABI.md `load_list_from_range`: the byte length against the maximum, the
        // alignment, then the bounds.
        let l = layout(&elem);
        let n = self.b.ins().uextend(types::I64, len);
        let bytes = self.b.ins().imul_imm_s(n, i64::from(l.size));
        let long = self.b.ins().icmp_imm_s(
            IntCC::UnsignedGreaterThan,
            bytes,
            i64::from(MAX_LIST_BYTE_LENGTH),
        );
        self.trap_if(long, GlueTrap::ListTooLong);
        self.check_align(ptr, l.align, GlueTrap::ListMisaligned);
        let p64 = self.b.ins().uextend(types::I64, ptr);
        self.check_range(p64, bytes, GlueTrap::ListOutOfBounds);
        let (base, _) = self.mem_base_len();
        let gaddr = self.b.ins().iadd(base, p64);
        if is_plain(&elem) {
            let at = if self.result_copy {
                self.builtin(ComponentBuiltin::result_alloc, &[gaddr, bytes])
                    .expect("returns")
            } else {
                gaddr
            };
            self.b.ins().store(mflags(), at, dst, off);
        } else {
            let h = host_layout(&elem);
            let hbytes = self.b.ins().imul_imm_s(n, i64::from(h.size));
            let buf = if self.result_copy {
                let none = self.i64(0);
                self.builtin(ComponentBuiltin::result_alloc, &[none, hbytes])
            } else {
                let align = self.i64(i64::from(h.align));
                self.builtin(ComponentBuiltin::host_alloc, &[hbytes, align])
            }
            .expect("returns");
            let elem = elem.into_owned();
            self.for_each(n, |g, i| {
                let go = g.b.ins().imul_imm_s(i, i64::from(l.size));
                let src = g.b.ins().iadd(gaddr, go);
                let ho = g.b.ins().imul_imm_s(i, i64::from(h.size));
                let hdst = g.b.ins().iadd(buf, ho);
                g.lift_mem(&elem, src, 0, hdst, 0);
            });
            self.b.ins().store(mflags(), buf, dst, off);
        }
        self.b.ins().store(mflags(), n, dst, off + 8);
    }

    /// Lifts the value of `ty` at native address `src + soff` (inside guest memory, range
    /// already checked) into the host representation at `dst + doff`.
    pub fn lift_mem(&mut self, ty: &T, src: Value, soff: i32, dst: Value, doff: i32) {
        let g = gflags();
        match ty {
            T::Bool | T::U8 => {
                let v = self.b.ins().uload8(types::I32, g, src, soff);
                self.store_scalar(ty, v, dst, doff);
            }
            T::S8 => {
                let v = self.b.ins().sload8(types::I32, g, src, soff);
                self.store_scalar(ty, v, dst, doff);
            }
            T::S16 => {
                let v = self.b.ins().sload16(types::I32, g, src, soff);
                self.store_scalar(ty, v, dst, doff);
            }
            T::U16 => {
                let v = self.b.ins().uload16(types::I32, g, src, soff);
                self.store_scalar(ty, v, dst, doff);
            }
            T::S32
            | T::U32
            | T::Char
            | T::Own(_)
            | T::Borrow(_)
            | T::Stream(_)
            | T::Future(_)
            | T::ErrorContext => {
                let v = self.b.ins().load(types::I32, g, src, soff);
                self.store_scalar(ty, v, dst, doff);
            }
            T::S64 | T::U64 => {
                let v = self.b.ins().load(types::I64, g, src, soff);
                self.store_scalar(ty, v, dst, doff);
            }
            T::F32 => {
                let v = self.b.ins().load(types::F32, g, src, soff);
                self.store_scalar(ty, v, dst, doff);
            }
            T::F64 => {
                let v = self.b.ins().load(types::F64, g, src, soff);
                self.store_scalar(ty, v, dst, doff);
            }
            T::String | T::List(_) | T::Map(..) => {
                let p = self.b.ins().load(types::I32, g, src, soff);
                let l = self.b.ins().load(types::I32, g, src, soff + 4);
                self.lift_slice(ty, p, l, dst, doff);
            }
            T::Flags(labels) => {
                let vals: Vec<Value> = match flags_size(labels.len()) {
                    0 => Vec::new(),
                    1 => vec![self.b.ins().uload8(types::I32, g, src, soff)],
                    2 => vec![self.b.ins().uload16(types::I32, g, src, soff)],
                    _ => (0..labels.len().div_ceil(32))
                        .map(|w| self.b.ins().load(types::I32, g, src, soff + 4 * w as i32))
                        .collect(),
                };
                self.lift_flat(ty, &vals, dst, doff);
            }
            T::Record(_) | T::Tuple(_) | T::FixedList(..) => {
                let fields = ty.record_fields().unwrap_or_default();
                for ((f, ho), go) in fields
                    .iter()
                    .zip(host_field_offsets(ty))
                    .zip(field_offsets(ty))
                {
                    self.lift_mem(f, src, soff + go as i32, dst, doff + ho as i32);
                }
            }
            T::Enum(_) | T::Variant(_) | T::Option(_) | T::Result { .. } => {
                let cases = ty.variant_cases().unwrap_or_default();
                let tag = match discriminant_size(cases.len()) {
                    1 => self.b.ins().uload8(types::I32, g, src, soff),
                    2 => self.b.ins().uload16(types::I32, g, src, soff),
                    _ => self.b.ins().load(types::I32, g, src, soff),
                };
                self.check_disc(tag, cases.len());
                self.store_host_tag(ty, tag, dst, doff);
                if matches!(ty, T::Enum(_)) {
                    return;
                }
                let gpay = soff + payload_offset(ty).unwrap_or(0) as i32;
                let hpay = doff + host_payload_offset(ty).unwrap_or(0) as i32;
                let merge = self.b.create_block();
                let mut switch = Switch::new();
                let mut pending = Vec::new();
                for (i, case) in cases.iter().enumerate() {
                    let Some(ct) = case else { continue };
                    let blk = self.b.create_block();
                    switch.set_entry(i as u128, blk);
                    pending.push((blk, ct));
                }
                switch.emit(self.b, tag, merge);
                for (blk, ct) in pending {
                    self.b.switch_to_block(blk);
                    self.lift_mem(ct, src, gpay, dst, hpay);
                    self.b.ins().jump(merge, &[]);
                }
                self.b.switch_to_block(merge);
            }
        }
    }
}

/// The type key (`AsyncValueType::key`) of stream or future type `ty` with element `elem`.
pub(super) fn async_key(ty: &T, elem: &Option<Box<T>>) -> u32 {
    kiln_environ::component::AsyncValueType {
        future: matches!(ty, T::Future(_)),
        elem: elem.as_deref().cloned(),
    }
    .key()
}
