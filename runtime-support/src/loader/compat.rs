//! Whether an artifact's fingerprint fits this runtime and this machine: ABI version, target
//! and CPU features, each refused with a message that says precisely what differs.

use kiln_environ::{Fingerprint, ABI_VERSION, KILN_VERSION};

/// Checks `fp` against this runtime and host; the error says what differs.
pub(crate) fn check(fp: &Fingerprint) -> Result<(), String> {
    if fp.abi_version != ABI_VERSION {
        return Err(format!(
            "compiled by kiln {} for ABI version {}, this runtime (kiln {KILN_VERSION}) \
             supports ABI version {ABI_VERSION}: recompile it",
            fp.kiln_version, fp.abi_version
        ));
    }
    let arch = fp.target.split('-').next().unwrap_or("");
    let os_ok = fp
        .target
        .split('-')
        .skip(1)
        .any(|p| p == std::env::consts::OS);
    if arch != std::env::consts::ARCH || !os_ok {
        return Err(format!(
            "compiled for target {}, this host is {}-{}",
            fp.target,
            std::env::consts::ARCH,
            std::env::consts::OS
        ));
    }
    let (lacking, unknown) = fp.missing_cpu_features(has_cpu_feature);
    if !lacking.is_empty() {
        let baseline = if fp.cpu == "native" {
            "the CPU of the machine that compiled it (--cpu native)".to_string()
        } else {
            fp.cpu.clone()
        };
        return Err(format!(
            "compiled for {baseline}, this CPU lacks {}: recompile it for a baseline this CPU \
             has (kiln compile --cpu)",
            lacking.join(", ")
        ));
    }
    if !unknown.is_empty() {
        return Err(format!(
            "compiled for {}, which requires CPU features unknown to this runtime: {}",
            fp.cpu,
            unknown.join(", ")
        ));
    }
    Ok(())
}

/// Whether this CPU has a feature named as in `is_x86_feature_detected!` (None: unknown name).
pub fn has_cpu_feature(name: &str) -> Option<bool> {
    let name = name.strip_prefix('+').unwrap_or(name);
    Some(match name {
        "sse" => is_x86_feature_detected!("sse"),
        "sse2" => is_x86_feature_detected!("sse2"),
        "sse3" => is_x86_feature_detected!("sse3"),
        "ssse3" => is_x86_feature_detected!("ssse3"),
        "sse4.1" => is_x86_feature_detected!("sse4.1"),
        "sse4.2" => is_x86_feature_detected!("sse4.2"),
        "popcnt" => is_x86_feature_detected!("popcnt"),
        "avx" => is_x86_feature_detected!("avx"),
        "avx2" => is_x86_feature_detected!("avx2"),
        "bmi1" => is_x86_feature_detected!("bmi1"),
        "bmi2" => is_x86_feature_detected!("bmi2"),
        "lzcnt" => is_x86_feature_detected!("lzcnt"),
        "fma" => is_x86_feature_detected!("fma"),
        "f16c" => is_x86_feature_detected!("f16c"),
        "cmpxchg16b" => is_x86_feature_detected!("cmpxchg16b"),
        "aes" => is_x86_feature_detected!("aes"),
        "pclmulqdq" => is_x86_feature_detected!("pclmulqdq"),
        "avx512f" => is_x86_feature_detected!("avx512f"),
        "avx512vl" => is_x86_feature_detected!("avx512vl"),
        "avx512dq" => is_x86_feature_detected!("avx512dq"),
        "avx512bw" => is_x86_feature_detected!("avx512bw"),
        "avx512cd" => is_x86_feature_detected!("avx512cd"),
        "avx512vbmi" => is_x86_feature_detected!("avx512vbmi"),
        "avx512bitalg" => is_x86_feature_detected!("avx512bitalg"),
        "avx512vpopcntdq" => is_x86_feature_detected!("avx512vpopcntdq"),
        "avx512vnni" => is_x86_feature_detected!("avx512vnni"),
        // Cranelift's `has_avx_vnni` flag, and the `is_x86_feature_detected!` spelling.
        "avx_vnni" | "avxvnni" => is_x86_feature_detected!("avxvnni"),
        // Cranelift's spellings of the SSE4 flags (`has_sse41`, `has_sse42`).
        "sse41" => is_x86_feature_detected!("sse4.1"),
        "sse42" => is_x86_feature_detected!("sse4.2"),
        _ => return None,
    })
}
