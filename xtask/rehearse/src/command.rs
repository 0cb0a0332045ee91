//! External commands as data: program, arguments, directory and environment, built first and
//! then either run or printed by `--dry-run`. No shell: a `run:` script reaches its shell as a
//! file, the way GitHub's runner passes it.

use std::fmt;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Command {
    pub program: String,
    pub args: Vec<String>,
    pub dir: PathBuf,
    /// Set on top of the environment the command inherits.
    pub env: Vec<(String, String)>,
    /// Inherited variables taken away first (a prefix ending in `_` takes every such name).
    pub unset: Vec<String>,
}

impl Command {
    pub fn new(program: impl Into<String>, dir: impl Into<PathBuf>) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            dir: dir.into(),
            env: Vec::new(),
            unset: Vec::new(),
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn to_std(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command.args(&self.args).current_dir(&self.dir);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let unset = self.unset.iter().any(|u| {
                if u.ends_with('_') {
                    name.starts_with(u.as_str())
                } else {
                    *name == **u
                }
            });
            if unset {
                command.env_remove(&*name);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs to completion, capturing its output; an error carries the command and its stderr.
    pub fn output(&self) -> anyhow::Result<String> {
        let output = self
            .to_std()
            .output()
            .map_err(|e| anyhow::anyhow!("running `{self}`: {e}"))?;
        if !output.status.success() {
            anyhow::bail!(
                "`{self}` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

/// `program arg 'two words'` (the directory and environment are printed apart).
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quote(&self.program))?;
        for arg in &self.args {
            write!(f, " {}", quote(arg))?;
        }
        Ok(())
    }
}

/// POSIX single quotes where a shell would need them: for reading, never for execution.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+^".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_quoted_and_runs_without_a_shell() {
        let cmd = Command::new("printf", "/").args(["%s", "a;b $HOME"]);
        assert_eq!(cmd.to_string(), "printf %s 'a;b $HOME'");
        assert_eq!(cmd.output().unwrap(), "a;b $HOME");
        let err = Command::new("false", "/").output().unwrap_err();
        assert_eq!(err.to_string(), "`false` failed: ");
    }
}
