//! `--cancel-at JOB[.STEP][+SECS]`: cancel the run SECS seconds after that job (or that step of
//! it) starts, as if someone pressed "Cancel workflow" on GitHub at that moment.

use std::cell::Cell;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

#[derive(Debug)]
pub struct CancelAt {
    pub job: String,
    /// A step's id, name or 1-based position.
    pub step: Option<String>,
    pub after: Duration,
    due_at: Cell<Option<Instant>>,
}

impl CancelAt {
    pub fn parse(text: &str) -> Result<CancelAt> {
        let (target, secs) = match text.split_once('+') {
            Some((target, secs)) => (
                target,
                secs.parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .with_context(|| {
                        format!("`{secs}` is not seconds: pass --cancel-at JOB[.STEP][+SECS]")
                    })?,
            ),
            None => (text, 0.0),
        };
        let (job, step) = match target.split_once('.') {
            Some((job, step)) => (job, Some(step.to_owned())),
            None => (target, None),
        };
        if job.is_empty() || step.as_deref() == Some("") {
            bail!("`{text}` names no job: pass --cancel-at JOB[.STEP][+SECS]");
        }
        Ok(CancelAt {
            job: job.to_owned(),
            step,
            after: Duration::from_secs_f64(secs),
            due_at: Cell::new(None),
        })
    }

    pub fn job_started(&self, job: &str) {
        if self.job == job && self.step.is_none() {
            self.due_at.set(Some(Instant::now() + self.after));
        }
    }

    /// `keys`: the step's id, name, label and position.
    pub fn step_started(&self, job: &str, keys: &[String]) {
        if self.job == job && self.step.as_ref().is_some_and(|s| keys.contains(s)) {
            self.due_at.set(Some(Instant::now() + self.after));
        }
    }

    /// Whether the moment has come; it comes once.
    pub fn due(&self) -> bool {
        let due = self.due_at.get().is_some_and(|at| Instant::now() >= at);
        if due {
            self.due_at.set(None);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_job_step_and_delay() {
        let at = CancelAt::parse("deploy.canary+2.5").unwrap();
        assert_eq!(
            (at.job.as_str(), at.step.as_deref()),
            ("deploy", Some("canary"))
        );
        assert_eq!(at.after, Duration::from_millis(2500));
        let at = CancelAt::parse("deploy").unwrap();
        assert_eq!((at.step, at.after), (None, Duration::ZERO));
        assert!(CancelAt::parse("deploy+soon").is_err());
        assert!(CancelAt::parse(".x").is_err());
    }

    #[test]
    fn comes_once_after_its_step_starts() {
        let at = CancelAt::parse("deploy.2").unwrap();
        at.job_started("deploy");
        assert!(!at.due(), "waits for its step");
        at.step_started("deploy", &["2".into()]);
        assert!(at.due());
        assert!(!at.due());
    }
}
