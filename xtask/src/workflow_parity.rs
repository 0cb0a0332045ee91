//! The promise that CI runs exactly what a developer runs, as a test.
//!
//! Every workflow in `.github/workflows/` is parsed, and the test fails when
//! - a step is anything but a setup action (checkout, toolchain, caches, credentials, tool
//!   installers; pinned to a full commit sha with its version in a comment) or a single
//!   `cargo xtask …` line,
//! - a `cargo xtask` call names a command or flag that the command tree in `cli.rs` doesn't have,
//! - a stage of `cargo xtask ci` has no job in `ci.yml` that runs it, or its job doesn't wait for
//!   the jobs of the stages it comes after (the jobs' `needs:` mirror the stage graph),
//! - a delivery workflow breaks a promise [`check_delivery`] lists: a cancelled deploy rolls
//!   back, releases notify with their secrets, CD runs after CI passed, the manual rollback
//!   never queues behind a deploy, production applies the plan it uploaded, and the toolchain
//!   is rust-toolchain.toml's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, Parser};
use yaml_rust2::{Yaml, YamlLoader};

use crate::cli::Cli;
use crate::pipeline::Stage;
use crate::project::Project;
use crate::stages::workflows;

/// Actions that only prepare a job (or hand a report or a build to GitHub). Anything else
/// would be logic living in the YAML instead of the xtask.
const SETUP_ACTIONS: &[&str] = &[
    "actions/checkout",
    "actions/cache",
    "actions/setup-node",
    "actions/setup-python",
    "dtolnay/rust-toolchain",
    "Swatinem/rust-cache",
    "taiki-e/install-action",
    "aquasecurity/setup-trivy",
    "hashicorp/setup-terraform",
    "aws-actions/configure-aws-credentials",
    "github/codeql-action/upload-sarif",
    // Hands a build to GitHub (the deploy engine for laptop rollbacks, CI's verified images,
    // production's plan) and back to a later job (cd-staging's images, the apply's plan).
    "actions/upload-artifact",
    "actions/download-artifact",
];

/// Commands the workflows call that the production and infrastructure work is adding to
/// `cli.rs`. Until a command exists its arguments can't be checked, so it is let through; from the
/// moment it lands it is parsed like every other command (see `a_planned_command_is_parsed_once_it_exists`).
const PLANNED: &[&str] = &[];

/// The workflow whose jobs must cover the stages of `cargo xtask ci`.
const CI_WORKFLOW: &str = "ci.yml";

struct Job {
    id: String,
    needs: Vec<String>,
    steps: Vec<Yaml>,
}

/// A `cargo xtask` call in a job: the command words (`test`, `unit`) and the stage selection.
struct Call {
    words: Vec<String>,
    only: Vec<String>,
    skip: Vec<String>,
}

impl Call {
    fn runs(&self, stage: &Stage) -> bool {
        let command_matches = self.words == ["ci"]
            || (!self.words.is_empty()
                && self.words.len() <= stage.command.len()
                && self.words.iter().zip(stage.command).all(|(w, c)| w == c));
        command_matches
            && (self.only.is_empty() || self.only.iter().any(|o| o == stage.name))
            && !self.skip.iter().any(|s| s == stage.name)
    }
}

/// Every parity problem in `workflows` (file name, YAML text), each a sentence that names the fix.
fn check(workflows: &[(String, String)], ci_stages: &[Stage], planned: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ci_jobs = None;
    for (file, text) in workflows {
        problems.extend(check_pins(file, text));
        let jobs = match parse(text) {
            Ok(jobs) => jobs,
            Err(e) => {
                problems.push(format!("{file}: {e}"));
                continue;
            }
        };
        let mut calls: BTreeMap<String, Vec<Call>> = BTreeMap::new();
        for job in &jobs {
            for (index, step) in job.steps.iter().enumerate() {
                let at = format!("{file}: job `{}`, step {}", job.id, index + 1);
                match check_step(step, planned) {
                    Ok(Some(call)) => calls.entry(job.id.clone()).or_default().push(call),
                    Ok(None) => {}
                    Err(e) => problems.push(format!("{at}: {e}")),
                }
            }
        }
        if file == CI_WORKFLOW {
            ci_jobs = Some((jobs, calls));
        }
    }
    match ci_jobs {
        None => problems.push(format!(
            "there is no {CI_WORKFLOW}: the stages of `cargo xtask ci` need jobs"
        )),
        Some((jobs, calls)) => problems.extend(check_coverage(&jobs, &calls, ci_stages)),
    }
    problems
}

