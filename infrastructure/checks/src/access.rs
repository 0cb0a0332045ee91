//! Would a policy let a request through? IAM's evaluation of identity policies, enough to prove
//! what the roles may not do: `Action`/`NotAction` and `Resource`/`NotResource` with `*` and `?`
//! wildcards, an explicit Deny winning over any Allow, and the condition operators the
//! repository's policies use.
//!
//! Conditions are judged in the caller's favour, so a proof can't rest on something the caller
//! controls: a condition key the request's [`Context`] doesn't state is taken as chosen by the
//! caller, so an Allow's condition on it holds and a Deny's doesn't apply. Facts about the
//! resource (its tags, a key's aliases) and keys the caller leaves out on purpose
//! ([`Fact::Absent`]) are stated.

use std::collections::BTreeMap;

use serde_json::Value;

/// What is known about one condition key of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    /// The key has these values (a single-valued key has one).
    Values(Vec<String>),
    /// The request doesn't carry the key (e.g. CreateRole without a permissions boundary).
    Absent,
}

/// Condition keys known about a request; any other key is the caller's to choose.
pub type Context = BTreeMap<String, Fact>;

/// The outcome of evaluating one policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An Allow statement matches and no Deny does (its Sid).
    Allowed(String),
    /// A Deny statement matches (its Sid).
    Denied(String),
    /// Nothing matches: implicitly denied.
    NotAllowed,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }
}

/// `pattern` with `*` (any run) and `?` (one character) matches `text`.
pub fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t) = if ignore_case {
        (pattern.to_ascii_lowercase(), text.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), text.to_owned())
    };
    let (p, t) = (p.as_bytes(), t.as_bytes());
    // Iterative glob with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(Value::Bool(b)) => vec![b.to_string()],
        _ => Vec::new(),
    }
}

/// Whether the statement's action and resource elements cover the request.
fn covers(statement: &Value, action: &str, resource: &str) -> bool {
    let action_ok = match (statement.get("Action"), statement.get("NotAction")) {
        (Some(a), _) => strings(Some(a)).iter().any(|p| wildcard(p, action, true)),
        (None, Some(n)) => !strings(Some(n)).iter().any(|p| wildcard(p, action, true)),
        (None, None) => false,
    };
    let resource_ok = match (statement.get("Resource"), statement.get("NotResource")) {
        (Some(r), _) => strings(Some(r))
            .iter()
            .any(|p| wildcard(p, resource, false)),
        (None, Some(n)) => !strings(Some(n))
            .iter()
            .any(|p| wildcard(p, resource, false)),
        (None, None) => false,
    };
    action_ok && resource_ok
}

/// Whether the statement's conditions hold for the request, judged in the caller's favour
/// (see the module's documentation). An operator this evaluator doesn't know counts as holding
/// for an Allow and as not holding for a Deny.
fn conditions_hold(statement: &Value, context: &Context, allow: bool) -> bool {
    let Some(conditions) = statement.get("Condition").and_then(Value::as_object) else {
        return true;
    };
    for (operator, keys) in conditions {
        let Some(keys) = keys.as_object() else {
            return allow;
        };
        for (key, wanted) in keys {
            let wanted = strings(Some(wanted));
            let holds = match context.get(key) {
                None => allow,
                Some(Fact::Absent) => false,
                Some(Fact::Values(have)) => {
                    let (any_value, op) = match operator.strip_prefix("ForAnyValue:") {
                        Some(op) => (true, op),
                        None => (false, operator.as_str()),
                    };
                    let matches = |v: &String| match op {
                        "StringEquals" | "ArnEquals" | "Bool" => wanted.contains(v),
                        "StringLike" | "ArnLike" => wanted.iter().any(|w| wildcard(w, v, false)),
                        _ => allow,
                    };
                    if any_value {
                        have.iter().any(matches)
                    } else {
                        !have.is_empty() && have.iter().all(matches)
                    }
                }
            };
            if !holds {
                return false;
            }
        }
    }
    true
}

/// One policy's decision on `action` on `resource`.
pub fn decide(policy: &Value, action: &str, resource: &str, context: &Context) -> Decision {
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    let sid = |s: &Value| s["Sid"].as_str().unwrap_or("(no Sid)").to_owned();
    for s in &statements {
        if s["Effect"] == "Deny"
            && covers(s, action, resource)
            && conditions_hold(s, context, false)
        {
            return Decision::Denied(sid(s));
        }
    }
    for s in &statements {
        if s["Effect"] == "Allow"
            && covers(s, action, resource)
            && conditions_hold(s, context, true)
        {
            return Decision::Allowed(sid(s));
        }
    }
    Decision::NotAllowed
}

