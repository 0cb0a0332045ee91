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

/// Enough jobs for every test's stages to run side by side, whatever the machine's core count.
fn options() -> Options {
    Options {
        jobs: Some(4),
        ..Options::default()
    }
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
    let passed = run(&env(&root), "ci", vec![sibling, failing, later], &options()).unwrap();

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
    // The signal is sent when the run ends; the grandchild takes a moment to act on it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(sleeper) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
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
fn a_stage_that_could_not_run_is_never_a_pass_and_does_not_block_its_summary() {
    let root = scratch("not-run");
    let stages = vec![
        Stage::new("audit", &[]).call("ask the audit endpoint", |_| {
            Err(
                crate::pipeline::process::NotRun("the registry has no audit endpoint".into())
                    .into(),
            )
        }),
        Stage::new("summary", &[])
            .after("audit")
            .run(Cmd::new("true")),
    ];
    assert!(run(&env(&root), "ci", stages, &options()).unwrap());
    let report = report(&root);
    assert_eq!(
        results(&report),
        pairs(&[("audit", "not run"), ("summary", "passed")])
    );
    assert_eq!(
        report["stages"][0]["reason"],
        "the registry has no audit endpoint"
    );
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
        ..options()
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
    assert!(run(&env(&root), "ci", vec![step("a"), step("b")], &options()).unwrap());
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
    assert!(run(&env(&root), "ci", vec![stage()], &options()).unwrap());
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
    assert!(!run(&ci, "ci", vec![stage()], &options()).unwrap());
    assert_eq!(report(&root)["stages"][0]["result"], "failed");
}

#[test]
fn a_missing_required_tool_fails_even_locally() {
    let root = scratch("required-tool");
    let stage = Stage::new("needs-required-tool", &[])
        .tool(Tool::new("eventflow-no-such-tool", "install it").required())
        .run(Cmd::new("true"));
    assert!(!run(&env(&root), "infra", vec![stage], &options()).unwrap());
    let failed = report(&root);
    assert_eq!(failed["stages"][0]["result"], "failed");
    assert_eq!(
        failed["stages"][0]["reason"],
        "`eventflow-no-such-tool` not found: install it"
    );
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
        ..options()
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
    assert!(run(&env(&root), "ci", vec![stage], &options()).unwrap());
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

mod cache {
    use super::*;
    use crate::pipeline::cache::{Cache, Inputs};

    /// A git work tree with one source file; the stage appends to `runs.log` each time it runs.
    fn repo(name: &str) -> PathBuf {
        let root = scratch(name);
        let git = std::process::Command::new("git")
            .args(["init", "-q"])
            .current_dir(&root)
            .status()
            .unwrap();
        assert!(git.success());
        std::fs::write(root.join(".gitignore"), "/target\n/runs.log\n").unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/lib.rs"), "fn one() {}").unwrap();
        std::fs::write(root.join("README.md"), "not an input").unwrap();
        root
    }

    fn counting_stage(inputs: Inputs, exit: u8) -> Stage {
        Stage::new("count", &[]).cache(inputs).run(
            Cmd::new("sh")
                .arg("-c")
                .arg(format!("echo run >> runs.log; exit {exit}")),
        )
    }

    fn runs(root: &Path) -> usize {
        std::fs::read_to_string(root.join("runs.log")).map_or(0, |s| s.lines().count())
    }

    fn go(root: &Path, stage: Stage) -> bool {
        run(&env(root), "ci", vec![stage], &options()).unwrap()
    }

    fn src() -> Inputs {
        Inputs::files(&["src/**"])
    }

    #[test]
    fn an_unchanged_stage_is_replayed_and_a_changed_input_reruns_it() {
        let root = repo("cache-inputs");
        assert!(go(&root, counting_stage(src(), 0)));
        assert!(go(&root, counting_stage(src(), 0)));
        assert_eq!(runs(&root), 1, "the second run should have been cached");
        let report = report(&root);
        assert_eq!(report["stages"][0]["result"], "cached");
        assert!(report["stages"][0]["saved_s"].as_f64().is_some());

        std::fs::write(root.join("README.md"), "still not an input").unwrap();
        assert!(go(&root, counting_stage(src(), 0)));
        assert_eq!(
            runs(&root),
            1,
            "an undeclared file must not rerun the stage"
        );

        std::fs::write(root.join("src/lib.rs"), "fn two() {}").unwrap();
        assert!(go(&root, counting_stage(src(), 0)));
        assert_eq!(runs(&root), 2, "a declared input changed");

        std::fs::write(root.join("src/new.rs"), "").unwrap();
        assert!(go(&root, counting_stage(src(), 0)));
        assert_eq!(
            runs(&root),
            3,
            "a new untracked, unignored file matches the glob"
        );

        let no_cache = Options {
            no_cache: true,
            ..options()
        };
        assert!(run(&env(&root), "ci", vec![counting_stage(src(), 0)], &no_cache).unwrap());
        assert_eq!(runs(&root), 4, "--no-cache runs everything");
    }

    #[test]
    fn the_stage_definition_and_declared_environment_are_part_of_the_key() {
        let root = repo("cache-definition");
        assert!(go(&root, counting_stage(src(), 0)));
        let edited = Stage::new("count", &[])
            .cache(src())
            .run(Cmd::new("sh").arg("-c").arg("echo run >> runs.log; true"));
        assert!(go(&root, edited));
        assert_eq!(runs(&root), 2, "a different command is a different stage");

        let cache = Cache::open(&root).unwrap();
        let with_env = counting_stage(src().env(&["EVENTFLOW_TEST_UNSET_VARIABLE"]), 0);
        let without = counting_stage(src(), 0);
        let plan = crate::pipeline::plan::steps(&with_env);
        assert_ne!(
            cache.key(&with_env, &plan).unwrap(),
            cache.key(&without, &plan).unwrap()
        );
    }

    #[test]
    fn a_different_tool_version_reruns_the_stage() {
        let root = repo("cache-tool");
        let tool = root.join("fake-tool");
        let write_tool = |version: &str| {
            std::fs::write(&tool, format!("#!/bin/sh\necho fake-tool {version}\n")).unwrap();
            let mut perms = std::fs::metadata(&tool).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(&tool, perms).unwrap();
        };
        let tool_name: &'static str =
            Box::leak(tool.to_string_lossy().into_owned().into_boxed_str());
        let inputs = || Inputs::files(&["src/**", "!fake-tool"]).tools(&[tool_name]);
        write_tool("1.0");
        assert!(go(&root, counting_stage(inputs(), 0)));
        assert!(go(&root, counting_stage(inputs(), 0)));
        assert_eq!(runs(&root), 1);
        write_tool("2.0");
        assert!(go(&root, counting_stage(inputs(), 0)));
        assert_eq!(runs(&root), 2);
    }

    #[test]
    fn failures_are_never_cached() {
        let root = repo("cache-failure");
        assert!(!go(&root, counting_stage(src(), 1)));
        assert!(!go(&root, counting_stage(src(), 1)));
        assert_eq!(runs(&root), 2);
        assert!(
            !Cache::dir(&root).exists()
                || std::fs::read_dir(Cache::dir(&root))
                    .unwrap()
                    .next()
                    .is_none()
        );
    }

    #[test]
    fn a_corrupted_or_truncated_record_is_ignored_and_said_so() {
        let root = repo("cache-corrupt");
        assert!(go(&root, counting_stage(src(), 0)));
        let record = std::fs::read_dir(Cache::dir(&root))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let text = std::fs::read_to_string(&record).unwrap();
        for damaged in [&text[..text.len() / 2], "", "{\"stage\":\"other\"}"] {
            std::fs::write(&record, damaged).unwrap();
            let cache = Cache::open(&root).unwrap();
            let stage = counting_stage(src(), 0);
            let key = cache
                .key(&stage, &crate::pipeline::plan::steps(&stage))
                .unwrap()
                .unwrap();
            assert_eq!(cache.lookup(&stage, &key), None);
            let notes = cache.take_notes();
            assert!(
                notes[0].starts_with("ignored an unreadable cache record for count"),
                "{notes:?}"
            );
        }
        assert!(go(&root, counting_stage(src(), 0)));
        assert_eq!(runs(&root), 2, "the damaged record was not trusted");
        assert!(go(&root, counting_stage(src(), 0)));
        assert_eq!(runs(&root), 2, "the rerun wrote a good record again");
    }

    #[test]
    fn a_missing_output_means_a_rerun() {
        let root = repo("cache-output");
        let stage = || {
            Stage::new("build", &[])
                .cache(src().outputs(&["dist/index.html"]))
                .run(
                    Cmd::new("sh")
                        .arg("-c")
                        .arg("echo run >> runs.log; mkdir -p dist; touch dist/index.html"),
                )
        };
        assert!(go(&root, stage()));
        assert!(go(&root, stage()));
        assert_eq!(runs(&root), 1);
        std::fs::remove_dir_all(root.join("dist")).unwrap();
        assert!(go(&root, stage()));
        assert_eq!(runs(&root), 2);
    }

    #[test]
    fn an_output_changed_since_the_pass_means_a_rerun() {
        let root = repo("cache-output-changed");
        let stage = || {
            Stage::new("scan", &[])
                .cache(src().outputs(&["findings.json"]))
                .run(
                    Cmd::new("sh")
                        .arg("-c")
                        .arg("echo run >> runs.log; echo '[]' > findings.json"),
                )
        };
        std::fs::write(
            root.join(".gitignore"),
            "/target\n/runs.log\n/findings.json\n",
        )
        .unwrap();
        assert!(go(&root, stage()));
        assert!(go(&root, stage()));
        assert_eq!(runs(&root), 1);
        // Another run (other inputs, then back) left different findings: never trusted.
        std::fs::write(root.join("findings.json"), "[\"other\"]").unwrap();
        assert!(go(&root, stage()));
        assert_eq!(runs(&root), 2);
    }

    #[test]
    fn a_result_no_longer_present_outside_the_tree_means_a_rerun() {
        let root = repo("cache-present");
        let marker = root.join("target/image-present");
        let stage = || {
            let probe = Cmd::new("test").arg("-e").arg(marker.to_string_lossy());
            counting_stage(src().present(probe), 0)
        };
        std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
        std::fs::write(&marker, "").unwrap();
        assert!(go(&root, stage()));
        assert!(go(&root, stage()));
        assert_eq!(runs(&root), 1);
        std::fs::remove_file(&marker).unwrap();
        assert!(go(&root, stage()));
        assert_eq!(runs(&root), 2);
    }

    #[test]
    fn a_cached_stage_replays_its_result_and_runs_when_it_cannot() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let root = repo("cache-replay");
        let replays = std::sync::Arc::new(AtomicUsize::new(0));
        let stage = |fail: bool| {
            let replays = replays.clone();
            counting_stage(src(), 0).replay(move |_| {
                replays.fetch_add(1, Ordering::SeqCst);
                if fail {
                    anyhow::bail!("the findings file is gone");
                }
                Ok(())
            })
        };
        assert!(go(&root, stage(false)));
        assert_eq!((runs(&root), replays.load(Ordering::SeqCst)), (1, 0));
        assert!(go(&root, stage(false)));
        assert_eq!((runs(&root), replays.load(Ordering::SeqCst)), (1, 1));
        assert!(go(&root, stage(true)));
        assert_eq!((runs(&root), replays.load(Ordering::SeqCst)), (2, 2));
    }

    #[test]
    fn a_script_tools_version_is_remembered_until_the_script_changes() {
        let root = repo("cache-script-tool");
        let tool = root.join("slow-tool");
        let calls = root.join("target/version-calls");
        let write_tool = |version: &str| {
            let script = format!(
                "#!/bin/sh\necho x >> {}\necho slow-tool {version}\n",
                calls.display()
            );
            std::fs::write(&tool, script).unwrap();
            let mut perms = std::fs::metadata(&tool).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
            std::fs::set_permissions(&tool, perms).unwrap();
        };
        let tool_name: &'static str =
            Box::leak(tool.to_string_lossy().into_owned().into_boxed_str());
        let inputs = || Inputs::files(&["src/**", "!slow-tool"]).tools(&[tool_name]);
        let version_calls = || std::fs::read_to_string(&calls).map_or(0, |s| s.lines().count());
        std::fs::create_dir_all(root.join("target")).unwrap();
        write_tool("1.0");
        assert!(go(&root, counting_stage(inputs(), 0)));
        assert!(go(&root, counting_stage(inputs(), 0)));
        assert_eq!((runs(&root), version_calls()), (1, 1));
        write_tool("2.0");
        assert!(go(&root, counting_stage(inputs(), 0)));
        assert_eq!((runs(&root), version_calls()), (2, 2));
    }

    #[test]
    fn two_runs_at_once_leave_a_valid_cache() {
        let root = repo("cache-concurrent");
        let stages = || -> Vec<Stage> {
            (0..4)
                .map(|i| {
                    let name: &'static str = Box::leak(format!("stage-{i}").into_boxed_str());
                    Stage::new(name, &[]).cache(src()).run(Cmd::new("true"))
                })
                .collect()
        };
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let root = root.clone();
                let stages = stages();
                std::thread::spawn(move || run(&env(&root), "ci", stages, &options()).unwrap())
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap());
        }
        let cache = Cache::open(&root).unwrap();
        for stage in stages() {
            let key = cache
                .key(&stage, &crate::pipeline::plan::steps(&stage))
                .unwrap()
                .unwrap();
            assert!(
                cache.lookup(&stage, &key).is_some(),
                "{} has no valid record",
                stage.name
            );
        }
        assert!(cache.take_notes().is_empty());
    }
}
