//! Running a stage's commands: each in its own process group, its output captured to the stage's
//! log, and the whole group killed when the stage is cancelled, so nothing it started lives on.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cmd::{Cmd, EnvValue};
use crate::pipeline::signal;
use crate::secret;

/// How long a process group gets to exit after SIGTERM before SIGKILL.
const TERMINATE_GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);

/// The error a step returns when it stopped because the stage was cancelled.
#[derive(Debug)]
pub struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// The error a step returns when it could not do its work on this machine, for a reason that is
/// not a failure of what it checks (a registry without the endpoint it needs): the stage is
/// reported as NOT RUN with `0`, never as passed.
#[derive(Debug)]
pub struct NotRun(pub String);

impl std::fmt::Display for NotRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not run: {}", self.0)
    }
}

impl std::error::Error for NotRun {}

/// Everything a stage printed, in order, redacted; kept in memory for the failure report and
/// written to `target/xtask/logs/<stage>.log`.
pub struct StageLog {
    text: Mutex<String>,
    file: Mutex<Option<File>>,
}

impl StageLog {
    pub fn new(path: Option<&Path>) -> StageLog {
        let file = path.and_then(|p| File::create(p).ok());
        StageLog {
            text: Mutex::new(String::new()),
            file: Mutex::new(file),
        }
    }

    pub fn line(&self, line: &str) {
        let line = secret::redact(line);
        let mut text = self.text.lock().unwrap_or_else(|e| e.into_inner());
        text.push_str(&line);
        text.push('\n');
        if let Some(file) = self.file.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = writeln!(file, "{line}");
        }
    }

    pub fn contents(&self) -> String {
        self.text.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One command as it ran, for the report.
#[derive(Clone, Debug)]
pub struct CommandRecord {
    pub command: String,
    pub exit_code: Option<i32>,
    pub duration: Duration,
}

/// What a running stage's steps get: where to log, how to run a command, the environment that
/// earlier steps provided, and whether the stage has been cancelled.
pub struct StageContext {
    pub root: PathBuf,
    log: Arc<StageLog>,
    cancel: Arc<AtomicBool>,
    env: Vec<(String, EnvValue)>,
    pub commands: Vec<CommandRecord>,
}

impl StageContext {
    pub fn new(root: PathBuf, log: Arc<StageLog>, cancel: Arc<AtomicBool>) -> Self {
        StageContext {
            root,
            log,
            cancel,
            env: Vec::new(),
            commands: Vec::new(),
        }
    }

    pub fn log(&self, line: impl AsRef<str>) {
        self.log.line(line.as_ref());
    }

    pub fn log_contents(&self) -> String {
        self.log.contents()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst) || signal::interrupted()
    }

    pub fn check_cancelled(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Cancelled.into())
        } else {
            Ok(())
        }
    }

    /// A value an earlier step provided.
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.expose().to_owned())
    }

    /// Hands `env` to every later command of the stage.
    pub fn add_env(&mut self, env: Vec<(String, EnvValue)>) {
        self.env.extend(env);
    }

    fn with_stage_env(&self, cmd: &Cmd) -> Cmd {
        self.env.iter().fold(cmd.clone(), |cmd, (k, v)| {
            cmd.env_value(k.clone(), v.clone())
        })
    }

    /// Runs `cmd` to completion; a non-zero exit is an error that names the command.
    pub fn run(&mut self, cmd: &Cmd) -> Result<()> {
        let cmd = self.with_stage_env(cmd);
        let status = self.run_status(&cmd)?;
        if !status.success() {
            bail!("`{}` failed with {}", strip_prompt(&cmd), describe(status));
        }
        Ok(())
    }

    /// Runs `cmd` to completion and returns its exit status, whatever it is.
    pub fn run_status(&mut self, cmd: &Cmd) -> Result<ExitStatus> {
        self.check_cancelled()?;
        self.log(cmd.to_string());
        let started = Instant::now();
        let mut process = spawn(&self.root, cmd, self.log.clone(), "")?;
        let outcome = loop {
            if let Some(status) = process.child.try_wait()? {
                break Ok(status);
            }
            if self.is_cancelled() {
                process.terminate();
                break Err(Cancelled);
            }
            thread::sleep(POLL);
        };
        process.finish_output();
        let exit_code = outcome.as_ref().ok().and_then(|s| s.code());
        self.commands.push(CommandRecord {
            command: cmd.to_string(),
            exit_code,
            duration: started.elapsed(),
        });
        Ok(outcome?)
    }

    /// Starts `cmd` in the background, its output going to the stage log behind `[label]`.
    /// Dropping the returned handle stops it.
    pub fn spawn_background(&mut self, label: &str, cmd: &Cmd) -> Result<Background> {
        self.check_cancelled()?;
        let cmd = self.with_stage_env(cmd);
        self.log(format!("{cmd} &"));
        self.commands.push(CommandRecord {
            command: format!("{cmd} &"),
            exit_code: None,
            duration: Duration::ZERO,
        });
        let process = spawn(&self.root, &cmd, self.log.clone(), &format!("[{label}] "))?;
        Ok(Background {
            process,
            label: label.to_owned(),
        })
    }
}