/// A role's decision: its policy, within its permissions boundary when it has one (both must
/// allow; a Deny in either refuses).
pub fn decide_bounded(
    policy: &Value,
    boundary: Option<&Value>,
    action: &str,
    resource: &str,
    context: &Context,
) -> Decision {
    let own = decide(policy, action, resource, context);
    match boundary {
        None => own,
        Some(boundary) => match (own, decide(boundary, action, resource, context)) {
            (Decision::Denied(s), _) | (_, Decision::Denied(s)) => Decision::Denied(s),
            (Decision::Allowed(s), Decision::Allowed(_)) => Decision::Allowed(s),
            _ => Decision::NotAllowed,
        },
    }
}

/// Every action a policy's Allow statements name (wildcards as written).
pub fn allowed_actions(policy: &Value) -> Vec<String> {
    let mut out: Vec<String> = policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| strings(s.get("Action")))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(pairs: &[(&str, Fact)]) -> Context {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(wildcard("ecs:*", "ECS:UpdateService", true));
        assert!(!wildcard("ecs:*", "ECS:UpdateService", false));
        assert!(wildcard(
            "arn:aws:ssm:*:*:parameter/eventflow/production/*",
            "arn:aws:ssm:eu-central-1:1:parameter/eventflow/production/releases/v1",
            false
        ));
        assert!(wildcard("a*b?", "axxbz", false));
        assert!(!wildcard("a*b?", "axxbyz", false));
        assert!(wildcard("*", "", false) && !wildcard("?", "", false));
    }

    #[test]
    fn a_deny_wins_and_not_action_spares_what_it_names() {
        let policy = json!({"Statement": [
            {"Sid": "All", "Effect": "Allow", "Action": "ssm:*", "Resource": "*"},
            {"Sid": "ReadOnly", "Effect": "Deny", "NotAction": ["ssm:GetParameter"], "Resource": "arn:p/*"},
        ]});
        let none = Context::new();
        assert_eq!(
            decide(&policy, "ssm:PutParameter", "arn:p/x", &none),
            Decision::Denied("ReadOnly".into())
        );
        assert!(decide(&policy, "ssm:GetParameter", "arn:p/x", &none).is_allowed());
        assert!(decide(&policy, "ssm:PutParameter", "arn:q/x", &none).is_allowed());
        assert_eq!(
            decide(&policy, "s3:GetObject", "arn:q/x", &none),
            Decision::NotAllowed
        );
    }

    #[test]
    fn conditions_are_judged_in_the_callers_favour() {
        let policy = json!({"Statement": [
            {"Sid": "Bounded", "Effect": "Allow", "Action": "iam:CreateRole", "Resource": "*",
             "Condition": {"StringEquals": {"iam:PermissionsBoundary": "arn:b"}}},
            {"Sid": "Tagged", "Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"StringEquals": {"aws:ResourceTag/Environment": ["production"]}}},
        ]});
        // The caller chooses the boundary: the Allow holds, the tag Deny doesn't apply.
        assert!(decide(&policy, "iam:CreateRole", "r", &Context::new()).is_allowed());
        // Stated otherwise, or left out: not allowed.
        for fact in [Fact::Values(vec!["arn:other".into()]), Fact::Absent] {
            let c = ctx(&[("iam:PermissionsBoundary", fact)]);
            assert_eq!(
                decide(&policy, "iam:CreateRole", "r", &c),
                Decision::NotAllowed
            );
        }
        let tagged = ctx(&[(
            "aws:ResourceTag/Environment",
            Fact::Values(vec!["production".into()]),
        )]);
        assert_eq!(
            decide(&policy, "iam:CreateRole", "r", &tagged),
            Decision::Denied("Tagged".into())
        );
    }

    #[test]
    fn a_boundary_must_allow_too() {
        let policy = json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        let boundary =
            json!({"Statement": [{"Effect": "Allow", "Action": "ecs:*", "Resource": "*"}]});
        let c = Context::new();
        assert!(
            decide_bounded(&policy, Some(&boundary), "ecs:UpdateService", "s", &c).is_allowed()
        );
        assert_eq!(
            decide_bounded(&policy, Some(&boundary), "iam:CreateRole", "s", &c),
            Decision::NotAllowed
        );
    }
}
