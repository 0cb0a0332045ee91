//! Line coverage as lcov under `target/coverage/`: the Rust workspace through cargo-tarpaulin
//! (its LLVM engine needs no extra rustup component) and the frontend through Vitest's v8
//! coverage, then one summary table.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cmd::Cmd;
use crate::pipeline::{Stage, Tool};
use crate::project::Project;
use crate::services::postgres::Postgres;
use crate::stages::frontend;

pub fn rust() -> Stage {
    Stage::new("coverage-rust", &["coverage"])
        .uses_cargo()
        .tool(Tool::new(
            "cargo-tarpaulin",
            "install it: cargo install cargo-tarpaulin --locked",
        ))
        .provision(Postgres)
        .run(Cmd::new("cargo").args([
            "tarpaulin",
            "--workspace",
            "--engine",
            "llvm",
            "--skip-clean",
            "--lib",
            "--bins",
            "--test",
            "integration",
            "--out",
            "Lcov",
            "--output-dir",
            "target/coverage/rust",
        ]))
}

pub fn frontend() -> Stage {
    Stage::new("coverage-frontend", &["coverage"])
        .needs(frontend::DEPS)
        .tool(frontend::npm())
        .run(
            Cmd::new("npm")
                .args([
                    "run",
                    "coverage",
                    "--",
                    "--coverage.reportsDirectory=../target/coverage/frontend",
                ])
                .dir("frontend"),
        )
}

pub fn print_summary(project: &Project) -> Result<()> {
    let coverage = project.target_dir.join("coverage");
    let mut rows = Vec::new();
    for (part, file) in [
        ("rust", "rust/lcov.info"),
        ("frontend", "frontend/lcov.info"),
    ] {
        let path = coverage.join(file);
        if path.is_file() {
            rows.extend(summarise(part, &path, project.root())?);
        }
    }
    println!(
        "\n{:<32} {:>7} {:>7} {:>8}",
        "coverage", "lines", "hit", "percent"
    );
    for (name, found, hit) in &rows {
        println!(
            "{name:<32} {found:>7} {hit:>7} {:>7.1}%",
            percent(*hit, *found)
        );
    }
    let (found, hit) = rows
        .iter()
        .fold((0, 0), |(f, h), (_, rf, rh)| (f + rf, h + rh));
    println!(
        "{:<32} {found:>7} {hit:>7} {:>7.1}%",
        "total",
        percent(hit, found)
    );
    println!("lcov files: {}", coverage.display());
    Ok(())
}

/// Lines found and hit per top-level source directory, from an lcov file's `SF`/`LF`/`LH` records.
fn summarise(part: &str, path: &Path, root: &Path) -> Result<Vec<(String, u64, u64)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse_lcov(&text, &format!("{}/", root.display()))
        .into_iter()
        .map(|(group, (found, hit))| (format!("{part}: {group}"), found, hit))
        .collect())
}

/// `root` is stripped from absolute source paths.
fn parse_lcov(text: &str, root: &str) -> BTreeMap<String, (u64, u64)> {
    let mut totals: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut group = String::new();
    for line in text.lines() {
        if let Some(file) = line.strip_prefix("SF:") {
            group = source_group(file.strip_prefix(root).unwrap_or(file));
        } else if let Some(n) = line.strip_prefix("LF:") {
            totals.entry(group.clone()).or_default().0 += n.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(n) = line.strip_prefix("LH:") {
            totals.entry(group.clone()).or_default().1 += n.trim().parse::<u64>().unwrap_or(0);
        }
    }
    totals
}

/// `backend/src/routes/events.rs` → `backend`, `src/api/client.ts` → `src/api`.
fn source_group(file: &str) -> String {
    let parts: Vec<&str> = file.split('/').collect();
    match parts.as_slice() {
        [first, "src", ..] => (*first).to_owned(),
        ["src", second, _, ..] => format!("src/{second}"),
        [first, _, ..] => (*first).to_owned(),
        _ => file.to_owned(),
    }
}

fn percent(hit: u64, found: u64) -> f64 {
    if found == 0 {
        0.0
    } else {
        hit as f64 * 100.0 / found as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lines_per_source_group() {
        let lcov = "SF:/repo/backend/src/a.rs\nLF:10\nLH:7\nend_of_record\nSF:backend/src/b.rs\nLF:5\nLH:5\nend_of_record\nSF:xtask/src/main.rs\nLF:4\nLH:1\nend_of_record\n";
        let totals = parse_lcov(lcov, "/repo/");
        assert_eq!(totals["backend"], (15, 12));
        assert_eq!(totals["xtask"], (4, 1));
    }
}
