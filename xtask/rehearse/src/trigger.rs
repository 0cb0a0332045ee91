//! Whether a workflow runs for an event on a ref, and the `inputs` a `workflow_dispatch` run gets.
//! Branch filters use GitHub's globs (`*` within a path segment, `**` across them, `!` negates).
//! `paths:` filters need the pushed diff, which only GitHub has: they are reported, not applied.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

use crate::expr::Value;
use crate::workflow::{Trigger, Workflow};

/// The run's inputs and a note for each filter the rehearsal can't apply.
#[derive(Debug)]
pub struct Accepted {
    pub inputs: BTreeMap<String, Value>,
    pub notes: Vec<String>,
}

/// Checks that `workflow` runs for `event` on `git_ref`, and types the `--input`s.
pub fn check(
    workflow: &Workflow,
    event: &str,
    git_ref: &str,
    given: &[(String, String)],
) -> Result<Accepted> {
    let Some(trigger) = workflow.triggers.iter().find(|t| t.event == event) else {
        let events: Vec<_> = workflow.triggers.iter().map(|t| t.event.as_str()).collect();
        bail!(
            "{} is not triggered by {event}: pass --event {}",
            workflow.name,
            events.join("|")
        );
    };
    let branch = branch_of(git_ref);
    if matches!(event, "push" | "pull_request" | "workflow_run") && !branch_matches(trigger, branch)
    {
        bail!(
            "{} runs on {event} only for branches {}: pass a matching --ref",
            workflow.name,
            describe_filter(trigger)
        );
    }
    let mut notes = Vec::new();
    if !trigger.paths.is_empty() {
        notes.push(format!(
            "paths filter not applied (GitHub compares the pushed diff): {}",
            trigger.paths.join(", ")
        ));
    }
    if event != "workflow_dispatch" {
        if let Some((name, _)) = given.first() {
            bail!(
                "--input {name} given, but only workflow_dispatch has inputs: pass --event workflow_dispatch"
            );
        }
        return Ok(Accepted {
            inputs: BTreeMap::new(),
            notes,
        });
    }
    Ok(Accepted {
        inputs: dispatch_inputs(trigger, given)?,
        notes,
    })
}

fn dispatch_inputs(
    trigger: &Trigger,
    given: &[(String, String)],
) -> Result<BTreeMap<String, Value>> {
    for (name, _) in given {
        if !trigger.inputs.iter().any(|i| &i.name == name) {
            let declared: Vec<_> = trigger.inputs.iter().map(|i| i.name.as_str()).collect();
            bail!(
                "the workflow has no input `{name}`: declared inputs are [{}]",
                declared.join(", ")
            );
        }
    }
    let mut inputs = BTreeMap::new();
    for input in &trigger.inputs {
        let raw = given
            .iter()
            .rev()
            .find(|(n, _)| n == &input.name)
            .map(|(_, v)| v.clone())
            .or_else(|| input.default.clone());
        let Some(raw) = raw else {
            if input.required {
                bail!(
                    "input `{}` is required: pass --input {}=…",
                    input.name,
                    input.name
                );
            }
            inputs.insert(input.name.clone(), Value::str(""));
            continue;
        };
        let value = match input.kind.as_str() {
            "boolean" => match raw.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => bail!(
                    "input `{}` is a boolean: pass --input {}=true or =false",
                    input.name,
                    input.name
                ),
            },
            "number" => Value::Number(raw.parse().with_context(|| {
                format!(
                    "input `{}` is a number: pass --input {}=<number>",
                    input.name, input.name
                )
            })?),
            "choice" if !input.options.contains(&raw) => bail!(
                "input `{}` is one of [{}], not `{raw}`",
                input.name,
                input.options.join(", ")
            ),
            _ => Value::String(raw),
        };
        inputs.insert(input.name.clone(), value);
    }
    Ok(inputs)
}

/// `refs/heads/main` → `main`; tags and other refs are returned whole.
pub fn branch_of(git_ref: &str) -> &str {
    git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref)
}

fn describe_filter(trigger: &Trigger) -> String {
    let mut parts: Vec<String> = trigger.branches.clone();
    parts.extend(trigger.branches_ignore.iter().map(|b| format!("!{b}")));
    format!("[{}]", parts.join(", "))
}

