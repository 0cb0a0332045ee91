//! What GitHub tells a run about itself: the `github` context of expressions and the `GITHUB_*`
//! and `RUNNER_*` variables of every step.

use std::collections::BTreeMap;
use std::path::Path;

use crate::expr::Value;
use crate::run::Request;
use crate::trigger;
use crate::workflow::Job;

/// The `github` context; the event payload holds what the workflows read of it.
pub fn context(req: &Request, inputs: &BTreeMap<String, Value>) -> Value {
    let branch = trigger::branch_of(&req.git_ref).to_owned();
    let mut event = BTreeMap::new();
    match req.event.as_str() {
        "workflow_dispatch" => {
            let as_text = inputs
                .iter()
                .map(|(k, v)| (k.clone(), Value::str(v.to_string())))
                .collect();
            event.insert("inputs".to_owned(), Value::Object(as_text));
        }
        "pull_request" => {
            // A pull request from a branch of this repository, never from a fork.
            let repo = Value::object([("full_name", Value::str(&req.repository))]);
            event.insert(
                "pull_request".to_owned(),
                Value::object([
                    ("number", Value::Number(1.0)),
                    (
                        "head",
                        Value::object([("repo", repo), ("sha", Value::str(&req.sha))]),
                    ),
                    ("base", Value::object([("ref", Value::str(&branch))])),
                ]),
            );
        }
        "workflow_run" => {
            let (head_sha, head_ref) = match &req.triggering {
                Some(run) => (&run.sha, &run.git_ref),
                None => (&req.sha, &req.git_ref),
            };
            let workflows = req
                .workflow
                .triggers
                .iter()
                .find(|t| t.event == "workflow_run");
            let name = workflows
                .and_then(|t| t.workflows.first())
                .cloned()
                .unwrap_or_default();
            event.insert(
                "workflow_run".to_owned(),
                Value::object([
                    // The triggering run's id: made up, the rehearsal ran no such run.
                    ("id", Value::str(req.run_id.saturating_sub(1).to_string())),
                    ("name", Value::str(name)),
                    ("conclusion", Value::str("success")),
                    ("event", Value::str("push")),
                    ("head_sha", Value::str(head_sha)),
                    ("head_branch", Value::str(trigger::branch_of(head_ref))),
                ]),
            );
        }
        _ => {}
    }
    Value::object([
        ("event_name", Value::str(&req.event)),
        ("event", Value::Object(event)),
        ("ref", Value::str(&req.git_ref)),
        ("ref_name", Value::str(&branch)),
        ("sha", Value::str(&req.sha)),
        ("actor", Value::str(&req.actor)),
        ("repository", Value::str(&req.repository)),
        ("run_id", Value::str(req.run_id.to_string())),
        ("run_number", Value::str(req.run_number.to_string())),
        ("run_attempt", Value::str("1")),
        ("workflow", Value::str(&req.workflow.name)),
        ("server_url", Value::str("https://github.com")),
    ])
}

/// The variables GitHub's runner sets for every step of a job.
pub fn variables(req: &Request, job: &Job, workspace: &Path, temp: &Path) -> Vec<(String, String)> {
    let branch = trigger::branch_of(&req.git_ref);
    let ref_type = if req.git_ref.starts_with("refs/tags/") {
        "tag"
    } else {
        "branch"
    };
    [
        ("CI", "true".to_owned()),
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("GITHUB_WORKFLOW", req.workflow.name.clone()),
        ("GITHUB_RUN_ID", req.run_id.to_string()),
        ("GITHUB_RUN_NUMBER", req.run_number.to_string()),
        ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
        ("GITHUB_ACTOR", req.actor.clone()),
        ("GITHUB_REPOSITORY", req.repository.clone()),
        ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
        ("GITHUB_EVENT_NAME", req.event.clone()),
        ("GITHUB_SHA", req.sha.clone()),
        ("GITHUB_REF", req.git_ref.clone()),
        ("GITHUB_REF_NAME", branch.to_owned()),
        ("GITHUB_REF_TYPE", ref_type.to_owned()),
        ("GITHUB_WORKSPACE", workspace.display().to_string()),
        ("GITHUB_JOB", job.id.clone()),
        ("RUNNER_OS", "Linux".to_owned()),
        ("RUNNER_ARCH", "X64".to_owned()),
        ("RUNNER_NAME", "rehearsal".to_owned()),
        ("RUNNER_TEMP", temp.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
