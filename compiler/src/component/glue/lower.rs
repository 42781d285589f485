//! Lowering in compiled glue: component values in the host C representation
//! (`kiln_environ::component::host`) become the guest's flat core values or are stored into
//! guest memory in the canonical-ABI layout. Strings and lists are allocated with the
//! options' `realloc` (results validated); strings follow the spec's transcoding algorithms
//! (`strings.rs`), lists of integers and floats are copied by `copy_to_guest`, other lists converted
//! element by element in an IR loop; resource handles move from (own) or are lent by (borrow)
//! the host's handle table through the `resource_lower_*` builtins. Values the host got wrong (a `char` that is not a scalar
//! value, a tag out of range) trap like guest errors would.

use super::builder::{gflags, mflags, widen, zero, Glue};
use cranelift_codegen::ir::{condcodes::IntCC, types, InstBuilder, Value};
use cranelift_frontend::Switch;
use kiln_environ::component::abi::{
    discriminant_size, field_offsets, flags_size, flatten_type, layout, payload_offset,
};
use kiln_environ::component::glue::{ComponentBuiltin, GlueTrap};
use kiln_environ::component::host::{host_field_offsets, host_layout, host_payload_offset};
use kiln_environ::component::InterfaceType as T;
use kiln_environ::ValType;

/// Whether a list of `ty` has the same bytes in guest memory and in the host representation
/// and needs no validation, so it can be copied (or, lifted, pointed at) as is.
pub fn is_plain(ty: &T) -> bool {
    matches!(
        ty,
        T::S8 | T::U8 | T::S16 | T::U16 | T::S32 | T::U32 | T::S64 | T::U64 | T::F32 | T::F64
    )
}

