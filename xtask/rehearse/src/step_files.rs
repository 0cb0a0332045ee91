//! A step's script and the environment files GitHub gives it (GITHUB_OUTPUT, GITHUB_ENV,
//! GITHUB_PATH, GITHUB_STEP_SUMMARY), and what the step wrote to them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::env_files;

/// A step's script and the environment files GitHub gives it.
pub struct StepFiles {
    pub script: PathBuf,
    output: PathBuf,
    env: PathBuf,
    path: PathBuf,
    summary: PathBuf,
}

pub struct FilesRead {
    pub outputs: BTreeMap<String, String>,
    pub env: Vec<(String, String)>,
    pub path: Vec<String>,
    pub summary: String,
}

impl StepFiles {
    pub fn new(temp: &Path, index: usize) -> StepFiles {
        let file = |what: &str| temp.join(format!("step-{}-{what}", index + 1));
        StepFiles {
            script: file("script.sh"),
            output: file("output"),
            env: file("env"),
            path: file("path"),
            summary: file("summary.md"),
        }
    }

    pub fn variables(&self) -> Vec<(String, String)> {
        [
            ("GITHUB_OUTPUT", &self.output),
            ("GITHUB_ENV", &self.env),
            ("GITHUB_PATH", &self.path),
            ("GITHUB_STEP_SUMMARY", &self.summary),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.display().to_string()))
        .collect()
    }

    pub fn create(&self, script: &str) -> Result<()> {
        std::fs::write(&self.script, script)
            .with_context(|| format!("writing {}", self.script.display()))?;
        for file in [&self.output, &self.env, &self.path, &self.summary] {
            std::fs::write(file, "").with_context(|| format!("creating {}", file.display()))?;
        }
        Ok(())
    }

    pub fn read_outputs(&self) -> Result<FilesRead> {
        let read = |file: &Path| std::fs::read_to_string(file).unwrap_or_default();
        Ok(FilesRead {
            outputs: env_files::parse(&read(&self.output))
                .context("in GITHUB_OUTPUT")?
                .into_iter()
                .collect(),
            env: env_files::parse(&read(&self.env)).context("in GITHUB_ENV")?,
            path: read(&self.path)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned)
                .collect(),
            summary: read(&self.summary),
        })
    }
}
