//! The stage cache: a stage whose inputs are byte-for-byte what they were when it last passed
//! is not run again, as Turborepo and Nx do for tasks.
//!
//! A stage's key is a SHA-256 over everything that can change its result: its own plan (the
//! exact commands, so editing a stage invalidates it), the content of every file its globs match
//! among the tracked and untracked-but-not-ignored files, the versions of the tools it runs, and
//! the environment variables it declares. A passing run leaves a small record,
//! `target/xtask/cache/<key>.json`; failures leave nothing. A record that can't be read or
//! doesn't match its name is ignored, never trusted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use glob::{MatchOptions, Pattern};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cmd::Cmd;
use crate::pipeline::stage::Stage;

/// What a stage's result depends on. Stages without inputs are never cached; neither are stages
/// with effects outside the machine (push, deploy, apply), which simply declare none.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Globs over repository paths; a leading `!` excludes.
    pub files: Vec<&'static str>,
    /// Programs whose `--version` output is part of the key.
    pub tools: Vec<&'static str>,
    pub env: Vec<&'static str>,
    /// Files the stage leaves for others (a build's output, a scanner's findings): no cache hit
    /// unless each is still exactly what the stage left.
    pub outputs: Vec<String>,
    /// Commands that succeed while the stage's result is still in place outside the repository
    /// (an image in the Docker engine): no cache hit when one fails.
    pub present: Vec<Cmd>,
}

impl Inputs {
    pub fn files(files: &[&'static str]) -> Inputs {
        Inputs {
            files: files.to_vec(),
            ..Inputs::default()
        }
    }

    pub fn tools(mut self, tools: &[&'static str]) -> Inputs {
        self.tools.extend(tools);
        self
    }

    pub fn env(mut self, env: &[&'static str]) -> Inputs {
        self.env.extend(env);
        self
    }

    pub fn outputs(mut self, outputs: &[&str]) -> Inputs {
        self.outputs.extend(outputs.iter().map(|o| (*o).to_owned()));
        self
    }

    pub fn present(mut self, probe: Cmd) -> Inputs {
        self.present.push(probe);
        self
    }
}

/// A hit: the stage passed with this key before, taking `saved`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub saved: Duration,
}

pub struct Cache {
    root: PathBuf,
    dir: PathBuf,
    /// Repository files, relative, `/`-separated, sorted.
    files: Vec<String>,
    file_hashes: Mutex<HashMap<String, String>>,
    tool_versions: Mutex<HashMap<&'static str, String>>,
    notes: Mutex<Vec<String>>,
}

impl Cache {
    pub fn dir(root: &Path) -> PathBuf {
        root.join("target/xtask/cache")
    }

    /// Lists the repository's files once; everything else is computed on demand and memoised.
    pub fn open(root: &Path) -> Result<Cache> {
        let output = std::process::Command::new("git")
            .args([
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ])
            .current_dir(root)
            .output()
            .context("running `git ls-files` to list the inputs of cached stages")?;
        if !output.status.success() {
            bail!(
                "`git ls-files` failed: the stage cache needs a git repository (run with --no-cache outside one)"
            );
        }
        let mut files: Vec<String> = output
            .stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        files.sort();
        files.dedup();
        Ok(Cache {
            root: root.to_path_buf(),
            dir: Cache::dir(root),
            files,
            file_hashes: Mutex::default(),
            tool_versions: Mutex::default(),
            notes: Mutex::default(),
        })
    }

    /// Why records were ignored this run, for the stage logs.
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut self.notes.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The stage's key, or `None` when it declares no inputs.
    pub fn key(&self, stage: &Stage, plan: &str) -> Result<Option<String>> {
        let Some(inputs) = &stage.inputs else {
            return Ok(None);
        };
        let mut material = format!(
            "eventflow-stage-cache v1\nstage {}\nplan\n{plan}\n",
            stage.name
        );
        for path in self.matching(&inputs.files)? {
            let _ = writeln!(material, "file {path} {}", self.file_hash(&path));
        }
        for tool in &inputs.tools {
            let _ = writeln!(material, "tool {tool} {}", self.tool_version(tool));
        }
        for name in &inputs.env {
            // Hashed so that a secret's value never reaches the key material in clear.
            let value = std::env::var(name).map(|v| hex(&Sha256::digest(v.as_bytes())));
            let _ = writeln!(
                material,
                "env {name} {}",
                value.as_deref().unwrap_or("<unset>")
            );
        }
        Ok(Some(hex(&Sha256::digest(material.as_bytes()))))
    }

    /// The record for `key`, when there is a valid one and the stage's outputs still exist.
    pub fn lookup(&self, stage: &Stage, key: &str) -> Option<Hit> {
        let path = self.record_path(key);
        let text = std::fs::read_to_string(&path).ok()?;
        let record: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        let valid = record.as_ref().and_then(|r| {
            let matches = r["key"] == key && r["stage"] == stage.name;
            let millis = r["duration_ms"].as_u64()?;
            matches.then(|| Duration::from_millis(millis))
        });
        let Some(saved) = valid else {
            self.note(format!(
                "ignored an unreadable cache record for {} ({})",
                stage.name,
                path.display()
            ));
            return None;
        };
        let Some(inputs) = &stage.inputs else {
            return Some(Hit { saved });
        };
        for output in &inputs.outputs {
            let left = record.as_ref().and_then(|r| r["outputs"][output].as_str());
            let now = std::fs::read(self.root.join(output))
                .ok()
                .map(|bytes| hex(&Sha256::digest(&bytes)));
            let why = match (now, left) {
                (None, _) => "is missing",
                (Some(now), Some(left)) if now == left => continue,
                _ => "is not what the stage left",
            };
            self.note(format!("{output} {why}, so {} runs again", stage.name));
            return None;
        }
        for probe in &inputs.present {
            let present = probe
                .to_command(&self.root)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !present {
                self.note(format!(
                    "`{}` failed, so {} runs again",
                    probe.to_string().trim_start_matches("$ "),
                    stage.name
                ));
                return None;
            }
        }
        Some(Hit { saved })
    }

    /// Records a pass. Written to a temporary file and renamed, so a reader (another `ci` run at
    /// the same time) sees the whole record or none.
    pub fn store(
        &self,
        stage: &str,
        key: &str,
        duration: Duration,
        outputs: &[String],
    ) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let mut left = serde_json::Map::new();
        for output in outputs {
            let path = self.root.join(output);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("{} did not leave {output}", stage))?;
            left.insert(output.clone(), hex(&Sha256::digest(&bytes)).into());
        }
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let record = json!({
            "stage": stage,
            "key": key,
            "duration_ms": duration.as_millis() as u64,
            "created_unix": created,
            "outputs": left,
        });
        let temporary = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        std::fs::write(&temporary, record.to_string())
            .with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, self.record_path(key))
            .with_context(|| format!("storing the cache record for {stage}"))
    }

    fn record_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn note(&self, note: String) {
        self.notes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(note);
    }

    fn matching(&self, globs: &[&'static str]) -> Result<Vec<String>> {
        let compile = |g: &str| Pattern::new(g).with_context(|| format!("bad input glob `{g}`"));
        let include: Vec<Pattern> = globs
            .iter()
            .filter(|g| !g.starts_with('!'))
            .map(|g| compile(g))
            .collect::<Result<_>>()?;
        let exclude: Vec<Pattern> = globs
            .iter()
            .filter_map(|g| g.strip_prefix('!'))
            .map(compile)
            .collect::<Result<_>>()?;
        let options = MatchOptions {
            require_literal_separator: true,
            ..MatchOptions::new()
        };
        Ok(self
            .files
            .iter()
            .filter(|f| include.iter().any(|p| p.matches_with(f, options)))
            .filter(|f| !exclude.iter().any(|p| p.matches_with(f, options)))
            .cloned()
            .collect())
    }

    fn file_hash(&self, path: &str) -> String {
        if let Some(hash) = self
            .file_hashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
        {
            return hash.clone();
        }
        // A tracked file deleted from the work tree is an input too: its absence.
        let hash = match std::fs::read(self.root.join(path)) {
            Ok(bytes) => hex(&Sha256::digest(&bytes)),
            Err(_) => "<missing>".to_owned(),
        };
        self.file_hashes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned(), hash.clone());
        hash
    }

    fn tool_version(&self, tool: &'static str) -> String {
        if let Some(version) = self
            .tool_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tool)
        {
            return version.clone();
        }
        let script = script_identity(tool);
        let memo = script.as_ref().and_then(|id| self.remembered_version(id));
        let version = memo.unwrap_or_else(|| {
            let version = std::process::Command::new(tool)
                .arg("--version")
                .current_dir(&self.root)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map_or_else(
                    || "<unavailable>".to_owned(),
                    |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
                );
            if let Some(id) = &script {
                self.remember_version(id, &version);
            }
            version
        });
        self.tool_versions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tool, version.clone());
        version
    }
}

