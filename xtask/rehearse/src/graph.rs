//! The order jobs run in: every job after the jobs it `needs`, otherwise in file order. GitHub
//! runs independent jobs in parallel; the rehearsal runs them one at a time in this order.

use anyhow::{Result, bail};

use crate::workflow::Job;

/// Indexes into `jobs`, each after its needs. An unknown need or a cycle is an error naming it.
pub fn order(jobs: &[Job]) -> Result<Vec<usize>> {
    for job in jobs {
        for need in &job.needs {
            if !jobs.iter().any(|j| &j.id == need) {
                bail!(
                    "job `{}` needs `{need}`, which the workflow doesn't have: fix its `needs:`",
                    job.id
                );
            }
        }
    }
    let mut ordered: Vec<usize> = Vec::new();
    while ordered.len() < jobs.len() {
        let ready = (0..jobs.len()).find(|&i| {
            !ordered.contains(&i)
                && jobs[i]
                    .needs
                    .iter()
                    .all(|n| ordered.iter().any(|&o| &jobs[o].id == n))
        });
        match ready {
            Some(i) => ordered.push(i),
            None => {
                let stuck: Vec<_> = (0..jobs.len())
                    .filter(|i| !ordered.contains(i))
                    .map(|i| jobs[i].id.as_str())
                    .collect();
                bail!(
                    "the `needs:` of jobs [{}] form a cycle: break it",
                    stuck.join(", ")
                );
            }
        }
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::parse;

    fn ids(yaml: &str) -> Result<Vec<String>> {
        let wf = parse(yaml).unwrap();
        Ok(order(&wf.jobs)?
            .into_iter()
            .map(|i| wf.jobs[i].id.clone())
            .collect())
    }

    const STEP: &str = "    steps: [{ run: 'true' }]\n";

    #[test]
    fn needs_come_first() {
        let yaml = format!(
            "on: push\njobs:\n  deploy:\n    needs: [build, infra]\n{STEP}  build:\n{STEP}  infra:\n    needs: build\n{STEP}"
        );
        assert_eq!(ids(&yaml).unwrap(), ["build", "infra", "deploy"]);
    }

    #[test]
    fn unknown_needs_and_cycles_are_named() {
        let yaml =
            format!("on: push\njobs:\n  deploy:\n    needs: [biuld]\n{STEP}  build:\n{STEP}");
        assert_eq!(
            ids(&yaml).unwrap_err().to_string(),
            "job `deploy` needs `biuld`, which the workflow doesn't have: fix its `needs:`"
        );
        let yaml = format!(
            "on: push\njobs:\n  a:\n    needs: b\n{STEP}  b:\n    needs: a\n{STEP}  c:\n{STEP}"
        );
        assert_eq!(
            ids(&yaml).unwrap_err().to_string(),
            "the `needs:` of jobs [a, b] form a cycle: break it"
        );
    }
}
