//! The crate's layering, held by a test: each folder of `src/` is one layer,
//! and code imports only from its own layer or the ones below it:
//!
//! ```text
//! leaves (clock, prehashed, rejection) -> keys -> metrics -> ring -> fleet -> signing -> verify -> layer -> admin -> rollover
//! ```
//!
//! A `crate::` path in code (comments and doc links aside) must name the
//! module it reaches into, not a root re-export, so that the layer it
//! depends on is visible where it is used.

use std::path::{Path, PathBuf};

/// The layers, lowest first; a module may use its own layer and those
/// before it.
const LAYERS: &[&[&str]] = &[
    &["clock", "prehashed", "rejection"],
    &["keys"],
    &["metrics"],
    &["ring"],
    &["fleet"],
    &["signing"],
    &["verify"],
    &["layer"],
    &["admin"],
    &["rollover"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).expect("under src/");
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_owned())
}

/// Every `crate::<name>` in the code of `text`, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((number + 1, name));
            rest = after;
        }
    }
    found
}

fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let Some(module) = module_of(src, file) else {
            continue;
        };
        // src/bin/ holds the CLI, a crate of its own: its `crate::` paths
        // name its own modules, and it reaches the library by its public API.
        if module == "bin" {
            continue;
        }
        let own = rank(&module)
            .unwrap_or_else(|| panic!("{}: module {module} has no layer", file.display()));
        let text = std::fs::read_to_string(file).expect("read a source file");
        for (line, name) in crate_paths(&text) {
            let place = format!("{}:{line}", file.display());
            match rank(&name) {
                Some(target) if target > own => problems.push(format!(
                    "{place}: {module} (layer {own}) uses crate::{name} (layer {target}), a layer above it"
                )),
                Some(_) => {}
                None => problems.push(format!(
                    "{place}: crate::{name} is a root re-export; name its module instead"
                )),
            }
        }
    }
    problems
}

#[test]
fn imports_run_one_way_from_the_leaves_to_the_wiring() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = violations(&src);
    assert!(
        problems.is_empty(),
        "layering violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_import_and_a_root_re_export() {
    let dir = std::env::temp_dir().join(format!("jwt-rollover-arch-{}", std::process::id()));
    let keys = dir.join("src/keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(
        keys.join("mod.rs"),
        "use crate::ring::KeyRing; // upward\nuse crate::KeySet;\n/// [`crate::layer`] in a doc is no import\nuse crate::clock::Clock;\n",
    )
    .unwrap();
    let problems = violations(&dir.join("src"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("uses crate::ring (layer 3), a layer above it"));
    assert!(problems[1].contains("crate::KeySet is a root re-export"));
}

#[test]
fn every_module_of_lib_rs_has_a_layer() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("read lib.rs");
    for line in lib.lines() {
        let declared = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
            .and_then(|rest| rest.strip_suffix(';'));
        if let Some(module) = declared.map(str::trim) {
            assert!(rank(module).is_some(), "module {module} has no layer");
        }
    }
}
