//! Line coverage as lcov under `target/coverage/`: the Rust workspace through cargo-tarpaulin
//! (the unit tests and the backend's integration tests against a real PostgreSQL) and the
//! frontend through Vitest's v8 coverage, then one summary table read from the lcov files.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};

use crate::cmd::Cmd;
use crate::pipeline::{self, Options, Stage, StageContext, Tool};
use crate::project::Project;
use crate::services::postgres::Postgres;
use crate::stages::frontend;

/// Where the lcov files go, relative to the project root: beside the xtask's own logs and
/// reports, wherever CARGO_TARGET_DIR puts the builds.
const DIR: &str = "target/coverage";
const RUST_DIR: &str = "target/coverage/rust";
const FRONTEND_DIR: &str = "target/coverage/frontend";

/// One part of the summary (rust, frontend): lines per area.
type Part = (&'static str, BTreeMap<String, Lines>);

/// What the stages measured in this run, by part (in the order the summary lists them). Only
/// a stage that passed records its part, so the table never shows an earlier run's figures.
#[derive(Default)]
pub struct Board {
    parts: Mutex<BTreeMap<usize, Part>>,
}

/// `cargo xtask coverage`: the stages, then the summary of what they measured.
pub fn run(project: &Project, options: &Options) -> Result<bool> {
    let board = Arc::new(Board::default());
    let passed = pipeline::run(&project.env, "coverage", stages(project, &board), options)?;
    let parts: Vec<_> = lock(&board.parts).values().cloned().collect();
    if !parts.is_empty() {
        println!("\n{}", render(&parts));
        println!("lcov files: {}", project.root().join(DIR).display());
    }
    Ok(passed)
}

pub fn stages(project: &Project, board: &Arc<Board>) -> Vec<Stage> {
    let mut stages = vec![rust(project, board)];
    if project.has_frontend() {
        stages.extend([frontend::deps(project), self::frontend(board)]);
    }
    stages
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The stage's last step: its lcov file, read into the board. A file that can't be read or
/// parsed fails the stage.
fn summarise_into(
    board: &Arc<Board>,
    rank: usize,
    part: &'static str,
    dir: &'static str,
) -> impl FnOnce(&mut StageContext) -> Result<()> + Send + 'static {
    let board = board.clone();
    move |ctx| {
        let path = ctx.root.join(dir).join("lcov.info");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let files = parse_lcov(&text).with_context(|| format!("in {}", path.display()))?;
        let areas = summarise(&files, &format!("{}/", ctx.root.display()));
        let mut total = Lines::default();
        areas.values().for_each(|lines| total.add(*lines));
        ctx.log(format!(
            "{part}: {} of {} lines covered ({:.1}%) in {} files",
            total.hit,
            total.found,
            total.percent(),
            files.len()
        ));
        lock(&board.parts).insert(rank, (part, areas));
        Ok(())
    }
}

/// The Rust workspace through tarpaulin's LLVM engine rather than ptrace. Both work on the
/// 2-core CI machine (tarpaulin 0.37.5, `eventflow-infra-checks`' 41 unit tests, separate
/// target directories): cold 21 s against 23 s, warm 1.5 s against 2.1 s; 92.1 % of 1438 lines
/// against 93.1 % of 1312 (ptrace counts about 9 % fewer lines as code). LLVM wins on what it
/// sees, not only on speed: every instrumented process writes a profile, so the backend binary
/// that the integration tests start counts too (ptrace follows children only with
/// `--follow-exec`), and it needs no kernel permission to trace, which containers often
/// withhold. It needs only rustc's `-C instrument-coverage` and the profiler runtime that the
/// stable toolchain ships: no rustup component.
fn rust(project: &Project, board: &Arc<Board>) -> Stage {
    // Instrumented builds get a directory of their own inside the target directory: sharing
    // the ordinary one would rebuild everything on each switch between the two sets of flags.
    let target = project.target_dir.join("tarpaulin");
    let target = target
        .strip_prefix(project.root())
        .unwrap_or(&target)
        .to_string_lossy()
        .into_owned();
    Stage::new("coverage-rust", &["coverage"])
        .uses_cargo()
        .tool(Tool::new(
            "cargo-tarpaulin",
            "install it: cargo install cargo-tarpaulin --locked",
        ))
        .call(
            format!("remove {RUST_DIR} from an earlier run"),
            |ctx: &mut StageContext| remove_dir(&ctx.root.join(RUST_DIR)),
        )
        .provision(Postgres)
        .run(Cmd::new("cargo").args([
            "tarpaulin",
            "--engine",
            "llvm",
            // What `test-unit` and `test-integration` run: the unit tests of every crate and
            // the backend's integration suite (the AWS emulator suite and the end-to-end suite
            // need services of their own).
            "--workspace",
            "--lib",
            "--bins",
            "--test",
            "integration",
            "--target-dir",
            &target,
            "--skip-clean",
            // Seconds without output before a test binary counts as hung; the integration suite
            // on a busy 2-core machine needs more than the default minute.
            "--timeout",
            "600",
            "--color",
            "never",
            "--out",
            "Lcov",
            "--output-dir",
            RUST_DIR,
        ]))
        .call(
            format!("read {RUST_DIR}/lcov.info for the summary"),
            summarise_into(board, 0, "rust", RUST_DIR),
        )
}

fn frontend(board: &Arc<Board>) -> Stage {
    Stage::new("coverage-frontend", &["coverage"])
        .needs(frontend::DEPS)
        .tool(frontend::npm())
        .call(
            format!("remove {FRONTEND_DIR} from an earlier run"),
            |ctx: &mut StageContext| remove_dir(&ctx.root.join(FRONTEND_DIR)),
        )
        .run(
            Cmd::new("npm")
                .args(["run", "coverage", "--", "--coverage.reportsDirectory"])
                .arg(format!("../{FRONTEND_DIR}"))
                .dir("frontend"),
        )
        .call(
            format!("read {FRONTEND_DIR}/lcov.info for the summary"),
            summarise_into(board, 1, "frontend", FRONTEND_DIR),
        )
}

/// Whatever lcov file `target/coverage` holds is from the last run: one that failed leaves
/// none behind to be mistaken for fresh figures.
fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Lines with code, and how many of them ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lines {
    pub found: u64,
    pub hit: u64,
}

impl Lines {
    fn add(&mut self, other: Lines) {
        self.found += other.found;
        self.hit += other.hit;
    }

    fn percent(self) -> f64 {
        if self.found == 0 {
            0.0
        } else {
            self.hit as f64 * 100.0 / self.found as f64
        }
    }
}

/// The lines of each source file in an lcov file, in its order. A record's `LF`/`LH` totals
/// count when present; without them its `DA` lines are counted.
fn parse_lcov(text: &str) -> Result<Vec<(String, Lines)>> {
    let mut files = Vec::new();
    let mut current: Option<(String, Lines, Option<u64>, Option<u64>)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = |value: &str| {
            value
                .trim()
                .parse::<u64>()
                .with_context(|| format!("line {}: `{line}` is not a count", index + 1))
        };
        let line = line.trim();
        if let Some(file) = line.strip_prefix("SF:") {
            if current.is_some() {
                bail!(
                    "line {}: SF before the end_of_record of the previous file",
                    index + 1
                );
            }
            current = Some((file.to_owned(), Lines::default(), None, None));
            continue;
        }
        if line.is_empty() || line.starts_with("TN:") {
            continue;
        }
        let Some((_, da, lf, lh)) = &mut current else {
            bail!("line {}: `{line}` outside a file record", index + 1);
        };
        if let Some(data) = line.strip_prefix("DA:") {
            let mut fields = data.split(',');
            let (Some(_), Some(count)) = (fields.next(), fields.next()) else {
                bail!("line {}: `{line}` is not DA:line,count", index + 1);
            };
            da.found += 1;
            if number(count)? > 0 {
                da.hit += 1;
            }
        } else if let Some(value) = line.strip_prefix("LF:") {
            *lf = Some(number(value)?);
        } else if let Some(value) = line.strip_prefix("LH:") {
            *lh = Some(number(value)?);
        } else if line == "end_of_record" {
            let (file, da, lf, lh) = current.take().expect("inside a record");
            let lines = match (lf, lh) {
                (Some(found), Some(hit)) => Lines { found, hit },
                _ => da,
            };
            files.push((file, lines));
        }
    }
    if let Some((file, ..)) = current {
        bail!("the record of {file} has no end_of_record");
    }
    Ok(files)
}

