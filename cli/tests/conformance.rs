//! `conclave conformance`: the committed vectors pass, and a changed vector, a wrong error kind
//! or a file without a checker fails the run with a FAIL row.

use std::path::{Path, PathBuf};
use std::process::Command;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

/// Runs the command on `dir`; returns success and stdout.
fn conformance(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_conclave"))
        .arg("conformance")
        .arg(dir)
        .output()
        .expect("run conclave");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The row of `file` in the table.
fn row<'a>(stdout: &'a str, file: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(file))
        .unwrap_or_else(|| panic!("no row for {file}:\n{stdout}"))
}

/// A copy of the vectors in a fresh directory, with `edit` applied to the parsed `file`.
fn copy_with(name: &str, file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "conclave-conformance-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(vectors()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    let path = dir.join(file);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    dir
}

#[test]
fn committed_vectors_pass() {
    let (ok, out) = conformance(&vectors());
    assert!(ok, "{out}");
    for file in [
        "frames.json",
        "hpke.json",
        "identity.json",
        "key-schedule.json",
        "merkle.json",
        "messages.json",
        "rfc9180.json",
        "security-code.json",
        "suite2.json",
        "transcript.json",
        "tree.json",
        "xwing-hpke-draft.json",
    ] {
        assert!(row(&out, file).ends_with("pass"), "{file}: {out}");
    }
    // Both kinds of case are checked: messages.json and frames.json have rejected cases.
    let rejected = |file: &str| -> usize {
        row(&out, file)
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(rejected("messages.json") >= 30, "{out}");
    assert!(rejected("frames.json") >= 20, "{out}");
}

#[test]
fn a_changed_ciphertext_fails() {
    let dir = copy_with("ciphertext", "suite2.json", |v| {
        let ct = v["cases"][0]["ciphertext"].as_str().unwrap().to_string();
        let flipped = if ct.starts_with('0') { "1" } else { "0" };
        v["cases"][0]["ciphertext"] = format!("{flipped}{}", &ct[1..]).into();
    });
    let (ok, out) = conformance(&dir);
    assert!(!ok, "{out}");
    assert!(row(&out, "suite2.json").ends_with("FAIL"), "{out}");
    assert!(row(&out, "hpke.json").ends_with("pass"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_wrong_error_kind_fails() {
    let dir = copy_with("kind", "frames.json", |v| {
        v["rejected"][0]["kind"] = "replayed".into();
    });
    let (ok, out) = conformance(&dir);
    assert!(!ok, "{out}");
    assert!(row(&out, "frames.json").ends_with("FAIL"), "{out}");
    assert!(
        out.contains("rejected as tampered, expected replayed"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_file_without_a_checker_fails() {
    let dir = copy_with("unknown", "tree.json", |_| {});
    std::fs::write(dir.join("new-suite.json"), "{}").unwrap();
    let (ok, out) = conformance(&dir);
    assert!(!ok, "{out}");
    assert!(row(&out, "new-suite.json").ends_with("FAIL"), "{out}");
    let _ = std::fs::remove_dir_all(dir);
}