fn parse(text: &str) -> Result<Vec<Job>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let doc = docs.first().ok_or("empty workflow")?;
    let jobs = doc["jobs"].as_hash().ok_or("no `jobs:` mapping")?;
    jobs.iter()
        .map(|(id, job)| {
            let id = id
                .as_str()
                .ok_or("a job id that is not a string")?
                .to_owned();
            if let Some(called) = job["uses"].as_str() {
                return Err(format!(
                    "job `{id}` calls the workflow `{called}`: give it its own steps"
                ));
            }
            let needs = match &job["needs"] {
                Yaml::String(one) => vec![one.clone()],
                Yaml::Array(many) => many
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            let steps = job["steps"].as_vec().cloned().unwrap_or_default();
            Ok(Job { id, needs, steps })
        })
        .collect()
}

/// A step is a setup action or one `cargo xtask` line; the call, when it is one.
fn check_step(step: &Yaml, planned: &[&str]) -> Result<Option<Call>, String> {
    match (step["uses"].as_str(), step["run"].as_str()) {
        (Some(action), None) => check_action(action).map(|()| None),
        (None, Some(run)) => check_run(run, planned),
        _ => Err("a step must be either `uses:` a setup action or `run: cargo xtask …`".into()),
    }
}

fn check_action(action: &str) -> Result<(), String> {
    let (name, reference) = action
        .split_once('@')
        .ok_or_else(|| format!("`{action}` names no version: pin it to a full commit sha"))?;
    if !SETUP_ACTIONS.contains(&name) {
        return Err(format!(
            "`{name}` is not a setup action: move the work into a `cargo xtask` command (or, for a new setup action, add it to SETUP_ACTIONS)"
        ));
    }
    if reference.len() != 40 || !reference.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "`{action}` is pinned to `{reference}`: pin it to a full 40-character commit sha, with the release in a comment"
        ));
    }
    Ok(())
}

/// Every pinned action names its release in a comment (`…@<sha> # v4.2.2`), so a reader can
/// tell what a sha is. YAML drops comments, so this reads the text.
fn check_pins(file: &str, text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter_map(|(number, line)| {
            let value = line.trim_start().trim_start_matches("- ").trim_start();
            let value = value.strip_prefix("uses:")?.trim();
            let (reference, comment) = match value.split_once('#') {
                Some((reference, comment)) => (reference.trim(), comment.trim()),
                None => (value, ""),
            };
            (reference.contains('@') && comment.is_empty()).then(|| {
                format!(
                    "{file}:{}: `{reference}` has no `# vX.Y.Z` comment naming the release its sha is",
                    number + 1
                )
            })
        })
        .collect()
}

