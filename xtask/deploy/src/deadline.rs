//! Child commands with a deadline. The end-to-end suite and the smoke tests run as child
//! `cargo xtask` processes that start their own children (cargo, the test binary, a browser); a
//! stalled one must not hold a deploy and its lease forever. Each runs in its own process group,
//! and the whole group is killed when its deadline passes or the run stops waiting for it.

use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long a child may run, and the flag that changes it (named in the error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub limit: Duration,
    pub flag: &'static str,
}

/// Kills the child's whole process group when dropped, unless the child has exited: a deadline,
/// a Ctrl-C (the caller's `select!` drops the future) or an error all leave no process behind.
struct Group {
    pgid: Option<i32>,
}

impl Group {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: kill(2) with a negative pid signals the process group the child leads; it
            // touches no memory of ours.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `command` (`what` names it in errors) until it exits or `deadline` passes; then its
/// process group is killed and the error names the deadline and the flag that raises it.
pub async fn run(
    mut command: tokio::process::Command,
    what: &str,
    deadline: Deadline,
) -> Result<ExitStatus> {
    command.process_group(0).kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let mut group = Group {
        pgid: child.id().and_then(|id| i32::try_from(id).ok()),
    };
    match tokio::time::timeout(deadline.limit, child.wait()).await {
        Ok(status) => {
            // The leader exited; what it left running in its group goes with it.
            group.kill();
            status.with_context(|| format!("waiting for {what}"))
        }
        Err(_) => {
            group.kill();
            let _ = child.wait().await;
            bail!(
                "{what} did not finish within its deadline of {}s and was killed with its child processes: raise it with {} SECS",
                deadline.limit.as_secs(),
                deadline.flag
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAG: Deadline = Deadline {
        limit: Duration::from_secs(1),
        flag: "--suite-timeout",
    };

    /// Running or sleeping; a killed process is gone or a zombie (`Z`) until something reaps it.
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                stat.rsplit_once(") ")
                    .map(|(_, rest)| !rest.starts_with('Z'))
            })
            .unwrap_or(false)
    }

    #[tokio::test]
    async fn a_child_that_finishes_in_time_gives_its_status() {
        let mut command = tokio::process::Command::new("true");
        command.arg("ignored");
        let status = run(command, "`true`", FLAG).await.unwrap();
        assert!(status.success());
    }

    #[tokio::test]
    async fn a_stalled_child_is_killed_with_its_children_and_the_error_names_the_flag() {
        let dir = std::env::temp_dir().join(format!("eventflow-deadline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("grandchild.pid");
        // A child that starts a grandchild and waits for it, as `cargo xtask test e2e` does.
        let mut command = tokio::process::Command::new("sh");
        command.args([
            "-c",
            &format!("sleep 30 & echo $! > {}; wait", pid_file.display()),
        ]);
        let started = std::time::Instant::now();
        let err = run(command, "the end-to-end suite", FLAG)
            .await
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(
            err,
            "the end-to-end suite did not finish within its deadline of 1s and was killed with its child processes: raise it with --suite-timeout SECS"
        );
        let grandchild: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild was killed with the group (the signal lands asynchronously: poll briefly).
        let mut gone = false;
        for _ in 0..50 {
            if !alive(grandchild) {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(gone, "the grandchild {grandchild} outlived the deadline");
    }
}
