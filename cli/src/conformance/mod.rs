//! `conclave conformance DIR`: checks every test vector file of `spec/vectors/` against this
//! implementation, positive cases (recompute every output from the inputs) and rejected cases
//! (the input is rejected with exactly the error kind the file names), and prints one table row
//! per file. The format is described in `spec/vectors/README.md` ("Conformance runner").

mod crypto;
mod frames;
mod json;
mod messages;
mod tree;

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use crate::CliError;

/// Check every vector file of a directory (normally `spec/vectors`) against this
/// implementation: positive cases and rejected cases with their error kinds. Prints one row per
/// file and exits non-zero if any case fails or any file has no checker.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// The directory of vector files.
    #[arg(default_value = "spec/vectors")]
    pub dir: PathBuf,
    /// Print every failing case, not only the first three of each file.
    #[arg(long)]
    pub verbose: bool,
    /// Names of cases known to fail (comma-separated), for example rejected cases whose error
    /// kind awaits an engine change. They are reported as expected failures; if one passes, the
    /// run fails so that the list is kept short.
    #[arg(long, value_delimiter = ',')]
    pub expect_fail: Vec<String>,
}

/// The result of checking one file: how many cases passed, and what failed.
#[derive(Debug, Default)]
pub struct Report {
    /// Positive cases checked.
    pub positive: usize,
    /// Rejected cases checked.
    pub rejected: usize,
    /// Cases the file holds that this implementation does not cover (for example RFC 9180
    /// configurations of no Conclave suite).
    pub skipped: usize,
    /// One entry per failed check: the case's name and what went wrong.
    pub failures: Vec<(String, String)>,
}

impl Report {
    /// Records a positive case: `ok` or a failure named `what`.
    pub fn positive(&mut self, what: impl Into<String>, ok: bool) {
        self.positive += 1;
        if !ok {
            let what = what.into();
            self.failures
                .push((what.clone(), format!("{what}: differs")));
        }
    }

    /// Records a rejected case: the kind produced against the kind expected.
    pub fn rejected(&mut self, what: &str, got: &str, expected: &str) {
        self.rejected += 1;
        if got != expected {
            self.failures.push((
                what.to_string(),
                format!("{what}: rejected as {got}, expected {expected}"),
            ));
        }
    }

    /// Records a failure that is not a case (a malformed file).
    pub fn error(&mut self, what: impl Into<String>) {
        let what = what.into();
        self.failures.push((String::new(), what));
    }
}

/// A checker of one vector file.
type Check = fn(&Value, &mut Report) -> Result<(), String>;

/// Every vector file and its checker. A `*.json` file not listed fails the run.
const FILES: &[(&str, Check)] = &[
    ("frames.json", frames::check),
    ("hpke.json", crypto::hpke),
    ("identity.json", crypto::identity),
    ("key-schedule.json", crypto::key_schedule),
    ("merkle.json", tree::merkle),
    ("messages.json", messages::check),
    ("rfc9180.json", crypto::rfc9180),
    ("security-code.json", crypto::security_code),
    ("suite2.json", crypto::suite2),
    ("transcript.json", crypto::transcript),
    ("tree.json", tree::tree),
    ("xwing-hpke-draft.json", crypto::xwing_draft),
];

/// Checks one file.
fn check_file(path: &Path) -> Report {
    let mut report = Report::default();
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let Some((_, check)) = FILES.iter().find(|(n, _)| *n == name) else {
        report.error("no checker for this file");
        return report;
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            report.error(format!("cannot read: {e}"));
            return report;
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => {
            if let Err(e) = check(&v, &mut report) {
                report.error(format!("malformed file: {e}"));
            }
        }
        Err(e) => report.error(format!("not JSON: {e}")),
    }
    report
}

/// Runs the checks and prints the table; fails if any file fails.
pub fn run(args: &ConformanceArgs) -> Result<(), CliError> {
    let entries = std::fs::read_dir(&args.dir)
        .map_err(|e| CliError::usage(format!("{}: {e}", args.dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut failed = 0usize;
    for (name, _) in FILES {
        if !files
            .iter()
            .any(|p| p.file_name().is_some_and(|n| n == *name))
        {
            println!("{name:<24} missing");
            failed += 1;
        }
    }
    println!(
        "{:<24} {:>8} {:>8} {:>8} {:>8} {:>8}  result",
        "file", "positive", "rejected", "skipped", "failed", "expected"
    );
    let mut expected_seen: Vec<String> = Vec::new();
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let r = check_file(path);
        let (known, real): (Vec<_>, Vec<_>) = r
            .failures
            .iter()
            .partition(|(case, _)| args.expect_fail.iter().any(|x| x == case));
        expected_seen.extend(known.iter().map(|(case, _)| case.clone()));
        let ok = real.is_empty() && r.positive + r.rejected > 0;
        println!(
            "{name:<24} {:>8} {:>8} {:>8} {:>8} {:>8}  {}",
            r.positive,
            r.rejected,
            r.skipped,
            real.len(),
            known.len(),
            if ok { "pass" } else { "FAIL" }
        );
        let shown = if args.verbose { usize::MAX } else { 3 };
        for (_, f) in real.iter().take(shown) {
            println!("    {f}");
        }
        if real.len() > shown {
            println!("    ... and {} more (--verbose)", real.len() - shown);
        }
        for (_, f) in &known {
            println!("    expected failure: {f}");
        }
        if !ok {
            failed += 1;
        }
    }
    for x in &args.expect_fail {
        if !expected_seen.contains(x) {
            println!("expected failure {x:?} did not fail: remove it from --expect-fail");
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(CliError::failed(format!(
            "{failed} vector file(s) or expected failures failed conformance"
        )));
    }
    println!("all {} vector files pass", files.len());
    Ok(())
}
