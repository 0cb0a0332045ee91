//! A workflow file as data: the parts of GitHub's workflow syntax the rehearsal acts on. Scalars
//! stay text (`${{ }}` is substituted when a step runs); anything unexpected is an error that names
//! the file and the key.

use std::path::Path;

use anyhow::{Context, Result, bail};
use yaml_rust2::{Yaml, YamlLoader};

#[derive(Debug)]
pub struct Workflow {
    pub name: String,
    pub triggers: Vec<Trigger>,
    pub env: Vec<(String, String)>,
    pub defaults: RunDefaults,
    pub concurrency: Option<String>,
    pub jobs: Vec<Job>,
}

/// One event under `on:`.
#[derive(Debug, Default)]
pub struct Trigger {
    pub event: String,
    pub branches: Vec<String>,
    pub branches_ignore: Vec<String>,
    pub paths: Vec<String>,
    /// `workflow_run`: the workflows whose runs trigger this one.
    pub workflows: Vec<String>,
    pub inputs: Vec<Input>,
}

/// A `workflow_dispatch` input.
#[derive(Debug, Default)]
pub struct Input {
    pub name: String,
    pub kind: String,
    pub default: Option<String>,
    pub required: bool,
    pub options: Vec<String>,
}

/// `defaults.run`.
#[derive(Clone, Debug, Default)]
pub struct RunDefaults {
    pub shell: Option<String>,
    pub working_directory: Option<String>,
}

#[derive(Debug)]
pub struct Job {
    pub id: String,
    pub name: Option<String>,
    pub needs: Vec<String>,
    pub condition: Option<String>,
    pub env: Vec<(String, String)>,
    pub environment: Option<String>,
    pub timeout_minutes: Option<f64>,
    pub defaults: RunDefaults,
    pub concurrency: Option<String>,
    pub outputs: Vec<(String, String)>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Default)]
pub struct Step {
    pub id: Option<String>,
    pub name: Option<String>,
    pub condition: Option<String>,
    pub run: Option<String>,
    pub uses: Option<String>,
    pub with: Vec<(String, String)>,
    pub env: Vec<(String, String)>,
    pub shell: Option<String>,
    pub working_directory: Option<String>,
    pub timeout_minutes: Option<f64>,
    pub continue_on_error: bool,
}

impl Step {
    /// What the output calls the step: its name, else its command or action.
    pub fn label(&self, index: usize) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        if let Some(uses) = &self.uses {
            return action_name(uses).to_owned();
        }
        match self.run.as_deref().and_then(|r| r.lines().next()) {
            Some(line) => line.trim().to_owned(),
            None => format!("step {}", index + 1),
        }
    }
}

/// `owner/repo[/path]` without the `@ref`.
pub fn action_name(uses: &str) -> &str {
    uses.split('@').next().unwrap_or(uses)
}

pub fn load(path: &Path) -> Result<Workflow> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("in {}", path.display()))
}

