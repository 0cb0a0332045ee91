//! External commands as data.
//!
//! A [`Cmd`] is built first (program, arguments, working directory, environment, stdin) and only
//! then either run by the pipeline or printed by `--dry-run`. There is no shell anywhere: each
//! argument reaches the program as one `argv` entry, and secrets can be passed only through the
//! environment or stdin, never as arguments, so they can't show up in `ps` or in an echo.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::secret::Secret;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    Plain(String),
    Secret(Secret),
}

impl EnvValue {
    pub fn expose(&self) -> &str {
        match self {
            EnvValue::Plain(v) => v,
            EnvValue::Secret(s) => s.expose(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    /// Relative to the project root; `None` is the root itself.
    dir: Option<PathBuf>,
    env: Vec<(String, EnvValue)>,
    stdin: Option<Secret>,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            dir: None,
            env: Vec::new(),
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs the command in `dir`, relative to the project root.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.dir = Some(dir.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Cmd {
        self.env.push((key.into(), EnvValue::Plain(value.into())));
        self
    }

    pub fn secret_env(mut self, key: impl Into<String>, value: Secret) -> Cmd {
        self.env.push((key.into(), EnvValue::Secret(value)));
        self
    }

    pub fn env_value(mut self, key: impl Into<String>, value: EnvValue) -> Cmd {
        self.env.push((key.into(), value));
        self
    }

    /// Feeds `input` to the program's stdin (for example a registry password).
    #[allow(dead_code)] // the way `docker login --password-stdin` gets its password
    pub fn stdin_secret(mut self, input: Secret) -> Cmd {
        self.stdin = Some(input);
        self
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    pub fn get_stdin(&self) -> Option<&Secret> {
        self.stdin.as_ref()
    }

    /// The process to spawn, rooted at `root`.
    pub fn to_command(&self, root: &Path) -> std::process::Command {
        let mut command = std::process::Command::new(&self.program);
        command.args(&self.args);
        command.current_dir(match &self.dir {
            Some(dir) => root.join(dir),
            None => root.to_path_buf(),
        });
        for (key, value) in &self.env {
            command.env(key, value.expose());
        }
        command
    }
}

/// The command as a person would type it: `frontend$ NAME=value program arg 'two words'`,
/// with every secret printed as `***`.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(dir) = &self.dir {
            write!(f, "{}", dir.display())?;
        }
        f.write_str("$ ")?;
        for (key, value) in &self.env {
            match value {
                EnvValue::Plain(v) => write!(f, "{key}={} ", quote(v))?,
                EnvValue::Secret(s) => write!(f, "{key}={s} ")?,
            }
        }
        f.write_str(&quote(&self.program))?;
        for arg in &self.args {
            write!(f, " {}", quote(arg))?;
        }
        if let Some(stdin) = &self.stdin {
            write!(f, " <<< {stdin}")?;
        }
        Ok(())
    }
}

/// POSIX single-quoting, only where a shell would need it: the echo is for reading and
/// copy-pasting, never for execution.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+*^".contains(c));
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
    fn displays_like_a_prompt_with_quoting() {
        let cmd = Cmd::new("cargo")
            .args(["test", "--", "--test-threads", "2"])
            .arg("it's here");
        assert_eq!(
            cmd.to_string(),
            r"$ cargo test -- --test-threads 2 'it'\''s here'"
        );
    }

    #[test]
    fn displays_directory_and_environment() {
        let cmd = Cmd::new("npm")
            .args(["run", "lint"])
            .dir("frontend")
            .env("CI", "true");
        assert_eq!(cmd.to_string(), "frontend$ CI=true npm run lint");
    }

    #[test]
    fn secrets_never_print() {
        let cmd = Cmd::new("docker")
            .args(["login", "--password-stdin"])
            .secret_env("TOKEN", Secret::new("tok-123456"))
            .stdin_secret(Secret::new("pw-abcdef"));
        let shown = cmd.to_string();
        assert_eq!(shown, "$ TOKEN=*** docker login --password-stdin <<< ***");
        assert!(!format!("{cmd:?}").contains("pw-abcdef"));
    }

    #[test]
    fn arguments_reach_the_program_verbatim() {
        let cmd = Cmd::new("printf")
            .arg("%s;rm -rf /")
            .dir("sub")
            .env("A", "b");
        let command = cmd.to_command(Path::new("/project"));
        assert_eq!(command.get_program(), "printf");
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(args, ["%s;rm -rf /"]);
        assert_eq!(command.get_current_dir(), Some(Path::new("/project/sub")));
    }
}