/// A command started in the background by a stage, stopped (its whole process group) on drop.
pub struct Background {
    process: Process,
    label: String,
}

impl Background {
    /// Fails when the process has already exited, naming its exit status.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.process.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!("{} exited early with {}", self.label, describe(status)),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.process.terminate();
        self.process.finish_output();
    }
}

struct Process {
    child: Child,
    output: Option<thread::JoinHandle<()>>,
}

impl Process {
    fn signal(&self, signal: i32) {
        // The child leads its own process group, so the negative pid reaches everything it
        // started. The group may already be gone; that is fine.
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }

    fn kill_group(&self) {
        self.signal(libc::SIGKILL);
    }

    /// SIGTERM to the group, SIGKILL after the grace period, and reaps the child.
    fn terminate(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            self.kill_group(); // leftovers of an exited leader
            return;
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + TERMINATE_GRACE;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            thread::sleep(POLL);
        }
        self.kill_group();
        let _ = self.child.wait();
    }

    /// Waits briefly for the output to drain. A grandchild that outlives its parent may hold the
    /// pipe open forever, so the reader is left behind rather than joined without limit.
    fn finish_output(&mut self) {
        let Some(reader) = self.output.take() else {
            return;
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while !reader.is_finished() && Instant::now() < deadline {
            thread::sleep(POLL);
        }
        if reader.is_finished() {
            let _ = reader.join();
        }
    }
}

fn spawn(root: &Path, cmd: &Cmd, log: Arc<StageLog>, prefix: &str) -> Result<Process> {
    let (reader, writer) = std::io::pipe().context("creating an output pipe")?;
    let mut command = cmd.to_command(root);
    command
        .stdout(writer.try_clone().context("duplicating an output pipe")?)
        .stderr(writer)
        .stdin(if cmd.get_stdin().is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .process_group(0);
    let mut child = command
        .spawn()
        .with_context(|| match which::which(cmd.program()) {
            Err(_) => format!("`{}` is not installed or not on PATH", cmd.program()),
            Ok(_) => format!("could not start `{}`", strip_prompt(cmd)),
        })?;
    // The Command still holds the pipe's write ends; drop them so the reader sees EOF.
    drop(command);
    if let Some(input) = cmd.get_stdin() {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin
            .write_all(input.expose().as_bytes())
            .context("writing to the command's stdin")?;
    }
    let prefix = prefix.to_owned();
    let output = thread::spawn(move || {
        for line in BufReader::new(reader).split(b'\n') {
            let Ok(line) = line else { break };
            log.line(&format!(
                "{prefix}{}",
                String::from_utf8_lossy(&line).trim_end_matches('\r')
            ));
        }
    });
    Ok(Process {
        child,
        output: Some(output),
    })
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "an unknown status".to_owned(),
    }
}

/// `cmd` without its directory prompt, for error messages.
fn strip_prompt(cmd: &Cmd) -> String {
    let shown = cmd.to_string();
    match shown.split_once("$ ") {
        Some((_, rest)) => rest.to_owned(),
        None => shown,
    }
}