impl Glue<'_, '_> {
    /// Validates a `char` value (`i32`), trapping when it is not a Unicode scalar value.
    pub fn check_char(&mut self, c: Value) {
        let big = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, c, 0x11_0000);
        let d = self.b.ins().iadd_imm_s(c, -0xD800);
        let sur = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThan, d, 0x800);
        let bad = self.b.ins().bor(big, sur);
        self.trap_if(bad, GlueTrap::InvalidChar);
    }

    /// Traps unless the discriminant `d` (`i32`) is below `n`.
    pub fn check_disc(&mut self, d: Value, n: usize) {
        let bad = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, d, n as i64);
        self.trap_if(bad, GlueTrap::DiscriminantOutOfRange);
    }

    /// Loads the variant tag of a host value (`u8 is_some` for options, else `u32 tag`) as an
    /// `i32`, validated.
    fn host_tag(&mut self, ty: &T, src: Value, off: i32, n: usize) -> Value {
        let tag = if matches!(ty, T::Option(_)) {
            self.b.ins().uload8(types::I32, mflags(), src, off)
        } else {
            self.b.ins().load(types::I32, mflags(), src, off)
        };
        self.check_disc(tag, n);
        tag
    }

    /// Lowers a string or list held by the host at `src + off` into guest memory; returns the
    /// guest `(ptr, len)` words.
    fn lower_slice(&mut self, ty: &T, src: Value, off: i32) -> (Value, Value) {
        let hptr = self.b.ins().load(types::I64, mflags(), src, off);
        let hlen = self.b.ins().load(types::I64, mflags(), src, off + 8);
        let mem = self.mem_def();
        if let Some(elem) = ty.list_element() {
            let l = layout(&elem);
            let too_many =
                self.b
                    .ins()
                    .icmp_imm_s(IntCC::UnsignedGreaterThan, hlen, i64::from(u32::MAX));
            self.trap_if(too_many, GlueTrap::ListTooLong);
            let bytes = self.b.ins().imul_imm_s(hlen, i64::from(l.size));
            let too_big =
                self.b
                    .ins()
                    .icmp_imm_s(IntCC::UnsignedGreaterThan, bytes, i64::from(u32::MAX));
            self.trap_if(too_big, GlueTrap::ListTooLong);
            let gptr = self.realloc(l.align, bytes, GlueTrap::ListReallocOutOfBounds);
            if is_plain(&elem) {
                self.builtin(ComponentBuiltin::copy_to_guest, &[mem, gptr, hptr, bytes]);
            } else {
                let hsize = i64::from(host_layout(&elem).size);
                let elem = elem.into_owned();
                self.for_each(hlen, |g, i| {
                    let hoff = g.b.ins().imul_imm_s(i, hsize);
                    let hsrc = g.b.ins().iadd(hptr, hoff);
                    let goff = g.b.ins().imul_imm_s(i, i64::from(l.size));
                    let goff = g.b.ins().ireduce(types::I32, goff);
                    let gdst = g.b.ins().iadd(gptr, goff);
                    g.lower_mem(&elem, hsrc, 0, gdst, 0);
                });
            }
            let len = self.b.ins().ireduce(types::I32, hlen);
            (gptr, len)
        } else {
            let from = self.string_source;
            self.lower_string(from, hptr, hlen)
        }
    }

    /// Lowers the host value of `ty` at `src + off` to its flat core values.
    pub fn lower_flat(&mut self, ty: &T, src: Value, off: i32) -> Vec<Value> {
        match ty {
            T::Bool => {
                let v = self.b.ins().uload8(types::I32, mflags(), src, off);
                let nz = self.b.ins().icmp_imm_s(IntCC::NotEqual, v, 0);
                vec![self.b.ins().uextend(types::I32, nz)]
            }
            T::S8 => vec![self.b.ins().sload8(types::I32, mflags(), src, off)],
            T::U8 => vec![self.b.ins().uload8(types::I32, mflags(), src, off)],
            T::S16 => vec![self.b.ins().sload16(types::I32, mflags(), src, off)],
            T::U16 => vec![self.b.ins().uload16(types::I32, mflags(), src, off)],
            T::S32 | T::U32 => vec![self.b.ins().load(types::I32, mflags(), src, off)],
            T::Stream(e) | T::Future(e) => {
                let v = self.b.ins().load(types::I32, mflags(), src, off);
                let key = super::lift::async_key(ty, e);
                let inst = self.i32(i64::from(self.opts.instance));
                let key = self.i32(i64::from(key as i32));
                let h = self
                    .builtin(ComponentBuiltin::async_value_lower, &[inst, key, v])
                    .expect("returns");
                vec![h]
            }
            T::ErrorContext => {
                let v = self.b.ins().load(types::I32, mflags(), src, off);
                let inst = self.i32(i64::from(self.opts.instance));
                let key = self.i32(i64::from(kiln_environ::component::ERROR_CONTEXT_KEY as i32));
                let h = self
                    .builtin(ComponentBuiltin::async_value_lower, &[inst, key, v])
                    .expect("returns");
                vec![h]
            }
            T::Own(r) | T::Borrow(r) => {
                let h = self.b.ins().load(types::I32, mflags(), src, off);
                let which = if matches!(ty, T::Own(_)) {
                    ComponentBuiltin::resource_lower_own
                } else {
                    ComponentBuiltin::resource_lower_borrow
                };
                let inst = self.i32(i64::from(self.opts.instance));
                let res = self.i32(i64::from(*r));
                vec![self.builtin(which, &[inst, res, h]).expect("returns")]
            }
            T::Char => {
                let c = self.b.ins().load(types::I32, mflags(), src, off);
                self.check_char(c);
                vec![c]
            }
            T::Enum(labels) => {
                let d = self.b.ins().load(types::I32, mflags(), src, off);
                self.check_disc(d, labels.len());
                vec![d]
            }
            T::S64 | T::U64 => vec![self.b.ins().load(types::I64, mflags(), src, off)],
            T::F32 => vec![self.b.ins().load(types::F32, mflags(), src, off)],
            T::F64 => vec![self.b.ins().load(types::F64, mflags(), src, off)],
            T::String | T::List(_) | T::Map(..) => {
                let (p, l) = self.lower_slice(ty, src, off);
                vec![p, l]
            }
            T::Flags(labels) => {
                let words = labels.len().div_ceil(32);
                (0..words)
                    .map(|w| {
                        let v = self
                            .b
                            .ins()
                            .load(types::I32, mflags(), src, off + 4 * w as i32);
                        let bits = (labels.len() - 32 * w).min(32);
                        if bits < 32 {
                            self.b.ins().band_imm_s(v, (1i64 << bits) - 1)
                        } else {
                            v
                        }
                    })
                    .collect()
            }
            T::Record(_) | T::Tuple(_) | T::FixedList(..) => {
                let fields = ty.record_fields().unwrap_or_default();
                let hoffs = host_field_offsets(ty);
                let mut out = Vec::new();
                for (f, ho) in fields.iter().zip(hoffs) {
                    out.extend(self.lower_flat(f, src, off + ho as i32));
                }
                out
            }
            T::Variant(_) | T::Option(_) | T::Result { .. } => {
                let cases = ty.variant_cases().unwrap_or_default();
                let flat = flatten_type(ty);
                let joined = flat[1..].to_vec();
                let tag = self.host_tag(ty, src, off, cases.len());
                let pay = off + host_payload_offset(ty).unwrap_or(0) as i32;
                let merge = self.b.create_block();
                for t in &flat {
                    self.b
                        .append_block_param(merge, crate::translate::ir_type(*t));
                }
                let mut switch = Switch::new();
                let blocks: Vec<_> = cases.iter().map(|_| self.b.create_block()).collect();
                for (i, blk) in blocks.iter().enumerate() {
                    switch.set_entry(i as u128, *blk);
                }
                let dead = self.b.create_block();
                switch.emit(self.b, tag, dead);
                self.b.switch_to_block(dead);
                self.trap(GlueTrap::DiscriminantOutOfRange);
                for (i, (case, blk)) in cases.iter().zip(&blocks).enumerate() {
                    self.b.switch_to_block(*blk);
                    let mut vals = vec![self.i32(i as i64)];
                    if let Some(ct) = case {
                        let cflat = flatten_type(ct);
                        let cv = self.lower_flat(ct, src, pay);
                        for ((v, from), to) in cv.into_iter().zip(cflat).zip(&joined) {
                            vals.push(widen(self.b, v, from, *to));
                        }
                    }
                    while vals.len() < flat.len() {
                        let t = joined[vals.len() - 1];
                        vals.push(zero(self.b, t));
                    }
                    let args: Vec<_> = vals.into_iter().map(Into::into).collect();
                    self.b.ins().jump(merge, &args);
                }
                self.b.switch_to_block(merge);
                self.b.block_params(merge).to_vec()
            }
        }
    }

    /// Stores the host value of `ty` at `src + soff` into guest memory at guest offset
    /// `dst + doff` (a range already validated by the `realloc` that produced it).
    pub fn lower_mem(&mut self, ty: &T, src: Value, soff: i32, dst: Value, doff: u32) {
        match ty {
            T::Record(_) | T::Tuple(_) | T::FixedList(..) => {
                let fields = ty.record_fields().unwrap_or_default();
                for ((f, ho), go) in fields
                    .iter()
                    .zip(host_field_offsets(ty))
                    .zip(field_offsets(ty))
                {
                    self.lower_mem(f, src, soff + ho as i32, dst, doff + go);
                }
            }
            T::Variant(_) | T::Option(_) | T::Result { .. } => {
                let cases = ty.variant_cases().unwrap_or_default();
                let tag = self.host_tag(ty, src, soff, cases.len());
                self.store_disc(tag, cases.len(), dst, doff);
                let hpay = soff + host_payload_offset(ty).unwrap_or(0) as i32;
                let gpay = doff + payload_offset(ty).unwrap_or(0);
                let merge = self.b.create_block();
                let mut switch = Switch::new();
                let mut pending = Vec::new();
                for (i, case) in cases.iter().enumerate() {
                    if let Some(ct) = case {
                        let blk = self.b.create_block();
                        switch.set_entry(i as u128, blk);
                        pending.push((blk, ct));
                    }
                }
                switch.emit(self.b, tag, merge);
                for (blk, ct) in pending {
                    self.b.switch_to_block(blk);
                    self.lower_mem(ct, src, hpay, dst, gpay);
                    self.b.ins().jump(merge, &[]);
                }
                self.b.switch_to_block(merge);
            }
            T::Enum(labels) => {
                let d = self.b.ins().load(types::I32, mflags(), src, soff);
                self.check_disc(d, labels.len());
                self.store_disc(d, labels.len(), dst, doff);
            }
            T::Flags(labels) => {
                let vals = self.lower_flat(ty, src, soff);
                let size = flags_size(labels.len());
                let addr = self.guest_addr(dst);
                match (size, vals.first()) {
                    (1, Some(v)) => {
                        self.b.ins().istore8(gflags(), *v, addr, doff as i32);
                    }
                    (2, Some(v)) => {
                        self.b.ins().istore16(gflags(), *v, addr, doff as i32);
                    }
                    _ => {
                        for (i, v) in vals.iter().enumerate() {
                            self.b
                                .ins()
                                .store(gflags(), *v, addr, doff as i32 + 4 * i as i32);
                        }
                    }
                }
            }
            _ => {
                // Scalars, strings and lists: their flat form stored at their natural size.
                let vals = self.lower_flat(ty, src, soff);
                let addr = self.guest_addr(dst);
                let d = doff as i32;
                match ty {
                    T::Bool | T::S8 | T::U8 => {
                        self.b.ins().istore8(gflags(), vals[0], addr, d);
                    }
                    T::S16 | T::U16 => {
                        self.b.ins().istore16(gflags(), vals[0], addr, d);
                    }
                    T::String | T::List(_) | T::Map(..) => {
                        self.b.ins().store(gflags(), vals[0], addr, d);
                        self.b.ins().store(gflags(), vals[1], addr, d + 4);
                    }
                    _ => {
                        self.b.ins().store(gflags(), vals[0], addr, d);
                    }
                }
            }
        }
    }

    /// Stores discriminant `d` (`i32`) of a variant with `n` cases at guest `dst + doff`.
    fn store_disc(&mut self, d: Value, n: usize, dst: Value, doff: u32) {
        let addr = self.guest_addr(dst);
        match discriminant_size(n) {
            1 => self.b.ins().istore8(gflags(), d, addr, doff as i32),
            2 => self.b.ins().istore16(gflags(), d, addr, doff as i32),
            _ => self.b.ins().store(gflags(), d, addr, doff as i32),
        };
    }
}

/// Whether `ty` contains `borrow` handles (a call with such parameters opens a borrow scope).
pub fn has_borrows(ty: &T) -> bool {
    match ty {
        T::Borrow(_) => true,
        T::List(t) | T::Option(t) | T::FixedList(t, _) => has_borrows(t),
        T::Map(k, v) => has_borrows(k) || has_borrows(v),
        T::Record(_) | T::Tuple(_) => ty
            .record_fields()
            .unwrap_or_default()
            .into_iter()
            .any(has_borrows),
        T::Variant(_) | T::Result { .. } => ty
            .variant_cases()
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .any(has_borrows),
        _ => false,
    }
}

/// The zero-flat check used by lifting: the core types of `ty`.
pub fn flat_types(ty: &T) -> Vec<ValType> {
    flatten_type(ty)
}
