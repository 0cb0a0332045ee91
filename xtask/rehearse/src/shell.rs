//! A `run:` step as a command: its shell (GitHub's `bash -e {0}` unless `shell:` says otherwise)
//! with the script file as an argument, in its working directory under the workspace.

use std::path::Path;

use anyhow::{Result, bail};

use crate::command::Command;
use crate::workflow::{Job, RunDefaults, Step};

/// The step's shell as a command: `bash -e <script>` unless `shell:` (or `defaults.run.shell`)
/// says otherwise, in `working-directory` under the workspace.
pub fn command(
    step: &Step,
    job: &Job,
    defaults: &RunDefaults,
    script: &Path,
    workspace: &Path,
) -> Result<Command> {
    let shell = step
        .shell
        .clone()
        .or_else(|| job.defaults.shell.clone())
        .or_else(|| defaults.shell.clone());
    let dir = step
        .working_directory
        .clone()
        .or_else(|| job.defaults.working_directory.clone())
        .or_else(|| defaults.working_directory.clone());
    let dir = match dir {
        Some(d) => workspace.join(d),
        None => workspace.to_owned(),
    };
    let file = script.display().to_string();
    let (program, args): (&str, Vec<String>) = match shell.as_deref() {
        // GitHub's default on Linux: `bash -e {0}`.
        None => ("bash", vec!["-e".into(), file]),
        Some("bash") => (
            "bash",
            ["--noprofile", "--norc", "-eo", "pipefail"]
                .iter()
                .map(|s| (*s).to_owned())
                .chain([file])
                .collect(),
        ),
        Some("sh") => ("sh", vec!["-e".into(), file]),
        Some("python") => ("python3", vec![file]),
        Some(custom) if custom.contains("{0}") => {
            let mut words = custom.split_whitespace();
            let program = words.next().unwrap_or_default();
            let args = words.map(|w| w.replace("{0}", &file)).collect();
            return Ok(Command::new(program, dir).args::<Vec<String>, String>(args));
        }
        Some(other) => bail!(
            "shell `{other}` in job `{}`: use bash, sh, python or a command with {{0}}",
            job.id
        ),
    };
    Ok(Command::new(program, dir).args(args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::parse;

    fn command_of(yaml_job: &str) -> Result<String> {
        let wf = parse(&format!("on: push\n{yaml_job}")).unwrap();
        let job = &wf.jobs[0];
        let cmd = command(
            &job.steps[0],
            job,
            &wf.defaults,
            Path::new("/runner/temp/s.sh"),
            Path::new("/ws"),
        )?;
        Ok(format!("{}$ {cmd}", cmd.dir.display()))
    }

    #[test]
    fn githubs_default_shell_and_the_overrides() {
        let plain = "jobs:\n  a:\n    steps:\n      - run: echo\n";
        assert_eq!(command_of(plain).unwrap(), "/ws$ bash -e /runner/temp/s.sh");
        let bash = "jobs:\n  a:\n    steps:\n      - run: echo\n        shell: bash\n        working-directory: frontend\n";
        assert_eq!(
            command_of(bash).unwrap(),
            "/ws/frontend$ bash --noprofile --norc -eo pipefail /runner/temp/s.sh"
        );
        let defaults = "defaults:\n  run:\n    shell: sh\n    working-directory: backend\njobs:\n  a:\n    steps:\n      - run: echo\n";
        assert_eq!(
            command_of(defaults).unwrap(),
            "/ws/backend$ sh -e /runner/temp/s.sh"
        );
        let custom =
            "jobs:\n  a:\n    steps:\n      - run: print(1)\n        shell: python3 -u {0}\n";
        assert_eq!(
            command_of(custom).unwrap(),
            "/ws$ python3 -u /runner/temp/s.sh"
        );
        let unknown = "jobs:\n  a:\n    steps:\n      - run: x\n        shell: fish\n";
        assert_eq!(
            command_of(unknown).unwrap_err().to_string(),
            "shell `fish` in job `a`: use bash, sh, python or a command with {0}"
        );
    }
}
