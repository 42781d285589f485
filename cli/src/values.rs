//! Command-line values: parsing `kiln run --invoke` arguments by the export's parameter types,
//! and printing results the way `wasmtime run --invoke` does.

use anyhow::{bail, Context, Result};
use kiln_environ::ValType;
use kiln_runtime::Val;

/// Parses one argument for a parameter of type `ty`.
pub fn parse_arg(ty: ValType, s: &str) -> Result<Val> {
    let t = s.trim();
    Ok(match ty {
        ValType::I32 => {
            Val::I32(parse_int(t, 32).with_context(|| format!("invalid i32 `{s}`"))? as u32 as i32)
        }
        ValType::I64 => {
            Val::I64(parse_int(t, 64).with_context(|| format!("invalid i64 `{s}`"))? as u64 as i64)
        }
        ValType::F32 => Val::F32(parse_f32(t).with_context(|| format!("invalid f32 `{s}`"))?),
        ValType::F64 => Val::F64(parse_f64(t).with_context(|| format!("invalid f64 `{s}`"))?),
        ValType::V128 => {
            Val::V128(parse_int(t, 128).with_context(|| format!("invalid v128 `{s}`"))? as u128)
        }
        ValType::FuncRef | ValType::ExternRef | ValType::ExnRef => {
            if t != "null" {
                bail!("invalid {ty} `{s}`: only `null` can be passed from the command line");
            }
            Val::default_for(ty)
        }
    })
}

/// Parses a decimal (optionally negative) or `0x` hexadecimal integer of at most `bits` bits,
/// returned as its two's-complement bit pattern.
fn parse_int(s: &str, bits: u32) -> Result<u128> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let magnitude = if let Some(hex) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        u128::from_str_radix(hex, 16)?
    } else {
        body.parse::<u128>()?
    };
    let mask = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    if neg {
        // Allow down to the signed minimum.
        let min_mag = 1u128 << (bits - 1);
        if magnitude > min_mag {
            bail!("out of range");
        }
        Ok(magnitude.wrapping_neg() & mask)
    } else {
        if magnitude > mask {
            bail!("out of range");
        }
        Ok(magnitude)
    }
}

fn parse_f32(s: &str) -> Result<u32> {
    if let Some(bits) = nan_payload(s, 23)? {
        return Ok(bits as u32 | 0x7f80_0000);
    }
    Ok(s.parse::<f32>()?.to_bits())
}

fn parse_f64(s: &str) -> Result<u64> {
    if let Some(bits) = nan_payload(s, 52)? {
        return Ok(bits | 0x7ff0_0000_0000_0000);
    }
    Ok(s.parse::<f64>()?.to_bits())
}

/// `nan`, `-nan` or `nan:0xPAYLOAD` → sign and payload bits (without the exponent).
fn nan_payload(s: &str, mantissa_bits: u32) -> Result<Option<u64>> {
    let (sign, body) = match s.strip_prefix('-') {
        Some(rest) => (
            1u64 << (mantissa_bits + if mantissa_bits == 23 { 8 } else { 11 }),
            rest,
        ),
        None => (0, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let payload = if lower == "nan" {
        1u64 << (mantissa_bits - 1)
    } else if let Some(hex) = lower.strip_prefix("nan:0x") {
        let p = u64::from_str_radix(hex, 16)?;
        if p == 0 || p >= 1u64 << mantissa_bits {
            bail!("NaN payload out of range");
        }
        p
    } else {
        return Ok(None);
    };
    Ok(Some(sign | payload))
}

/// Formats a result as `wasmtime run --invoke` prints it.
pub fn format_result(v: &Val) -> String {
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(b) => f32::from_bits(*b).to_string(),
        Val::F64(b) => f64::from_bits(*b).to_string(),
        Val::V128(x) => format!("{x:#034x}"),
        Val::FuncRef(None) | Val::ExternRef(None) | Val::ExnRef(None) => "null".into(),
        Val::ExnRef(Some(e)) => match *e {},
        Val::FuncRef(Some(_)) | Val::ExternRef(Some(_)) => "ref".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(v: Val) -> u128 {
        match v {
            Val::I32(x) => x as u32 as u128,
            Val::I64(x) => x as u64 as u128,
            Val::F32(x) => x as u128,
            Val::F64(x) => x as u128,
            Val::V128(x) => x,
            _ => panic!("not a number"),
        }
    }

    #[test]
    fn integers() {
        assert_eq!(bits(parse_arg(ValType::I32, "-1").unwrap()), 0xffff_ffff);
        assert_eq!(
            bits(parse_arg(ValType::I32, "0xffffffff").unwrap()),
            0xffff_ffff
        );
        assert_eq!(
            bits(parse_arg(ValType::I32, "-2147483648").unwrap()),
            0x8000_0000
        );
        assert!(parse_arg(ValType::I32, "4294967296").is_err());
        assert!(parse_arg(ValType::I32, "-2147483649").is_err());
        assert!(parse_arg(ValType::I32, "abc").is_err());
        assert_eq!(bits(parse_arg(ValType::I64, "0x10").unwrap()), 16);
        assert_eq!(bits(parse_arg(ValType::V128, "0x1").unwrap()), 1);
    }

    #[test]
    fn floats() {
        assert_eq!(
            bits(parse_arg(ValType::F32, "1.5").unwrap()),
            1.5f32.to_bits() as u128
        );
        assert_eq!(bits(parse_arg(ValType::F32, "nan").unwrap()), 0x7fc0_0000);
        assert_eq!(bits(parse_arg(ValType::F32, "-nan").unwrap()), 0xffc0_0000);
        assert_eq!(
            bits(parse_arg(ValType::F32, "nan:0x1").unwrap()),
            0x7f80_0001
        );
        assert_eq!(
            bits(parse_arg(ValType::F64, "inf").unwrap()),
            f64::INFINITY.to_bits() as u128
        );
        assert_eq!(
            bits(parse_arg(ValType::F64, "-inf").unwrap()),
            f64::NEG_INFINITY.to_bits() as u128
        );
        assert_eq!(
            bits(parse_arg(ValType::F64, "nan").unwrap()),
            0x7ff8_0000_0000_0000
        );
        assert!(parse_arg(ValType::F64, "1.2.3").is_err());
    }

    #[test]
    fn printing() {
        assert_eq!(format_result(&Val::I32(-5)), "-5");
        assert_eq!(format_result(&Val::F32(1.5f32.to_bits())), "1.5");
        assert_eq!(format_result(&Val::F64(f64::NAN.to_bits())), "NaN");
        assert_eq!(
            format_result(&Val::V128(1)),
            "0x00000000000000000000000000000001"
        );
        assert_eq!(format_result(&Val::ExternRef(None)), "null");
    }
}
