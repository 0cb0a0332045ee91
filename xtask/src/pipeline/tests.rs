//! The engine with real child processes: ordering, fail-fast cancellation, keep-going, skip
//! propagation, the report, secret masking.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;
use crate::cmd::Cmd;
use crate::secret::Secret;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn env(root: &Path) -> Env {
    Env {
        root: root.to_path_buf(),
        ci: false,
        github_actions: false,
    }
}

fn report(root: &Path) -> Value {
    let text = std::fs::read_to_string(root.join("target/xtask/report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn results(report: &Value) -> Vec<(String, String)> {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// True when no process has `pid`, or only its zombie is left.
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_failing_stage_cancels_its_running_sibling_and_kills_its_children() {
    let root = scratch("fail-fast");
    let pid_file = root.join("sleeper.pid");
    // The sibling starts a grandchild and waits on it: cancelling must reach the whole group.
    let sibling = Stage::new("slow", &[]).run(
        Cmd::new("sh")
            .arg("-c")
            .arg("sleep 300 & echo $! > \"$PID_FILE\"; wait")
            .env("PID_FILE", pid_file.to_string_lossy()),
    );
    let failing = Stage::new("broken", &[]).run(
        Cmd::new("sh")
            .arg("-c")
            .arg("while [ ! -s \"$PID_FILE\" ]; do sleep 0.05; done; exit 3")
            .env("PID_FILE", pid_file.to_string_lossy()),
    );
    let later = Stage::new("later", &[]).needs("slow").run(Cmd::new("true"));

    let started = Instant::now();
    let passed = run(
        &env(&root),
        "ci",
        vec![sibling, failing, later],
        &Options::default(),
    )
    .unwrap();

    assert!(!passed);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the sleeping sibling was not cancelled"
    );
    let sleeper: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        gone(sleeper),
        "the cancelled stage's grandchild {sleeper} is still running"
    );
    let report = report(&root);
    assert_eq!(
        results(&report),
        pairs(&[
            ("slow", "cancelled"),
            ("broken", "failed"),
            ("later", "skipped")
        ])
    );
    assert_eq!(report["result"], "failed");
    let failure = &report["stages"][1];
    assert!(
        failure["reason"]
            .as_str()
            .unwrap()
            .contains("failed with exit code 3"),
        "{failure}"
    );
    assert_eq!(failure["commands"][0]["exit_code"], 3);
}

#[test]
fn keep_going_runs_everything_it_can_and_reports_all_failures() {
    let root = scratch("keep-going");
    let stages = vec![
        Stage::new("first", &[]).run(Cmd::new("false")),
        Stage::new("second", &[]).run(Cmd::new("false")),
        Stage::new("independent", &[]).run(Cmd::new("true")),
        Stage::new("downstream", &[])
            .after("first")
            .run(Cmd::new("true")),
    ];
    let options = Options {
        keep_going: true,
        ..Options::default()
    };
    assert!(!run(&env(&root), "ci", stages, &options).unwrap());
    let report = report(&root);
    assert_eq!(
        results(&report),
        pairs(&[
            ("first", "failed"),
            ("second", "failed"),
            ("independent", "passed"),
            ("downstream", "skipped")
        ])
    );
    assert_eq!(report["stages"][3]["reason"], "needs first, which failed");
}

#[test]
fn cargo_stages_run_one_at_a_time_in_order() {
    let root = scratch("cargo-order");
    let log = root.join("order.log");
    let step = |name: &'static str| {
        Stage::new(name, &[]).uses_cargo().run(
            Cmd::new("sh")
                .arg("-c")
                .arg("echo start-$N >> \"$LOG\"; sleep 0.2; echo end-$N >> \"$LOG\"")
                .env("N", name)
                .env("LOG", log.to_string_lossy()),
        )
    };
    assert!(
        run(
            &env(&root),
            "ci",
            vec![step("a"), step("b")],
            &Options::default()
        )
        .unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "start-a\nend-a\nstart-b\nend-b\n"
    );
}

#[test]
fn a_missing_tool_skips_locally_and_fails_under_ci() {
    let root = scratch("preflight");
    let stage = || {
        Stage::new("needs-tool", &[])
            .tool(Tool::new(
                "eventflow-no-such-tool",
                "install it with the package manager",
            ))
            .run(Cmd::new("true"))
    };
    assert!(run(&env(&root), "ci", vec![stage()], &Options::default()).unwrap());
    let skipped = report(&root);
    assert_eq!(skipped["stages"][0]["result"], "skipped");
    assert_eq!(
        skipped["stages"][0]["reason"],
        "`eventflow-no-such-tool` not found: install it with the package manager"
    );

    let ci = Env {
        ci: true,
        ..env(&root)
    };
    assert!(!run(&ci, "ci", vec![stage()], &Options::default()).unwrap());
    assert_eq!(report(&root)["stages"][0]["result"], "failed");
}