/// One line, `cargo xtask` and then words a shell passes on unchanged: no expansion (`$`, which
/// also keeps `${{ … }}` expressions and secrets out of the command line), no operators, no
/// globs. Quotes may group words.
fn check_run(run: &str, planned: &[&str]) -> Result<Option<Call>, String> {
    let line = run.trim();
    if line.contains('\n') {
        return Err(format!(
            "`run:` holds a script ({} lines): make it one `cargo xtask …` command",
            line.lines().count()
        ));
    }
    let words = split(line)?;
    if words.len() < 3 || words[0] != "cargo" || words[1] != "xtask" {
        return Err(format!(
            "`{line}` is not a `cargo xtask` command: CI runs exactly what a developer runs, so add a stage to the xtask and call it here"
        ));
    }
    let args = &words[2..];
    let name = args.iter().find(|w| !w.starts_with('-'));
    if let Some(name) = name
        && planned.contains(&name.as_str())
        && Cli::command().find_subcommand(name).is_none()
    {
        return Ok(None);
    }
    let argv = std::iter::once("xtask".to_owned()).chain(args.iter().cloned());
    let matches = Cli::command()
        .try_get_matches_from(argv.clone())
        .map_err(|e| format!("`{line}`: {}", first_line(&e.to_string())))?;
    let cli = Cli::try_parse_from(argv).map_err(|e| format!("`{line}`: {e}"))?;
    Ok(Some(Call {
        words: command_words(&matches),
        only: cli.run.only,
        skip: cli.run.skip,
    }))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Shell words with quotes removed; refuses anything a shell would interpret.
fn split(line: &str) -> Result<Vec<String>, String> {
    const SPECIAL: &str = "$`\\;&|<>(){}[]*?!#~";
    if let Some(c) = line.chars().find(|c| SPECIAL.contains(*c)) {
        return Err(format!(
            "`{line}` uses `{c}`, which the shell would interpret: pass values through `env:` and read them in the xtask"
        ));
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(format!("`{line}` has an unclosed quote"));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The subcommands, then the positional values given on the command line (`test unit`).
fn command_words(matches: &ArgMatches) -> Vec<String> {
    let mut words = Vec::new();
    let mut command = Cli::command();
    let mut matches = matches;
    while let Some((name, sub)) = matches.subcommand() {
        words.push(name.to_owned());
        command = command
            .find_subcommand(name)
            .expect("clap matched this subcommand")
            .clone();
        for arg in command.get_positionals() {
            let id = arg.get_id().as_str();
            if sub.value_source(id) == Some(ValueSource::CommandLine)
                && let Some(values) = sub.get_raw(id)
            {
                words.extend(values.map(|v| v.to_string_lossy().into_owned()));
            }
        }
        matches = sub;
    }
    words
}

fn check_coverage(
    jobs: &[Job],
    calls: &BTreeMap<String, Vec<Call>>,
    ci_stages: &[Stage],
) -> Vec<String> {
    let runners = |stage: &Stage| -> BTreeSet<&str> {
        calls
            .iter()
            .filter(|(_, calls)| calls.iter().any(|c| c.runs(stage)))
            .map(|(job, _)| job.as_str())
            .collect()
    };
    let mut problems = Vec::new();
    // Stages without a command (installing npm dependencies) come along with the stages that
    // need them.
    for stage in ci_stages.iter().filter(|s| !s.command.is_empty()) {
        let jobs_of_stage = runners(stage);
        if jobs_of_stage.is_empty() {
            problems.push(format!(
                "{CI_WORKFLOW}: no job runs `{}`, a stage of `cargo xtask ci`: add a job whose step is `cargo xtask {}`",
                stage.name,
                stage.command.join(" ")
            ));
            continue;
        }
        for before in stage.prerequisites() {
            let Some(before) = ci_stages
                .iter()
                .find(|s| s.name == before && !s.command.is_empty())
            else {
                continue;
            };
            let jobs_before = runners(before);
            for job in &jobs_of_stage {
                let waits = jobs_before.contains(job)
                    || upstream(jobs, job)
                        .iter()
                        .any(|j| jobs_before.contains(j.as_str()));
                if !waits && !jobs_before.is_empty() {
                    problems.push(format!(
                        "{CI_WORKFLOW}: job `{job}` runs `{}`, which comes after `{}`: add `needs: [{}]` to it",
                        stage.name,
                        before.name,
                        jobs_before.iter().copied().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    problems
}

/// Every job that `job` waits for, directly or through others.
fn upstream(jobs: &[Job], job: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut queue = vec![job.to_owned()];
    while let Some(current) = queue.pop() {
        let Some(current) = jobs.iter().find(|j| j.id == current) else {
            continue;
        };
        for need in &current.needs {
            if found.insert(need.clone()) {
                queue.push(need.clone());
            }
        }
    }
    found
}

fn read_workflows(root: &Path) -> Vec<(String, String)> {
    workflows::workflow_files(root)
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(root.join(&path)).unwrap();
            let name = path.rsplit('/').next().unwrap().to_owned();
            (name, text)
        })
        .collect()
}

fn project() -> Project {
    Project::at(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf(),
    )
}

#[test]
fn the_workflows_only_call_cargo_xtask_and_cover_every_ci_stage() {
    let project = project();
    let workflows = read_workflows(project.root());
    assert!(
        workflows.iter().any(|(name, _)| name == CI_WORKFLOW),
        "{workflows:?}"
    );
    let problems = check(&workflows, &crate::stages::ci(&project).unwrap(), PLANNED);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The real ci.yml with one more step in the lint job.
fn ci_yml_with_step(step: &str) -> Vec<(String, String)> {
    let project = project();
    let text = std::fs::read_to_string(project.root().join(".github/workflows/ci.yml")).unwrap();
    let anchor = "      - run: cargo xtask lint\n";
    assert!(text.contains(anchor));
    let planted = text.replace(anchor, &format!("{anchor}      - {step}\n"));
    vec![(CI_WORKFLOW.to_owned(), planted)]
}

fn problems_with_step(step: &str) -> Vec<String> {
    check(
        &ci_yml_with_step(step),
        &crate::stages::ci(&project()).unwrap(),
        PLANNED,
    )
}

#[test]
fn a_planted_npm_test_step_is_caught() {
    let problems = problems_with_step("run: npm test");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .starts_with("ci.yml: job `lint`, step 8: `npm test` is not a `cargo xtask` command"),
        "{}",
        problems[0]
    );
}

#[test]
fn an_unknown_flag_or_command_is_caught() {
    let problems = problems_with_step("run: cargo xtask lint --fast");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("unexpected argument '--fast'"),
        "{}",
        problems[0]
    );

    let problems = problems_with_step("run: cargo xtask test load");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("invalid value 'load'"),
        "{}",
        problems[0]
    );

    let problems = problems_with_step("run: cargo xtask lnt");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("unrecognized subcommand 'lnt'"),
        "{}",
        problems[0]
    );
}

#[test]
fn scripts_shell_tricks_and_expressions_are_caught() {
    for (step, expected) in [
        ("run: cargo xtask lint && npm test", "uses `&`"),
        (
            "run: cargo xtask test e2e --base-url ${{ secrets.URL }}",
            "uses `$`",
        ),
        (
            "run: |\n          cargo xtask lint\n          cargo xtask test",
            "holds a script (2 lines)",
        ),
        ("run: cargo build", "is not a `cargo xtask` command"),
    ] {
        let problems = problems_with_step(step);
        assert_eq!(problems.len(), 1, "{step}: {problems:?}");
        assert!(problems[0].contains(expected), "{step}: {}", problems[0]);
    }
}

#[test]
fn actions_must_be_pinned_setup_actions() {
    let problems = problems_with_step("uses: actions/setup-go@v5 # v5");
    assert!(problems[0].contains("not a setup action"), "{problems:?}");

    let problems = problems_with_step("uses: actions/cache@v4");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("has no `# vX.Y.Z` comment"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("pin it to a full 40-character commit sha"))
    );
}

/// A small pipeline and workflow, to show the coverage and ordering rules on their own.
fn fixture_stages() -> Vec<Stage> {
    vec![
        Stage::new("deps", &[]),
        Stage::new("lint-rust", &["lint"]).needs("deps"),
        Stage::new("type-check-rust", &["type-check"]),
        Stage::new("test-unit", &["test", "unit"]).after("type-check-rust"),
    ]
}

fn fixture(jobs: &str) -> Vec<(String, String)> {
    vec![(
        CI_WORKFLOW.to_owned(),
        format!("name: ci\non: push\njobs:\n{jobs}"),
    )]
}

#[test]
fn every_ci_stage_needs_a_job_that_waits_for_the_stages_before_it() {
    let all = "  lint:\n    steps:\n      - run: cargo xtask lint\n  types:\n    steps:\n      - run: cargo xtask type-check\n  unit:\n    needs: types\n    steps:\n      - run: cargo xtask test unit\n";
    assert_eq!(
        check(&fixture(all), &fixture_stages(), PLANNED),
        Vec::<String>::new()
    );

    let missing = "  lint:\n    steps:\n      - run: cargo xtask lint --skip lint-rust\n  types:\n    steps:\n      - run: cargo xtask type-check\n  unit:\n    needs: [types]\n    steps:\n      - run: cargo xtask test unit\n";
    assert_eq!(
        check(&fixture(missing), &fixture_stages(), PLANNED),
        [
            "ci.yml: no job runs `lint-rust`, a stage of `cargo xtask ci`: add a job whose step is `cargo xtask lint`"
        ]
    );

    let unordered = "  lint:\n    steps:\n      - run: cargo xtask lint\n  types:\n    steps:\n      - run: cargo xtask type-check\n  unit:\n    steps:\n      - run: cargo xtask test unit\n";
    assert_eq!(
        check(&fixture(unordered), &fixture_stages(), PLANNED),
        [
            "ci.yml: job `unit` runs `test-unit`, which comes after `type-check-rust`: add `needs: [types]` to it"
        ]
    );

    let whole = "  everything:\n    steps:\n      - run: cargo xtask ci --keep-going\n";
    assert_eq!(
        check(&fixture(whole), &fixture_stages(), PLANNED),
        Vec::<String>::new()
    );
}

#[test]
fn a_planned_command_is_parsed_once_it_exists() {
    // Not in the command tree yet: let through.
    let absent = "  lint:\n    steps:\n      - run: cargo xtask lint\n  types:\n    steps:\n      - run: cargo xtask type-check\n  unit:\n    needs: types\n    steps:\n      - run: cargo xtask test unit\n      - run: cargo xtask frobnicate production --yes\n";
    assert_eq!(
        check(&fixture(absent), &fixture_stages(), &["frobnicate"]),
        Vec::<String>::new()
    );
    // `lint` exists: listing it as planned changes nothing, its flags are checked.
    let present = "  lint:\n    steps:\n      - run: cargo xtask lint --yes\n";
    let problems = check(&fixture(present), &fixture_stages(), &["lint"]);
    assert!(
        problems[0].contains("unexpected argument '--yes'"),
        "{problems:?}"
    );
}

#[test]
fn quoted_words_reach_the_command_as_one_argument() {
    assert_eq!(
        split(r#"cargo xtask notify --title "ci failed" --status 'fail'"#).unwrap(),
        [
            "cargo",
            "xtask",
            "notify",
            "--title",
            "ci failed",
            "--status",
            "fail"
        ]
    );
    assert!(split("cargo xtask \"open").is_err());
}

// ---- What the delivery workflows promise ------------------------------------------------------

/// The secrets every deploy, rollback and notify step needs to tell people how a release ended.
const NOTIFY_SECRETS: &[&str] = &["SLACK_WEBHOOK_URL", "SMTP_URL", "NOTIFY_EMAIL"];

/// The workflow CD waits for.
const CI_NAME: &str = "ci";

/// A step's `cargo xtask` words (after `cargo xtask`), when it runs one.
fn xtask_words(step: &Yaml) -> Option<Vec<String>> {
    let words = split(step["run"].as_str()?.trim()).ok()?;
    (words.len() > 2 && words[0] == "cargo" && words[1] == "xtask").then(|| words[2..].to_vec())
}

fn starts(words: &[String], prefix: &[&str]) -> bool {
    words.len() >= prefix.len() && words.iter().zip(prefix).all(|(w, p)| w == p)
}

fn step_if(step: &Yaml) -> &str {
    step["if"].as_str().unwrap_or_default()
}

fn concurrency_group(doc: &Yaml) -> Option<String> {
    match &doc["concurrency"] {
        Yaml::String(group) => Some(group.clone()),
        c => c["group"].as_str().map(str::to_owned),
    }
}

/// Every broken promise of the delivery workflows, each a sentence naming the fix:
/// - a deploy job has an `if: cancelled()` step `cargo xtask rollback <env> --if-unfinished`;
/// - deploy, rollback and notify steps get the notification secrets, and a job that deploys or
///   rolls back notifies on `failure() || cancelled()`;
/// - a workflow that deploys runs on `workflow_run` of ci (completed), only when it succeeded,
///   and checks out the commit CI tested;
/// - a manual rollback's concurrency group is not a deploy's;
/// - production's infrastructure is applied from the plan file a plan job uploaded;
/// - the toolchain the workflows install is rust-toolchain.toml's.
fn check_delivery(workflows: &[(String, String)], toolchain: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut deploy_groups = BTreeSet::new();
    let mut rollback_groups = Vec::new();
    for (file, text) in workflows {
        let Some(doc) = YamlLoader::load_from_str(text)
            .ok()
            .and_then(|d| d.into_iter().next())
        else {
            continue;
        };
        let Some(jobs) = doc["jobs"].as_hash() else {
            continue;
        };
        let mut deploys = false;
        for (id, job) in jobs {
            let id = id.as_str().unwrap_or_default();
            let steps = job["steps"].as_vec().cloned().unwrap_or_default();
            let at = format!("{file}: job `{id}`");
            let mut job_deploys = None;
            let mut job_rolls_back = false;
            for step in &steps {
                if step["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("dtolnay/rust-toolchain@"))
                {
                    let given = match &step["with"]["toolchain"] {
                        Yaml::String(s) => s.clone(),
                        Yaml::Real(s) => s.clone(),
                        _ => String::new(),
                    };
                    if given != toolchain {
                        problems.push(format!(
                            "{at}: installs Rust `{given}`, not rust-toolchain.toml's `{toolchain}`: set `toolchain: {toolchain}`"
                        ));
                    }
                }
                let Some(words) = xtask_words(step) else {
                    continue;
                };
                let notifies = starts(&words, &["notify"]);
                let deploy = starts(&words, &["deploy"]);
                let rollback = starts(&words, &["rollback"]);
                if deploy {
                    job_deploys = words.get(1).cloned();
                }
                if rollback && !step_if(step).contains("cancelled()") {
                    job_rolls_back = true;
                }
                if notifies || deploy || rollback {
                    let env = step["env"].as_hash();
                    for secret in NOTIFY_SECRETS {
                        let has =
                            env.is_some_and(|e| e.contains_key(&Yaml::String((*secret).into())));
                        if !has {
                            problems.push(format!(
                                "{at}: `cargo xtask {}` gets no {secret}: add it to the step's `env:` from the environment's secrets",
                                words.join(" ")
                            ));
                        }
                    }
                }
            }
            if let Some(env) = &job_deploys {
                deploys = true;
                let cleanup = steps.iter().any(|s| {
                    step_if(s).contains("cancelled()")
                        && xtask_words(s).is_some_and(|w| {
                            starts(&w, &["rollback", env])
                                && w.iter().any(|a| a == "--if-unfinished")
                        })
                });
                if !cleanup {
                    problems.push(format!(
                        "{at}: deploys {env} with no `if: cancelled()` step `cargo xtask rollback {env} --yes --if-unfinished`: a cancel or a timeout would leave the deploy half-done"
                    ));
                }
            }
            if job_deploys.is_some() || job_rolls_back {
                let notified = steps.iter().any(|s| {
                    let cond = step_if(s);
                    cond.contains("failure()")
                        && cond.contains("cancelled()")
                        && xtask_words(s).is_some_and(|w| starts(&w, &["notify"]))
                });
                if !notified {
                    problems.push(format!(
                        "{at}: no `if: failure() || cancelled()` step `cargo xtask notify`: a failed or cancelled release must be told"
                    ));
                }
            }
            if job_rolls_back {
                rollback_groups.push((file.clone(), concurrency_group(&doc)));
            }
            problems.extend(check_plan_apply(&at, job, jobs));
        }
        if deploys {
            deploy_groups.extend(concurrency_group(&doc));
            problems.extend(check_after_ci(file, &doc, jobs));
        }
    }
    for (file, group) in rollback_groups {
        match group {
            Some(g) if !deploy_groups.contains(&g) => {}
            _ => problems.push(format!(
                "{file}: the manual rollback shares a deploy's concurrency group (or has none): give it its own workflow and group (`rollback-production`), so it never waits behind a deploy"
            )),
        }
    }
    problems
}

/// A deploying workflow runs after CI passed for the commit, and deploys that commit.
fn check_after_ci(file: &str, doc: &Yaml, jobs: &yaml_rust2::yaml::Hash) -> Vec<String> {
    let mut problems = Vec::new();
    let on = &doc["on"];
    let run = &on["workflow_run"];
    let names = |y: &Yaml| -> Vec<String> {
        y.as_vec()
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    if !names(&run["workflows"]).iter().any(|w| w == CI_NAME)
        || !names(&run["types"]).iter().any(|t| t == "completed")
    {
        problems.push(format!(
            "{file}: deploys without waiting for CI: trigger it with `on: workflow_run: {{workflows: [{CI_NAME}], types: [completed], branches: […]}}`"
        ));
    }
    if !on["push"].is_badvalue() {
        problems.push(format!(
            "{file}: deploys on `push`, before CI passed: trigger it with `workflow_run` of {CI_NAME} only"
        ));
    }
    for (id, job) in jobs {
        let id = id.as_str().unwrap_or_default();
        let first = job["needs"].is_badvalue();
        if first
            && !job["if"]
                .as_str()
                .is_some_and(|c| c.contains("github.event.workflow_run.conclusion == 'success'"))
        {
            problems.push(format!(
                "{file}: job `{id}` runs even when CI failed: add `if: github.event.workflow_run.conclusion == 'success' && github.event.workflow_run.event == 'push'`"
            ));
        }
        for step in job["steps"].as_vec().into_iter().flatten() {
            let checkout = step["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout@"));
            if checkout
                && step["with"]["ref"].as_str() != Some("${{ github.event.workflow_run.head_sha }}")
            {
                problems.push(format!(
                    "{file}: job `{id}` checks out the branch's newest commit, not the one CI passed: add `ref: ${{{{ github.event.workflow_run.head_sha }}}}`"
                ));
            }
        }
    }
    problems
}

/// `infra apply production` applies the plan file a plan job it needs uploaded: never a plan
/// of its own, which no reviewer saw.
fn check_plan_apply(at: &str, job: &Yaml, jobs: &yaml_rust2::yaml::Hash) -> Vec<String> {
    let steps = job["steps"].as_vec().cloned().unwrap_or_default();
    let applies = steps
        .iter()
        .any(|s| xtask_words(s).is_some_and(|w| starts(&w, &["infra", "apply", "production"])));
    if !applies {
        return Vec::new();
    }
    let mut problems = Vec::new();
    if steps
        .iter()
        .any(|s| xtask_words(s).is_some_and(|w| starts(&w, &["infra", "plan"])))
    {
        problems.push(format!(
            "{at}: plans and applies production in one job: the approval must come between them; upload the plan in a plan job and apply that artifact in a job that needs it"
        ));
    }
    let downloaded: Vec<&str> = steps
        .iter()
        .filter(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/download-artifact@"))
        })
        .filter_map(|s| s["with"]["name"].as_str())
        .collect();
    let needs: Vec<String> = match &job["needs"] {
        Yaml::String(one) => vec![one.clone()],
        Yaml::Array(many) => many
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let uploaded_by_plan = needs.iter().any(|need| {
        let plan_steps = jobs
            .get(&Yaml::String(need.clone()))
            .and_then(|j| j["steps"].as_vec().cloned())
            .unwrap_or_default();
        let plans = plan_steps
            .iter()
            .any(|s| xtask_words(s).is_some_and(|w| starts(&w, &["infra", "plan", "production"])));
        plans
            && plan_steps.iter().any(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
                    && s["with"]["path"]
                        .as_str()
                        .is_some_and(|p| p.contains("tfplan"))
                    && s["with"]["name"]
                        .as_str()
                        .is_some_and(|n| downloaded.contains(&n))
            })
    });
    if !uploaded_by_plan {
        problems.push(format!(
            "{at}: applies production without the plan artifact: `needs:` the job that runs `cargo xtask infra plan production` and uploads its tfplan, and download that artifact (same name) before the apply"
        ));
    }
    problems
}

/// rust-toolchain.toml's channel.
fn toolchain_channel(root: &Path) -> String {
    let text = std::fs::read_to_string(root.join("rust-toolchain.toml")).unwrap();
    text.lines()
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "channel").then(|| value.trim().trim_matches('"').to_owned())
        })
        .expect("rust-toolchain.toml names a channel")
}

#[test]
fn the_delivery_workflows_keep_their_promises() {
    let project = project();
    let workflows = read_workflows(project.root());
    let problems = check_delivery(&workflows, &toolchain_channel(project.root()));
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The real workflows with `from` replaced by `to` in `file` (which must contain it), checked.
fn delivery_problems_after(file: &str, from: &str, to: &str) -> Vec<String> {
    let project = project();
    let workflows: Vec<(String, String)> = read_workflows(project.root())
        .into_iter()
        .map(|(name, text)| {
            if name == file {
                assert!(text.contains(from), "{file} has no `{from}`");
                let planted = text.replace(from, to);
                (name, planted)
            } else {
                (name, text)
            }
        })
        .collect();
    check_delivery(&workflows, &toolchain_channel(project.root()))
}

fn assert_caught(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem with `{needle}`, got:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_deploy_without_its_cancelled_rollback_is_caught() {
    let problems = delivery_problems_after(
        "cd-production.yml",
        "run: cargo xtask rollback production --yes --if-unfinished",
        "run: cargo xtask status production",
    );
    assert_caught(&problems, "with no `if: cancelled()` step");
    // A rollback that would roll back a healthy production is no cleanup either.
    let problems = delivery_problems_after(
        "cd-staging.yml",
        "run: cargo xtask rollback staging --yes --if-unfinished",
        "run: cargo xtask rollback staging --yes",
    );
    assert_caught(&problems, "deploys staging with no `if: cancelled()` step");
}

#[test]
fn a_notify_or_deploy_step_without_the_secrets_is_caught() {
    let problems = delivery_problems_after(
        "cd-production.yml",
        "          NOTIFY_EMAIL: ${{ secrets.NOTIFY_EMAIL }}\n",
        "",
    );
    assert_caught(&problems, "`cargo xtask notify --status failure");
    assert_caught(
        &problems,
        "`cargo xtask deploy production --yes` gets no NOTIFY_EMAIL",
    );
    let problems = delivery_problems_after(
        "rollback-production.yml",
        "- if: failure() || cancelled()",
        "- if: failure()",
    );
    assert_caught(&problems, "no `if: failure() || cancelled()` step");
}

#[test]
fn a_deploy_on_push_or_of_an_untested_commit_is_caught() {
    let problems = delivery_problems_after(
        "cd-staging.yml",
        "on:\n  workflow_run:\n    workflows: [ci]",
        "on:\n  push:\n    branches: [develop]\n  workflow_run:\n    workflows: [lint]",
    );
    assert_caught(&problems, "deploys without waiting for CI");
    assert_caught(&problems, "deploys on `push`");
    let problems = delivery_problems_after(
        "cd-production.yml",
        "          ref: ${{ github.event.workflow_run.head_sha }}\n",
        "",
    );
    assert_caught(&problems, "checks out the branch's newest commit");
    let problems = delivery_problems_after(
        "cd-production.yml",
        "    if: github.event.workflow_run.conclusion == 'success' && github.event.workflow_run.event == 'push'\n",
        "",
    );
    assert_caught(&problems, "job `infra-plan` runs even when CI failed");
}

#[test]
fn a_rollback_in_the_deploys_concurrency_group_is_caught() {
    let problems = delivery_problems_after(
        "rollback-production.yml",
        "group: rollback-production",
        "group: deploy-production",
    );
    assert_caught(
        &problems,
        "rollback-production.yml: the manual rollback shares a deploy's concurrency group",
    );
}

#[test]
fn an_apply_that_is_not_the_uploaded_plan_is_caught() {
    let problems = delivery_problems_after(
        "cd-production.yml",
        "      - run: cargo xtask infra apply production --yes\n",
        "      - run: cargo xtask infra plan production\n      - run: cargo xtask infra apply production --yes\n",
    );
    assert_caught(&problems, "plans and applies production in one job");
    let problems = delivery_problems_after(
        "cd-production.yml",
        "          name: production-tfplan\n          path: infrastructure/environments/production\n",
        "          name: another-plan\n          path: infrastructure/environments/production\n",
    );
    assert_caught(&problems, "applies production without the plan artifact");
}

#[test]
fn a_toolchain_other_than_rust_toolchain_toml_is_caught() {
    let problems = delivery_problems_after("ci.yml", "toolchain: 1.95.0 #", "toolchain: stable #");
    assert_caught(
        &problems,
        "installs Rust `stable`, not rust-toolchain.toml's",
    );
}
