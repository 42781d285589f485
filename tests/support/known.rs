//! Known-failures lists: the directives a script suite is known to fail, each with its reason,
//! reconciled with a run so the list stays honest (an unlisted failure and a listed entry that
//! now passes both fail the test).
//!
//! Format, one entry a line (`#` starts a comment):
//!
//! ```text
//! set/file.wast:LINE  reason           one directive
//! set/file.wast:*     reason           every directive of the file (a whole file out of scope)
//! ```

use kiln_cli::wast::{FileReport, Outcome};
use std::collections::BTreeMap;
use std::path::Path;

/// The known-failures list: `script:line` (or `script:*`) → reason.
pub type KnownFailures = BTreeMap<String, String>;

/// Parses a known-failures file.
pub fn parse_known_failures(text: &str) -> Result<KnownFailures, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let valid = key
            .rsplit_once(':')
            .is_some_and(|(f, l)| f.ends_with(".wast") && (l == "*" || l.parse::<usize>().is_ok()));
        if !valid {
            return Err(format!(
                "line {}: expected `file.wast:LINE reason` or `file.wast:* reason`, got `{line}`",
                i + 1
            ));
        }
        out.insert(key.to_string(), reason.trim().to_string());
    }
    Ok(out)
}

/// Reads and parses the known-failures file at `path` (a missing file is an empty list).
pub fn read_known_failures(path: &Path) -> KnownFailures {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    parse_known_failures(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every failed directive of `reports`: `file:line` → `kind: reason` on one line.
pub fn failures_of<'a>(
    reports: impl IntoIterator<Item = &'a FileReport>,
) -> BTreeMap<String, String> {
    reports
        .into_iter()
        .flat_map(|r| r.failures())
        .map(|d| {
            let reason = match &d.outcome {
                Outcome::Fail(r) => r.as_str(),
                Outcome::Pass => "",
            };
            (
                format!("{}:{}", d.file, d.line),
                one_line(&format!("{}: {reason}", d.kind)),
            )
        })
        .collect()
}

/// A run's failures compared with a known-failures list.
#[derive(Debug, Default)]
pub struct Reconciliation {
    /// Failures the list expects.
    pub counted: usize,
    /// Failures the list does not have: `(key, reason)`.
    pub unexpected: Vec<(String, String)>,
    /// Entries of the list (for scripts that ran) whose directive no longer fails.
    pub now_passing: Vec<String>,
}

impl Reconciliation {
    /// Whether the run agrees with the list.
    pub fn is_clean(&self) -> bool {
        self.unexpected.is_empty() && self.now_passing.is_empty()
    }

    /// Prints the counts and every disagreement (`list` names the file to edit).
    pub fn print(&self, list: &Path) {
        println!("{} known failures counted", self.counted);
        for (k, reason) in &self.unexpected {
            println!("UNEXPECTED FAILURE {k} {reason}");
        }
        for k in &self.now_passing {
            println!("NOW PASSES (remove from {}): {k}", list.display());
        }
    }

    /// Panics unless the run agrees with the list (after [`Reconciliation::print`]).
    pub fn assert_clean(&self, hint: &str) {
        assert!(
            self.is_clean(),
            "{} unexpected failures, {} known failures now pass (see the output above{hint})",
            self.unexpected.len(),
            self.now_passing.len()
        );
    }
}

/// Rewrites the known-failures file at `path` to agree with `r`: entries that now pass are
/// removed (comments and the other entries stay where they are), unexpected failures are
/// appended with their failure message as the reason (edit it to say what causes it).
pub fn bless(path: &Path, r: &Reconciliation) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::new();
    for line in text.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        if !r.now_passing.iter().any(|k| k == key) {
            out.push_str(line);
            out.push('\n');
        }
    }
    for (k, reason) in &r.unexpected {
        out.push_str(&format!("{k} {reason}\n"));
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!(
        "blessed {}: {} entries removed, {} added",
        path.display(),
        r.now_passing.len(),
        r.unexpected.len()
    );
}

/// Compares `failures` (from [`failures_of`]) with `known`; `ran` says whether a script (by
/// name) was part of the run, so entries of scripts that did not run are not "now passing".
pub fn reconcile(
    failures: &BTreeMap<String, String>,
    known: &KnownFailures,
    ran: impl Fn(&str) -> bool,
) -> Reconciliation {
    let file_of = |key: &str| key.rsplit_once(':').map_or(key, |(f, _)| f).to_string();
    let listed =
        |key: &str| known.contains_key(key) || known.contains_key(&format!("{}:*", file_of(key)));
    let mut r = Reconciliation::default();
    for (k, reason) in failures {
        if listed(k) {
            r.counted += 1;
        } else {
            r.unexpected.push((k.clone(), reason.clone()));
        }
    }
    for k in known.keys() {
        let file = file_of(k);
        if !ran(&file) {
            continue;
        }
        let still_fails = if k.ends_with(":*") {
            failures.keys().any(|f| file_of(f) == file)
        } else {
            failures.contains_key(k)
        };
        if !still_fails {
            r.now_passing.push(k.clone());
        }
    }
    r
}

/// A reason on one line, shortened.
pub fn one_line(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 200 {
        let cut: String = flat.chars().take(197).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format() {
        let k = parse_known_failures(
            "# c\nwasm-v2/a.wast:12 trap: x y\n\nsimd/b.wast:3\nc.wast:* why\n",
        )
        .unwrap();
        assert_eq!(
            k.get("wasm-v2/a.wast:12").map(String::as_str),
            Some("trap: x y")
        );
        assert_eq!(k.get("simd/b.wast:3").map(String::as_str), Some(""));
        assert_eq!(k.get("c.wast:*").map(String::as_str), Some("why"));
        assert!(parse_known_failures("nonsense here").is_err());
        assert!(parse_known_failures("a.wast:x reason").is_err());
    }

    #[test]
    fn reconciliation() {
        let known =
            parse_known_failures("a.wast:1 r\na.wast:9 r\nb.wast:* r\nc.wast:* r\nz.wast:3 r\n")
                .unwrap();
        let failures: BTreeMap<String, String> =
            [("a.wast:1", ""), ("a.wast:2", ""), ("b.wast:7", "")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let r = reconcile(&failures, &known, |f| f != "z.wast");
        assert_eq!(r.counted, 2);
        assert_eq!(r.unexpected, vec![("a.wast:2".to_string(), String::new())]);
        assert_eq!(
            r.now_passing,
            vec!["a.wast:9".to_string(), "c.wast:*".to_string()]
        );
        assert!(!r.is_clean());
    }
}