#[test]
fn secrets_are_masked_in_the_log_and_the_report() {
    let root = scratch("secrets");
    let stage = Stage::new("leaky", &[]).run(
        Cmd::new("sh")
            .arg("-c")
            .arg("echo token is $TOKEN; exit 1")
            .secret_env("TOKEN", Secret::new("tok-9f8e7d6c")),
    );
    let extra = root.join("extra-report.json");
    let options = Options {
        report: Some(extra.clone()),
        ..Options::default()
    };
    assert!(!run(&env(&root), "ci", vec![stage], &options).unwrap());
    let log = std::fs::read_to_string(root.join("target/xtask/logs/leaky.log")).unwrap();
    assert!(log.contains("token is ***"), "{log}");
    assert!(log.contains("$ TOKEN=*** sh -c"), "{log}");
    for file in [root.join("target/xtask/report.json"), extra] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(!text.contains("tok-9f8e7d6c"));
        assert!(text.contains("TOKEN=***"));
    }
}

#[test]
fn services_hand_their_environment_to_later_steps_and_stop_with_the_stage() {
    struct Marker(PathBuf);
    struct Started(PathBuf);
    impl Service for Marker {
        fn describe(&self) -> String {
            "a marker file".into()
        }
        fn provides(&self) -> Vec<&'static str> {
            vec!["MARKER"]
        }
        fn start(self: Box<Self>, _: &mut StageContext) -> anyhow::Result<Box<dyn Running>> {
            std::fs::write(&self.0, "up").unwrap();
            Ok(Box::new(Started(self.0)))
        }
    }
    impl Running for Started {
        fn env(&self) -> Vec<(String, crate::cmd::EnvValue)> {
            vec![(
                "MARKER".into(),
                crate::cmd::EnvValue::Plain(self.0.to_string_lossy().into()),
            )]
        }
    }
    impl Drop for Started {
        fn drop(&mut self) {
            std::fs::remove_file(&self.0).unwrap();
        }
    }

    let root = scratch("service");
    let marker = root.join("marker");
    let stage = Stage::new("uses-service", &[])
        .provision(Marker(marker.clone()))
        .run(
            Cmd::new("sh")
                .arg("-c")
                .arg("test \"$(cat \"$MARKER\")\" = up"),
        );
    assert!(run(&env(&root), "ci", vec![stage], &Options::default()).unwrap());
    assert!(
        !marker.exists(),
        "the service was not stopped with its stage"
    );
}

#[test]
fn the_last_line_counts_the_results() {
    use crate::pipeline::display::summary_table;
    use crate::pipeline::graph::Outcome;
    use crate::pipeline::runner::StageResult;
    let result = |name, outcome| StageResult {
        name,
        outcome,
        duration: Duration::from_millis(1500),
        commands: vec![],
    };
    let all = [
        result("lint-rust", Outcome::Passed),
        result(
            "test-unit",
            Outcome::Failed("`cargo test` failed with exit code 101".into()),
        ),
        result(
            "test-integration",
            Outcome::Skipped("needs test-unit, which failed".into()),
        ),
        result("test-frontend", Outcome::Cancelled),
    ];
    let table = summary_table("ci", &all, Duration::from_secs(3));
    assert_eq!(
        table.lines().last().unwrap(),
        "ci: 1 passed, 1 failed, 2 skipped"
    );
    assert!(
        table.contains(
            "test-unit         failed         1.5s  `cargo test` failed with exit code 101"
        ),
        "{table}"
    );
    assert_eq!(
        summary_table("lint", &all[..1], Duration::ZERO)
            .lines()
            .last()
            .unwrap(),
        "lint: 1 passed, 0 failed"
    );
}

#[test]
fn github_output_escapes_annotations_and_summarises_in_markdown() {
    use crate::pipeline::graph::Outcome;
    use crate::pipeline::runner::StageResult;
    assert_eq!(
        github::error_annotation("test-unit", "50% failed:\nsee log"),
        "::error title=test-unit failed::50%25 failed:%0Asee log"
    );
    let results = [
        StageResult {
            name: "lint-rust",
            outcome: Outcome::Passed,
            duration: Duration::from_secs(2),
            commands: vec![],
        },
        StageResult {
            name: "test-unit",
            outcome: Outcome::Failed("a | b".into()),
            duration: Duration::ZERO,
            commands: vec![],
        },
    ];
    expect_test::expect![[r#"
        ### `cargo xtask ci`

        | stage | result | time | note |
        |---|---|---|---|
        | lint-rust | ✅ passed | 2.0s |  |
        | test-unit | ❌ failed | - | a \| b |

        ci: 1 passed, 1 failed
    "#]]
    .assert_eq(&github::step_summary("ci", &results));
}

#[test]
fn only_and_skip_select_stages_and_reject_unknown_names() {
    let stages = || {
        vec![
            Stage::new("a", &[]),
            Stage::new("b", &[]).needs("a"),
            Stage::new("c", &[]),
        ]
    };
    let names = |s: Vec<Stage>| s.iter().map(|s| s.name).collect::<Vec<_>>();
    assert_eq!(names(select(stages(), &["b".into()], &[]).unwrap()), ["b"]);
    assert_eq!(
        names(select(stages(), &[], &["a".into()]).unwrap()),
        ["b", "c"]
    );
    let err = select(stages(), &["nope".into()], &[]).err().unwrap();
    assert_eq!(
        err.to_string(),
        "unknown stage `nope`: this command's stages are a, b, c"
    );
}
