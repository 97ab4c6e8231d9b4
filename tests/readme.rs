//! The README's library quick start is a whole program a reader pastes into
//! `src/main.rs`: it must be `examples/quickstart.rs` (which cargo builds
//! with every `cargo test`) to the byte, and name only dependencies that the
//! README's `[dependencies]` block lists.

use std::path::Path;

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative))
        .unwrap_or_else(|err| panic!("read {relative}: {err}"))
}

/// The body of the first fenced block of `language` after `heading`.
fn block_after<'a>(text: &'a str, heading: &str, language: &str) -> &'a str {
    let section = &text[text.find(heading).expect("the heading")..];
    let fence = format!("```{language}\n");
    let start = section.find(&fence).expect("the opening fence") + fence.len();
    let end = section[start..].find("```\n").expect("the closing fence");
    &section[start..start + end]
}

#[test]
fn the_quick_start_is_the_quickstart_example() {
    let readme = read("README.md");
    let block = block_after(&readme, "## Library quick start", "rust");
    assert_eq!(
        block,
        read("examples/quickstart.rs"),
        "the README's quick start and examples/quickstart.rs differ: edit both"
    );
}

#[test]
fn the_quick_start_uses_only_the_listed_dependencies() {
    let readme = read("README.md");
    let toml = block_after(&readme, "## Library quick start", "toml");
    let listed: Vec<String> = toml
        .lines()
        .filter_map(|line| {
            line.split_once('=')
                .map(|(name, _)| name.trim().replace('-', "_"))
        })
        .collect();
    let code = read("examples/quickstart.rs");
    let mut used = path_roots(&code);
    used.sort_unstable();
    used.dedup();
    assert!(!used.is_empty());
    for root in used {
        assert!(
            listed.iter().any(|name| name == root),
            "the quick start uses {root}, which its [dependencies] block does not list: {listed:?}"
        );
    }
}

/// The crate each path in `code` starts from: the first segment of a `use`,
/// and of any other path that starts with a lowercase name (`tokio` in
/// `tokio::main`, not `layer` in `rollover.layer::<T>()`).
fn path_roots(code: &str) -> Vec<&str> {
    let (uses, rest): (Vec<&str>, Vec<&str>) =
        code.lines().partition(|line| line.starts_with("use "));
    let mut roots: Vec<&str> = uses
        .iter()
        .filter_map(|line| line["use ".len()..].split("::").next())
        .collect();
    for line in rest {
        roots.extend(expression_roots(line));
    }
    roots.retain(|root| !matches!(*root, "std" | "crate" | "self" | "super"));
    roots
}

fn expression_roots(code: &str) -> Vec<&str> {
    let bytes = code.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut roots = Vec::new();
    for (at, _) in code.match_indices("::") {
        let start = (0..at).rev().take_while(|&i| is_name(bytes[i])).last();
        let Some(start) = start else { continue };
        let before = start.checked_sub(1).map(|i| bytes[i]);
        let root = &code[start..at];
        if before.is_some_and(|b| b == b'.' || b == b':' || is_name(b))
            || !root.starts_with(|c: char| c.is_ascii_lowercase())
        {
            continue;
        }
        roots.push(root);
    }
    roots
}
