//! A `run:` step's process: its own process group, its output streamed line by line (masked),
//! and stopped the way GitHub's runner stops a cancelled or timed-out step: SIGINT to the group,
//! SIGTERM 7.5 s later, SIGKILL of the whole group 2.5 s after that.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::command::Command;

/// The pauses between the signals of a stop. `REHEARSE_STOP_GRACE_MS=<int>,<term>` shortens
/// them, for tests only.
#[derive(Clone, Copy, Debug)]
pub struct Grace {
    pub interrupt: Duration,
    pub terminate: Duration,
}

impl Grace {
    pub const GITHUB: Grace = Grace {
        interrupt: Duration::from_millis(7500),
        terminate: Duration::from_millis(2500),
    };

    pub fn from_env() -> Grace {
        Grace::parse(std::env::var("REHEARSE_STOP_GRACE_MS").ok().as_deref())
    }

    /// `<int>,<term>` in milliseconds; GitHub's pauses for anything else.
    fn parse(text: Option<&str>) -> Grace {
        let parsed = text.and_then(|v| {
            let (a, b) = v.split_once(',')?;
            Some(Grace {
                interrupt: Duration::from_millis(a.trim().parse().ok()?),
                terminate: Duration::from_millis(b.trim().parse().ok()?),
            })
        });
        parsed.unwrap_or(Grace::GITHUB)
    }
}

/// Why the step was stopped, if it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The run (Ctrl-C, `--cancel-at`) or the job (its timeout) was cancelled.
    Cancel,
    /// The step's own `timeout-minutes` ran out.
    StepTimeout,
}

#[derive(Debug)]
pub enum Ending {
    Exited(ExitStatus),
    /// Stopped; the last signal it took to end the group.
    Stopped(Stop, &'static str),
}

/// Runs `command`, printing each output line through `show`, until it exits or `stop` says so.
/// Returns the process group, which the job kills at its end (GitHub ends a job's orphans).
pub fn run(
    command: &Command,
    show: &dyn Fn(&str),
    step_deadline: Option<Instant>,
    stop: &dyn Fn() -> bool,
    grace: Grace,
) -> Result<(Ending, i32)> {
    let mut child = command
        .to_std()
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{command}`"))?;
    let group = child.id() as i32;
    let (lines, received) = mpsc::channel::<String>();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|pipe| {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(|l| l.ok()) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        })
    })
    .collect();
    drop(lines);
    let drain = |until: Duration| {
        while let Ok(line) = received.recv_timeout(until) {
            show(&line);
        }
    };
    let ending = loop {
        while let Ok(line) = received.try_recv() {
            show(&line);
        }
        if let Some(status) = child.try_wait()? {
            break Ending::Exited(status);
        }
        let reason = if stop() {
            Some(Stop::Cancel)
        } else if step_deadline.is_some_and(|d| Instant::now() >= d) {
            Some(Stop::StepTimeout)
        } else {
            None
        };
        if let Some(reason) = reason {
            let signal = escalate(&mut child, group, grace, &|| {
                while let Ok(line) = received.try_recv() {
                    show(&line);
                }
            })?;
            break Ending::Stopped(reason, signal);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // A background process may hold the pipes open: wait briefly, then leave the rest of its
    // output to the job's end.
    drain(Duration::from_millis(200));
    if readers.iter().all(|r| r.is_finished()) {
        drain(Duration::ZERO);
    }
    Ok((ending, group))
}

/// SIGINT, then SIGTERM, then SIGKILL to the group, each after its grace; the signal that ended
/// the step. Whatever survives in the group is killed at the end either way.
fn escalate(
    child: &mut std::process::Child,
    group: i32,
    grace: Grace,
    pump: &dyn Fn(),
) -> Result<&'static str> {
    let steps = [
        (libc::SIGINT, "SIGINT", grace.interrupt),
        (libc::SIGTERM, "SIGTERM", grace.terminate),
    ];
    for (signal, name, wait) in steps {
        signal_group(group, signal);
        let until = Instant::now() + wait;
        while Instant::now() < until {
            pump();
            if child.try_wait()?.is_some() {
                signal_group(group, libc::SIGKILL);
                return Ok(name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    signal_group(group, libc::SIGKILL);
    child.wait()?;
    Ok("SIGKILL")
}

pub fn signal_group(group: i32, signal: libc::c_int) {
    // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory, and
    // a group that is gone already only makes it return ESRCH.
    unsafe {
        libc::kill(-group, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pauses_are_githubs_unless_a_test_shortens_them() {
        let short = Grace::parse(Some("300, 200"));
        assert_eq!(short.interrupt, Duration::from_millis(300));
        assert_eq!(short.terminate, Duration::from_millis(200));
        for other in [None, Some("fast"), Some("300"), Some("1,x")] {
            let grace = Grace::parse(other);
            assert_eq!(grace.interrupt, Duration::from_millis(7500), "{other:?}");
            assert_eq!(grace.terminate, Duration::from_millis(2500), "{other:?}");
        }
    }
}
