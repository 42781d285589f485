//! The compatibility fingerprint: what an artifact was compiled by and for.
//!
//! Written by the compiler beside the metadata (the descriptors point at it) in a stable text
//! form that does not depend on the metadata's serialization, so any runtime — even one whose
//! metadata format differs — can say precisely why it refuses an artifact ("compiled for
//! x86-64-v3, this CPU lacks avx2") before decoding anything else. `kiln inspect` prints it;
//! a registry can key artifacts by [`Fingerprint::encode`].
//!
//! ```text
//! kiln=0.1.0;abi=3;target=x86_64-unknown-linux-gnu;cpu=x86-64-v3;features=avx,avx2,...;opt=2;bounds=guard;epoch=on;debug=off
//! ```

use crate::{BoundsChecks, BuildInfo};
use std::fmt;

/// The facts that decide whether compiled code can run on a host: everything in
/// [`BuildInfo`] except the input hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// kiln version of the compiler.
    pub kiln_version: String,
    /// ABI version.
    pub abi_version: u32,
    /// Target triple.
    pub target: String,
    /// The CPU baseline the code was compiled for (`native`, `x86-64-v2`, `x86-64-v3`, ...).
    pub cpu: String,
    /// CPU features the code assumes (names as in `is_x86_feature_detected!`), sorted.
    pub cpu_features: Vec<String>,
    /// Optimisation level (0, 1, 2).
    pub opt_level: u8,
    /// Bounds-check strategy.
    pub bounds_checks: BoundsChecks,
    /// Whether loops and function entries check the epoch deadline.
    pub epoch_interruption: bool,
    /// Whether the code was compiled with debug info (`-g`).
    pub debug_info: bool,
}

/// The keys of the encoded form, in order.
const KEYS: [&str; 9] = [
    "kiln", "abi", "target", "cpu", "features", "opt", "bounds", "epoch", "debug",
];

/// Longest encoded fingerprint a reader accepts.
pub const MAX_FINGERPRINT_LEN: u64 = 4096;

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

impl Fingerprint {
    /// The fingerprint of a build.
    pub fn of(build: &BuildInfo) -> Fingerprint {
        Fingerprint {
            kiln_version: build.kiln_version.clone(),
            abi_version: build.abi_version,
            target: build.target.clone(),
            cpu: build.cpu.clone(),
            cpu_features: build.cpu_features.clone(),
            opt_level: build.opt_level,
            bounds_checks: build.bounds_checks,
            epoch_interruption: build.epoch_interruption,
            debug_info: build.debug_info,
        }
    }

