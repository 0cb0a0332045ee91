//! The promise that CI runs exactly what a developer runs, as a test.
//!
//! Every workflow in `.github/workflows/` is parsed, and the test fails when
//! - a step is anything but a setup action (checkout, toolchain, caches, credentials, tool
//!   installers; pinned to a full commit sha with its version in a comment) or a single
//!   `cargo xtask …` line,
//! - a `cargo xtask` call names a command or flag that the command tree in `cli.rs` doesn't have,
//! - a stage of `cargo xtask ci` has no job in `ci.yml` that runs it, or its job doesn't wait for
//!   the jobs of the stages it comes after (the jobs' `needs:` mirror the stage graph).

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
    // Hands the deploy engine the staging deploy built to GitHub, for laptop rollbacks.
    "actions/upload-artifact",
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
            .starts_with("ci.yml: job `lint`, step 7: `npm test` is not a `cargo xtask` command"),
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
