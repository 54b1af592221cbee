//! `uniffi-bindgen generate --language python --out-dir DIR [--no-format] [--library] LIBRARY`,
//! as maturin calls it: writes the committed Python module of `conclave-ffi` to
//! `DIR/conclave.py`. Any other call is refused (use `conclave-uniffi-bindgen`, the real
//! generator, for Kotlin, Swift or to regenerate this module).

use std::path::PathBuf;
use std::process::ExitCode;

/// The Python module generated from `conclave-ffi` by `conclave-uniffi-bindgen` (uniffi 0.32).
const MODULE: &str = include_str!("../conclave.py");

/// The file name maturin looks for (the uniffi namespace).
const FILE_NAME: &str = "conclave.py";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(path) => {
            eprintln!("wrote the committed Python module to {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("conclave-python-module (uniffi-bindgen): {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<PathBuf, String> {
    let mut args = args.iter();
    if args.next().map(String::as_str) != Some("generate") {
        return Err(
            "only `generate --language python --out-dir DIR LIBRARY` is supported; \
                    run conclave-uniffi-bindgen for anything else"
                .into(),
        );
    }
    let mut language = None;
    let mut out_dir = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--language" | "-l" => language = args.next().cloned(),
            "--out-dir" | "-o" => out_dir = args.next().cloned(),
            "--config" | "-c" | "--crate" => {
                args.next();
            }
            _ => {} // --no-format, --library, the library path: nothing to read
        }
    }
    if language.as_deref() != Some("python") {
        return Err(format!(
            "language {language:?}: only the committed Python module is here; run \
             conclave-uniffi-bindgen for Kotlin or Swift"
        ));
    }
    let dir = PathBuf::from(out_dir.ok_or("--out-dir is missing")?);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(FILE_NAME);
    std::fs::write(&path, MODULE).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
