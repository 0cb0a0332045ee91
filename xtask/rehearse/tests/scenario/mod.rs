//! What every scenario needs: a scratch clone of the repository to plant things in, the
//! rehearsal run inside it with a secrets file, and the notification receivers on loopback.

mod receivers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

pub use receivers::Receivers;
use xtask_rehearse::workflow::{self, Workflow};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Scenarios share the project's `target/` (the scan's reports, the stage cache, the xtask's
/// binary): one runs at a time, whatever the test harness's thread count.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A clone of the repository's committed HEAD under `target/scenarios/<name>`, removed when the
/// scenario ends. Its `target/` is the project's, so the workflows' builds start warm.
pub struct Scratch {
    pub dir: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        // A scenario that failed still hands the turn on.
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let root = project_root();
        let dir = root.join("target/scenarios").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        git(&root, &["clone", "--quiet", "--local", "."])
            .arg(&dir)
            .status()
            .unwrap()
            .success()
            .then_some(())
            .expect("git clone of the repository");
        let scratch = Scratch { dir, _turn: turn };
        scratch.git(&["config", "user.email", "scenarios@eventflow.invalid"]);
        scratch.git(&["config", "user.name", "EventFlow scenarios"]);
        std::os::unix::fs::symlink(root.join("target"), scratch.dir.join("target")).unwrap();
        scratch
    }

    fn git(&self, args: &[&str]) -> String {
        let output = git(&self.dir, args).output().unwrap();
        assert!(
            output.status.success(),
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn workflow_file(&self, name: &str) -> PathBuf {
        self.dir
            .join(".github/workflows")
            .join(format!("{name}.yml"))
    }

    /// The clone's workflow, parsed as the rehearsal parses it, so that scenarios find jobs and
    /// steps by what they do rather than by hard-coded names.
    pub fn workflow(&self, name: &str) -> Workflow {
        workflow::load(&self.workflow_file(name)).unwrap()
    }

    /// Writes `path` and commits it: the rehearsal checks out the commit, not the work tree.
    pub fn commit_file(&self, path: &str, text: &str, message: &str) {
        let file = self.dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        self.git(&["add", path]);
        self.git(&["commit", "--quiet", "-m", message]);
    }

    /// Replaces the one occurrence of `old` in the workflow with `new` and commits it; a workflow
    /// that no longer holds `old` fails the scenario naming it, so the scenario is updated with it.
    pub fn edit_workflow(&self, name: &str, old: &str, new: &str) {
        let file = self.workflow_file(name);
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            text.matches(old).count(),
            1,
            "{name}.yml should hold `{old}` exactly once: update the scenario with the workflow"
        );
        let path = format!(".github/workflows/{name}.yml");
        self.commit_file(
            &path,
            &text.replacen(old, new, 1),
            &format!("{name}: planted"),
        );
    }

    /// Inserts `step` (YAML at a step's indentation) before the first step of job `job` whose
    /// first line holds `needle`, and commits it; a job or step the workflow no longer has fails
    /// the scenario naming it.
    pub fn plant_step_before(&self, name: &str, job: &str, needle: &str, step: &str) {
        let file = self.workflow_file(name);
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines
            .iter()
            .position(|l| *l == format!("  {job}:"))
            .unwrap_or_else(|| panic!("{name}.yml has no job `{job}`: update the scenario"));
        let at = lines[start + 1..]
            .iter()
            .take_while(|l| l.is_empty() || l.starts_with("   ") || l.starts_with("  #"))
            .position(|l| l.starts_with("      - ") && l.contains(needle))
            .map(|i| start + 1 + i)
            .unwrap_or_else(|| {
                panic!("job `{job}` of {name}.yml has no step with `{needle}`: update the scenario")
            });
        let mut planted: Vec<&str> = lines[..at].to_vec();
        planted.extend(step.lines());
        planted.extend(&lines[at..]);
        let path = format!(".github/workflows/{name}.yml");
        self.commit_file(
            &path,
            &(planted.join("\n") + "\n"),
            &format!("{name}: planted"),
        );
    }

    /// `cargo xtask rehearse <args> --secrets-file …` in the clone: its exit status and stdout,
    /// with stderr after it.
    pub fn rehearse(&self, args: &[&str], secrets: &Secrets) -> (bool, String) {
        let Output {
            status,
            stdout,
            stderr,
        } = Command::new(env!("CARGO_BIN_EXE_xtask-rehearse"))
            .args(args)
            .arg("--secrets-file")
            .arg(&secrets.file)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
        (status.success(), text)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn git(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("git");
    command.args(args).current_dir(dir);
    command
}

/// The secrets file of a scenario, beside its clone (never inside it: the scan would read it).
pub struct Secrets {
    file: PathBuf,
    lines: Vec<String>,
}

/// The recipients the email notifications go to.
pub const NOTIFY_EMAIL: &str = "ops@eventflow.test";

impl Secrets {
    /// The notification secrets, pointing at `receivers`.
    pub fn for_receivers(scratch: &Scratch, receivers: &Receivers) -> Secrets {
        let mut secrets = Secrets {
            file: scratch.dir.with_extension("secrets"),
            lines: Vec::new(),
        };
        secrets.add("SLACK_WEBHOOK_URL", &receivers.slack_url());
        secrets.add("SMTP_URL", &receivers.smtp_url());
        // The recipients are a variable in ci and the security scan, an environment secret in
        // the deploy workflows.
        secrets.add("vars.NOTIFY_EMAIL", NOTIFY_EMAIL);
        secrets.add("NOTIFY_EMAIL", NOTIFY_EMAIL);
        secrets
    }

    fn add(&mut self, key: &str, value: &str) {
        self.lines.push(format!("{key}={value}"));
        std::fs::write(&self.file, self.lines.join("\n") + "\n").unwrap();
    }

    fn has(&self, key: &str) -> bool {
        self.lines.iter().any(|l| l.starts_with(&format!("{key}=")))
    }

    /// A made-up value for every other `secrets.NAME` and `vars.NAME` the workflow reads.
    pub fn fill_for(&mut self, scratch: &Scratch, workflow: &str) {
        let text = std::fs::read_to_string(scratch.workflow_file(workflow)).unwrap();
        for (prefix, key_prefix) in [("secrets.", ""), ("vars.", "vars.")] {
            for (at, _) in text.match_indices(prefix) {
                let name: String = text[at + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let key = format!("{key_prefix}{name}");
                if !name.is_empty() && !self.has(&key) {
                    self.add(&key, &format!("scenario-{}", name.to_ascii_lowercase()));
                }
            }
        }
    }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// The number of blocking findings the security scan's last line reports.
pub fn blocking_findings(out: &str) -> u32 {
    out.lines()
        .filter(|l| l.contains("security-scan:") && l.contains("blocking finding(s)"))
        .filter_map(|l| {
            let part = l.split("; ").find(|p| p.contains("blocking finding(s)"))?;
            part.split_whitespace().next()?.parse().ok()
        })
        .next_back()
        .unwrap_or_else(|| panic!("the security scan reported no summary line:\n{out}"))
}

#[track_caller]
pub fn assert_has(text: &str, wanted: &[&str]) {
    for line in wanted {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
}

#[track_caller]
pub fn assert_lacks(text: &str, unwanted: &[&str]) {
    for line in unwanted {
        assert!(!text.contains(line), "`{line}` in:\n{text}");
    }
}