fn branch_matches(trigger: &Trigger, branch: &str) -> bool {
    if !trigger.branches.is_empty() {
        // Patterns apply in order; a later `!pattern` excludes what an earlier one included.
        let mut included = false;
        for pattern in &trigger.branches {
            match pattern.strip_prefix('!') {
                Some(negated) if glob(negated, branch) => included = false,
                None if glob(pattern, branch) => included = true,
                _ => {}
            }
        }
        return included;
    }
    !trigger.branches_ignore.iter().any(|p| glob(p, branch))
}

/// GitHub's filter glob: `*` matches within a segment, `**` anything, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p {
            [] => t.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=t.len()).any(|i| go(rest, &t[i..])),
            [b'*', rest @ ..] => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(rest, &t[i..])),
            [b'?', rest @ ..] => !t.is_empty() && t[0] != b'/' && go(rest, &t[1..]),
            [c, rest @ ..] => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::parse;

    const CD: &str = r#"
name: cd
on:
  push:
    branches: [main, "release/*", "!release/old"]
  schedule:
    - cron: "0 5 * * 1"
  workflow_dispatch:
    inputs:
      rollback: { type: boolean, default: false }
      level: { type: choice, options: [low, high], default: low }
      reason: { type: string, required: true }
jobs:
  a:
    steps: [{ run: "true" }]
"#;

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn branch_filters() {
        let wf = parse(CD).unwrap();
        assert!(check(&wf, "push", "refs/heads/main", &[]).is_ok());
        assert!(check(&wf, "push", "refs/heads/release/1.2", &[]).is_ok());
        let err = check(&wf, "push", "refs/heads/release/old", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cd runs on push only for branches [main, release/*, !release/old]: pass a matching --ref"
        );
        assert!(check(&wf, "push", "refs/heads/develop", &[]).is_err());
        assert!(check(&wf, "schedule", "refs/heads/develop", &[]).is_ok());
    }

    #[test]
    fn an_event_without_a_trigger_is_refused() {
        let wf = parse(CD).unwrap();
        let err = check(&wf, "pull_request", "refs/heads/main", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cd is not triggered by pull_request: pass --event push|schedule|workflow_dispatch"
        );
    }

    #[test]
    fn dispatch_inputs_are_typed_with_defaults() {
        let wf = parse(CD).unwrap();
        let ok = check(
            &wf,
            "workflow_dispatch",
            "refs/heads/main",
            &given(&[("reason", "x")]),
        )
        .unwrap();
        assert_eq!(ok.inputs["rollback"], Value::Bool(false));
        assert_eq!(ok.inputs["level"], Value::str("low"));
        let ok = check(
            &wf,
            "workflow_dispatch",
            "refs/heads/main",
            &given(&[("reason", "x"), ("rollback", "true"), ("level", "high")]),
        )
        .unwrap();
        assert_eq!(ok.inputs["rollback"], Value::Bool(true));
        let bad = |pairs: &[(&str, &str)]| {
            check(&wf, "workflow_dispatch", "refs/heads/main", &given(pairs))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad(&[]),
            "input `reason` is required: pass --input reason=…"
        );
        assert_eq!(
            bad(&[("reason", "x"), ("rollback", "yes")]),
            "input `rollback` is a boolean: pass --input rollback=true or =false"
        );
        assert_eq!(
            bad(&[("reason", "x"), ("level", "mid")]),
            "input `level` is one of [low, high], not `mid`"
        );
        assert_eq!(
            bad(&[("reasn", "x")]),
            "the workflow has no input `reasn`: declared inputs are [rollback, level, reason]"
        );
        assert!(check(&wf, "push", "refs/heads/main", &given(&[("reason", "x")])).is_err());
    }

    #[test]
    fn globs() {
        assert!(glob("**", "feature/a/b"));
        assert!(glob("feature/*", "feature/a"));
        assert!(!glob("feature/*", "feature/a/b"));
        assert!(glob("v?.*", "v1.2"));
        assert!(!glob("main", "mainline"));
    }
}