/// Lines per area of the code, `root` stripped from absolute source paths.
fn summarise(files: &[(String, Lines)], root: &str) -> BTreeMap<String, Lines> {
    let mut areas: BTreeMap<String, Lines> = BTreeMap::new();
    for (file, lines) in files {
        let relative = file.strip_prefix(root).unwrap_or(file);
        areas.entry(area(relative)).or_default().add(*lines);
    }
    areas
}

/// The crate a Rust file belongs to, or the directory under the frontend's `src/`:
/// `backend/src/routes/events.rs` → `backend`, `xtask/deploy/src/lib.rs` → `xtask/deploy`,
/// `src/api/client.ts` → `src/api`, `src/App.tsx` → `src`.
fn area(file: &str) -> String {
    let parts: Vec<&str> = file.split('/').collect();
    match parts.iter().position(|p| *p == "src") {
        Some(0) if parts.len() > 2 => format!("src/{}", parts[1]),
        Some(0) => "src".to_owned(),
        Some(src) => parts[..src].join("/"),
        None if parts.len() > 1 => parts[0].to_owned(),
        None => file.to_owned(),
    }
}

/// One row per area, a subtotal per part (rust, frontend) and the total.
fn render(parts: &[Part]) -> String {
    let mut out = format!(
        "{:<34} {:>17} {:>7}\n",
        "coverage", "lines hit / found", "%"
    );
    let mut row = |name: &str, lines: Lines| {
        let _ = writeln!(
            out,
            "{name:<34} {:>7} / {:<7} {:>6.1}%",
            lines.hit,
            lines.found,
            lines.percent()
        );
    };
    let mut total = Lines::default();
    for (part, areas) in parts {
        let mut subtotal = Lines::default();
        for (area, lines) in areas {
            row(&format!("  {part}: {area}"), *lines);
            subtotal.add(*lines);
        }
        row(part, subtotal);
        total.add(subtotal);
    }
    row("total", total);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Env;

    #[test]
    fn only_a_stage_that_passed_reaches_the_summary() {
        let root = std::env::temp_dir().join(format!("xtask-coverage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join(RUST_DIR)).unwrap();
        std::fs::write(
            root.join(RUST_DIR).join("lcov.info"),
            format!(
                "SF:{}/backend/src/a.rs\nLF:4\nLH:3\nend_of_record\n",
                root.display()
            ),
        )
        .unwrap();
        let board = Arc::new(Board::default());
        let stage = |name, rank, part, dir| {
            Stage::new(name, &[]).call("read", summarise_into(&board, rank, part, dir))
        };
        let env = Env {
            root: root.clone(),
            ci: false,
            github_actions: false,
        };
        let options = Options {
            keep_going: true,
            ..Options::default()
        };
        let stages = vec![
            stage("measured", 0, "rust", RUST_DIR),
            // No lcov file: the stage fails, and its part stays out of the summary.
            stage("not-measured", 1, "frontend", FRONTEND_DIR),
        ];
        assert!(!pipeline::run(&env, "coverage", stages, &options).unwrap());
        let parts: Vec<_> = lock(&board.parts).values().cloned().collect();
        assert_eq!(
            parts,
            [(
                "rust",
                BTreeMap::from([("backend".to_owned(), lines(4, 3))])
            )]
        );
    }

    fn lines(found: u64, hit: u64) -> Lines {
        Lines { found, hit }
    }

    #[test]
    fn reads_the_totals_of_each_record_or_counts_its_lines() {
        let lcov = "TN:\nSF:/repo/backend/src/a.rs\nDA:1,3\nDA:2,0\nLF:10\nLH:7\nend_of_record\n\
                    SF:src/api/client.ts\nDA:1,1\nDA:2,0\nDA:3,5,abcdef\nend_of_record\n";
        assert_eq!(
            parse_lcov(lcov).unwrap(),
            [
                ("/repo/backend/src/a.rs".to_owned(), lines(10, 7)),
                ("src/api/client.ts".to_owned(), lines(3, 2)),
            ]
        );
    }

    #[test]
    fn a_malformed_file_is_an_error_that_names_the_line() {
        let err = parse_lcov("SF:a.rs\nLF:ten\nend_of_record\n").unwrap_err();
        assert_eq!(err.to_string(), "line 2: `LF:ten` is not a count");
        let err = parse_lcov("SF:a.rs\nDA:1,1\n").unwrap_err();
        assert_eq!(err.to_string(), "the record of a.rs has no end_of_record");
        let err = parse_lcov("DA:1,1\n").unwrap_err();
        assert_eq!(err.to_string(), "line 1: `DA:1,1` outside a file record");
    }

    #[test]
    fn files_are_grouped_by_crate_or_frontend_directory() {
        assert_eq!(area("backend/src/routes/events.rs"), "backend");
        assert_eq!(area("xtask/deploy/src/lib.rs"), "xtask/deploy");
        assert_eq!(
            area("infrastructure/checks/src/checks/iam.rs"),
            "infrastructure/checks"
        );
        assert_eq!(area("backend/build.rs"), "backend");
        assert_eq!(area("src/api/client.ts"), "src/api");
        assert_eq!(area("src/App.tsx"), "src");
        let files = [
            ("/repo/backend/src/a.rs".to_owned(), lines(10, 7)),
            ("backend/src/b.rs".to_owned(), lines(5, 5)),
            ("/repo/xtask/src/main.rs".to_owned(), lines(4, 1)),
        ];
        let areas = summarise(&files, "/repo/");
        assert_eq!(areas["backend"], lines(15, 12));
        assert_eq!(areas["xtask"], lines(4, 1));
    }

    #[test]
    fn the_summary_has_each_area_a_subtotal_per_part_and_the_total() {
        let rust = BTreeMap::from([
            ("backend".to_owned(), lines(200, 150)),
            ("xtask".to_owned(), lines(100, 50)),
        ]);
        let frontend = BTreeMap::from([("src/api".to_owned(), lines(40, 40))]);
        let empty = BTreeMap::from([("src".to_owned(), lines(0, 0))]);
        expect_test::expect![[r#"
            coverage                           lines hit / found       %
              rust: backend                        150 / 200       75.0%
              rust: xtask                           50 / 100       50.0%
            rust                                   200 / 300       66.7%
              frontend: src/api                     40 / 40       100.0%
            frontend                                40 / 40       100.0%
              other: src                             0 / 0          0.0%
            other                                    0 / 0          0.0%
            total                                  240 / 340       70.6%
        "#]]
        .assert_eq(&render(&[
            ("rust", rust),
            ("frontend", frontend),
            ("other", empty),
        ]));
    }
}