impl Cache {
    /// Script tools (checkov, detect-secrets) take seconds to start just to print a version;
    /// their versions are remembered by the script's identity. Binaries, rustup's proxies among
    /// them, are always asked: a proxy stays the same file when the toolchain behind it changes.
    fn remembered_version(&self, script: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join(TOOL_VERSIONS)).ok()?;
        let memo: serde_json::Value = serde_json::from_str(&text).ok()?;
        memo[script].as_str().map(str::to_owned)
    }

    fn remember_version(&self, script: &str, version: &str) {
        let path = self.dir.join(TOOL_VERSIONS);
        let mut memo = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| json!({}));
        memo[script] = version.into();
        let temporary = self
            .dir
            .join(format!(".{TOOL_VERSIONS}.{}.tmp", std::process::id()));
        // A memo that can't be written costs the slow `--version` next time, nothing more.
        let _ = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&temporary, memo.to_string()))
            .and_then(|()| std::fs::rename(&temporary, &path));
    }
}

const TOOL_VERSIONS: &str = "tool-versions.json";

/// Path, modification time and content hash of a tool that is a `#!` script: installers
/// rewrite the script on every upgrade (new time) even where its text stays the same.
fn script_identity(tool: &str) -> Option<String> {
    let path = which::which(tool).ok()?.canonicalize().ok()?;
    let text = std::fs::read(&path).ok()?;
    if !text.starts_with(b"#!") {
        return None;
    }
    let modified = std::fs::metadata(&path)
        .ok()?
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?;
    Some(format!(
        "{} {} {}",
        path.display(),
        modified.as_nanos(),
        hex(&Sha256::digest(&text))
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