    /// The stable text form (`key=value;...`).
    pub fn encode(&self) -> String {
        let bounds = match self.bounds_checks {
            BoundsChecks::Guard => "guard",
            BoundsChecks::Explicit => "explicit",
        };
        let values = [
            self.kiln_version.clone(),
            self.abi_version.to_string(),
            self.target.clone(),
            self.cpu.clone(),
            self.cpu_features.join(","),
            self.opt_level.to_string(),
            bounds.to_string(),
            on_off(self.epoch_interruption).to_string(),
            on_off(self.debug_info).to_string(),
        ];
        KEYS.iter()
            .zip(values)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Parses [`Fingerprint::encode`]'s form (every key once, in order).
    pub fn decode(bytes: &[u8]) -> Result<Fingerprint, String> {
        let bad = |why: &str| Err(format!("corrupt fingerprint: {why}"));
        if bytes.len() as u64 > MAX_FINGERPRINT_LEN {
            return bad("too long");
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            return bad("not UTF-8");
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || "._+,-".contains(c);
        let mut values = Vec::with_capacity(KEYS.len());
        let mut parts = text.split(';');
        for key in KEYS {
            let Some(part) = parts.next() else {
                return bad(&format!("`{key}` is missing"));
            };
            match part.split_once('=') {
                Some((k, v)) if k == key && v.chars().all(valid) => values.push(v),
                _ => return bad(&format!("expected `{key}=...`, found `{part}`")),
            }
        }
        if parts.next().is_some() {
            return bad("unexpected fields after `debug`");
        }
        let flag = |v: &str, key: &str| match v {
            "on" => Ok(true),
            "off" => Ok(false),
            _ => Err(format!("corrupt fingerprint: `{key}={v}`")),
        };
        Ok(Fingerprint {
            kiln_version: values[0].to_string(),
            abi_version: values[1]
                .parse()
                .map_err(|_| format!("corrupt fingerprint: `abi={}`", values[1]))?,
            target: values[2].to_string(),
            cpu: values[3].to_string(),
            cpu_features: values[4]
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
            opt_level: match values[5] {
                "0" => 0,
                "1" => 1,
                "2" => 2,
                v => return bad(&format!("`opt={v}`")),
            },
            bounds_checks: match values[6] {
                "guard" => BoundsChecks::Guard,
                "explicit" => BoundsChecks::Explicit,
                v => return bad(&format!("`bounds={v}`")),
            },
            epoch_interruption: flag(values[7], "epoch")?,
            debug_info: flag(values[8], "debug")?,
        })
    }

    /// The features of this fingerprint that `has` says the host lacks, and those it does not
    /// know (`has` returns `None`), in order.
    pub fn missing_cpu_features(
        &self,
        has: impl Fn(&str) -> Option<bool>,
    ) -> (Vec<&str>, Vec<&str>) {
        let (mut lacking, mut unknown) = (Vec::new(), Vec::new());
        for f in &self.cpu_features {
            match has(f) {
                Some(true) => {}
                Some(false) => lacking.push(f.as_str()),
                None => unknown.push(f.as_str()),
            }
        }
        (lacking, unknown)
    }
}

impl fmt::Display for Fingerprint {
    /// `kiln 0.1.0, ABI 3, x86_64-unknown-linux-gnu, CPU x86-64-v3 (avx, avx2, ...), -O2,
    /// guard-page bounds checks, epoch interruption on, debug info off`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let features = if self.cpu_features.is_empty() {
            "no extra features".to_string()
        } else {
            self.cpu_features.join(", ")
        };
        let bounds = match self.bounds_checks {
            BoundsChecks::Guard => "guard-page",
            BoundsChecks::Explicit => "explicit",
        };
        write!(
            f,
            "kiln {}, ABI {}, {}, CPU {} ({features}), -O{}, {bounds} bounds checks, \
             epoch interruption {}, debug info {}",
            self.kiln_version,
            self.abi_version,
            self.target,
            self.cpu,
            self.opt_level,
            on_off(self.epoch_interruption),
            on_off(self.debug_info)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Fingerprint {
        Fingerprint {
            kiln_version: "0.1.0".into(),
            abi_version: 3,
            target: "x86_64-unknown-linux-gnu".into(),
            cpu: "x86-64-v3".into(),
            cpu_features: vec!["avx".into(), "avx2".into(), "sse4.1".into()],
            opt_level: 2,
            bounds_checks: BoundsChecks::Guard,
            epoch_interruption: true,
            debug_info: false,
        }
    }

    #[test]
    fn round_trips() {
        let f = sample();
        let text = f.encode();
        assert_eq!(
            text,
            "kiln=0.1.0;abi=3;target=x86_64-unknown-linux-gnu;cpu=x86-64-v3;\
             features=avx,avx2,sse4.1;opt=2;bounds=guard;epoch=on;debug=off"
        );
        assert_eq!(Fingerprint::decode(text.as_bytes()), Ok(f.clone()));
        let none = Fingerprint {
            cpu_features: vec![],
            bounds_checks: BoundsChecks::Explicit,
            ..f
        };
        assert_eq!(Fingerprint::decode(none.encode().as_bytes()), Ok(none));
    }

    #[test]
    fn malformed_text_is_an_error() {
        let good = sample().encode();
        for bad in [
            good.replace("abi=3", "abi=x"),
            good.replace("kiln=", "kilm="),
            good.replace(";debug=off", ""),
            format!("{good};extra=1"),
            good.replace("opt=2", "opt=7"),
            good.replace("epoch=on", "epoch=yes"),
            good.replace("cpu=x86-64-v3", "cpu=x86 64"),
        ] {
            assert!(Fingerprint::decode(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(Fingerprint::decode(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn missing_features_are_listed() {
        let f = sample();
        let (lacking, unknown) = f.missing_cpu_features(|n| match n {
            "avx2" => Some(false),
            "sse4.1" => None,
            _ => Some(true),
        });
        assert_eq!(lacking, ["avx2"]);
        assert_eq!(unknown, ["sse4.1"]);
    }
}