pub fn parse(text: &str) -> Result<Workflow> {
    let docs = YamlLoader::load_from_str(text).context("not valid YAML")?;
    let Some(doc) = docs.first() else {
        bail!("the file is empty");
    };
    let Some(jobs) = doc["jobs"].as_hash() else {
        bail!("no `jobs:` mapping");
    };
    let jobs = jobs
        .iter()
        .map(|(id, job)| {
            let id = scalar(id).context("a job id that is not text")?;
            parse_job(&id, job).with_context(|| format!("in job `{id}`"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Workflow {
        name: scalar(&doc["name"]).unwrap_or_default(),
        triggers: parse_triggers(&doc["on"])?,
        env: mapping(&doc["env"], "env")?,
        defaults: parse_defaults(&doc["defaults"]),
        concurrency: concurrency(&doc["concurrency"]),
        jobs,
    })
}

fn parse_triggers(on: &Yaml) -> Result<Vec<Trigger>> {
    let event = |name: &str| Trigger {
        event: name.to_owned(),
        ..Trigger::default()
    };
    match on {
        Yaml::String(name) => Ok(vec![event(name)]),
        Yaml::Array(names) => names
            .iter()
            .map(|n| {
                scalar(n)
                    .map(|n| event(&n))
                    .context("an event that is not text")
            })
            .collect(),
        Yaml::Hash(events) => events
            .iter()
            .map(|(name, filters)| {
                let name = scalar(name).context("an event that is not text")?;
                let mut trigger = event(&name);
                trigger.branches = list(&filters["branches"]);
                trigger.branches_ignore = list(&filters["branches-ignore"]);
                trigger.paths = list(&filters["paths"]);
                trigger.workflows = list(&filters["workflows"]);
                if let Some(inputs) = filters["inputs"].as_hash() {
                    for (input, spec) in inputs {
                        trigger.inputs.push(Input {
                            name: scalar(input).context("an input name that is not text")?,
                            kind: scalar(&spec["type"]).unwrap_or_else(|| "string".into()),
                            default: scalar(&spec["default"]),
                            required: spec["required"].as_bool().unwrap_or(false),
                            options: list(&spec["options"]),
                        });
                    }
                }
                Ok(trigger)
            })
            .collect(),
        _ => bail!("no `on:` triggers"),
    }
}

fn parse_job(id: &str, job: &Yaml) -> Result<Job> {
    if !job["uses"].is_badvalue() {
        bail!("reusable workflows (`uses:` on a job) are not rehearsed");
    }
    let steps = job["steps"]
        .as_vec()
        .with_context(|| format!("job `{id}` has no `steps:` list"))?;
    let environment = match &job["environment"] {
        Yaml::Hash(_) => scalar(&job["environment"]["name"]),
        other => scalar(other),
    };
    Ok(Job {
        id: id.to_owned(),
        name: scalar(&job["name"]),
        needs: list(&job["needs"]),
        condition: scalar(&job["if"]),
        env: mapping(&job["env"], "env")?,
        environment,
        timeout_minutes: minutes(&job["timeout-minutes"])?,
        defaults: parse_defaults(&job["defaults"]),
        concurrency: concurrency(&job["concurrency"]),
        outputs: mapping(&job["outputs"], "outputs")?,
        steps: steps
            .iter()
            .enumerate()
            .map(|(i, s)| parse_step(s).with_context(|| format!("in step {}", i + 1)))
            .collect::<Result<_>>()?,
    })
}

fn parse_step(step: &Yaml) -> Result<Step> {
    let step = Step {
        id: scalar(&step["id"]),
        name: scalar(&step["name"]),
        condition: scalar(&step["if"]),
        run: scalar(&step["run"]),
        uses: scalar(&step["uses"]),
        with: mapping(&step["with"], "with")?,
        env: mapping(&step["env"], "env")?,
        shell: scalar(&step["shell"]),
        working_directory: scalar(&step["working-directory"]),
        timeout_minutes: minutes(&step["timeout-minutes"])?,
        continue_on_error: step["continue-on-error"].as_bool().unwrap_or(false),
    };
    if step.run.is_some() == step.uses.is_some() {
        bail!("a step needs exactly one of `run:` and `uses:`");
    }
    Ok(step)
}

fn parse_defaults(defaults: &Yaml) -> RunDefaults {
    RunDefaults {
        shell: scalar(&defaults["run"]["shell"]),
        working_directory: scalar(&defaults["run"]["working-directory"]),
    }
}

fn concurrency(value: &Yaml) -> Option<String> {
    match value {
        Yaml::Hash(_) => scalar(&value["group"]),
        other => scalar(other),
    }
}

fn minutes(value: &Yaml) -> Result<Option<f64>> {
    Ok(match value {
        Yaml::Integer(n) => Some(*n as f64),
        Yaml::Real(r) => Some(r.parse().context("timeout-minutes is not a number")?),
        Yaml::BadValue | Yaml::Null => None,
        other => bail!("timeout-minutes must be a number, not {other:?}"),
    })
}

/// A scalar as its text (`true`, `30`, `2.5` included); `None` for absent or null.
pub fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(n) => Some(n.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A scalar or a list of scalars.
fn list(value: &Yaml) -> Vec<String> {
    match value {
        Yaml::Array(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

fn mapping(value: &Yaml, key: &str) -> Result<Vec<(String, String)>> {
    match value {
        Yaml::BadValue | Yaml::Null => Ok(Vec::new()),
        Yaml::Hash(map) => map
            .iter()
            .map(|(k, v)| {
                let k = scalar(k).with_context(|| format!("a `{key}:` key that is not text"))?;
                Ok((k, scalar(v).unwrap_or_default()))
            })
            .collect(),
        other => bail!("`{key}:` must be a mapping, not {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_triggers_jobs_and_steps() {
        let workflow = parse(
            r#"
name: cd
on:
  push:
    branches: [main]
  workflow_dispatch:
    inputs:
      rollback: { type: boolean, default: false }
env: { A: "1" }
concurrency: { group: "deploy-${{ github.ref }}", cancel-in-progress: false }
jobs:
  deploy:
    needs: build
    environment: { name: production, url: "https://example.com" }
    timeout-minutes: 0.5
    steps:
      - id: one
        run: echo hi
        env: { B: 2 }
      - uses: actions/checkout@abc
        with: { persist-credentials: false }
"#,
        )
        .unwrap();
        assert_eq!(workflow.name, "cd");
        assert_eq!(workflow.triggers[0].branches, ["main"]);
        assert_eq!(workflow.triggers[1].inputs[0].kind, "boolean");
        assert_eq!(
            workflow.triggers[1].inputs[0].default.as_deref(),
            Some("false")
        );
        assert_eq!(
            workflow.concurrency.as_deref(),
            Some("deploy-${{ github.ref }}")
        );
        let job = &workflow.jobs[0];
        assert_eq!(job.needs, ["build"]);
        assert_eq!(job.environment.as_deref(), Some("production"));
        assert_eq!(job.timeout_minutes, Some(0.5));
        assert_eq!(job.steps[0].env, [("B".to_owned(), "2".to_owned())]);
        assert_eq!(job.steps[1].label(1), "actions/checkout");
        assert_eq!(job.steps[1].with[0].1, "false");
    }

    #[test]
    fn a_step_with_both_run_and_uses_is_an_error() {
        let err = parse("on: push\njobs:\n  a:\n    steps:\n      - run: x\n        uses: y@1\n")
            .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "in job `a`: in step 1: a step needs exactly one of `run:` and `uses:`"
        );
    }
}
