//! What a stage is: a name, the stages it needs, the tools it checks for, and its steps.

use std::fmt;

use anyhow::Result;

use crate::cmd::{Cmd, EnvValue};
use crate::pipeline::cache::Inputs;
use crate::pipeline::process::StageContext;

pub struct Stage {
    pub name: &'static str,
    /// The `cargo xtask` arguments that run this stage on its own (for the workflows' parity test).
    pub command: &'static [&'static str],
    /// Stages whose output this one uses (installed dependencies, a build). Running the stage
    /// on its own runs these too.
    pub needs: Vec<&'static str>,
    /// Stages that gate this one in a pipeline (integration tests after unit tests) without being
    /// pulled in when it runs on its own.
    pub after: Vec<&'static str>,
    /// Stages that build with cargo in the same profile run one at a time: running them side by
    /// side would only make them queue on cargo's build-directory lock while looking busy.
    pub cargo: Option<CargoProfile>,
    pub tools: Vec<Tool>,
    pub steps: Vec<Step>,
    /// What the result depends on; a stage without inputs is never cached.
    pub inputs: Option<Inputs>,
    /// What a cached stage still does: hand the stages after it what it would have (a scanner's
    /// findings for the summary). When it fails, the stage runs instead.
    pub replay: Option<Replay>,
}

/// The build directory a stage's cargo commands lock. Cargo takes one lock per profile directory,
/// so a release build runs beside the tests and fills the time they spend waiting on servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CargoProfile {
    Dev,
    Release,
}

impl CargoProfile {
    pub fn describe(self) -> &'static str {
        match self {
            CargoProfile::Dev => "one dev-build stage at a time",
            CargoProfile::Release => "one release-build stage at a time",
        }
    }
}

pub type Replay = Box<dyn FnOnce(&std::path::Path) -> Result<()> + Send>;

impl Stage {
    pub fn new(name: &'static str, command: &'static [&'static str]) -> Stage {
        Stage {
            name,
            command,
            needs: Vec::new(),
            after: Vec::new(),
            cargo: None,
            tools: Vec::new(),
            steps: Vec::new(),
            inputs: None,
            replay: None,
        }
    }

    pub fn needs(mut self, stage: &'static str) -> Stage {
        self.needs.push(stage);
        self
    }

    pub fn after(mut self, stage: &'static str) -> Stage {
        self.after.push(stage);
        self
    }

    /// Every stage that must pass before this one starts.
    pub fn prerequisites(&self) -> Vec<&'static str> {
        self.needs.iter().chain(&self.after).copied().collect()
    }

    /// Builds in cargo's dev and test profiles (`target/debug`).
    pub fn uses_cargo(mut self) -> Stage {
        self.cargo = Some(CargoProfile::Dev);
        self
    }

    /// Builds in cargo's release profile (`target/release`).
    pub fn uses_cargo_release(mut self) -> Stage {
        self.cargo = Some(CargoProfile::Release);
        self
    }

    /// Skips the stage when these inputs are what they were when it last passed.
    pub fn cache(mut self, inputs: Inputs) -> Stage {
        self.inputs = Some(inputs);
        self
    }

    pub fn replay(
        mut self,
        replay: impl FnOnce(&std::path::Path) -> Result<()> + Send + 'static,
    ) -> Stage {
        self.replay = Some(Box::new(replay));
        self
    }

    pub fn tool(mut self, tool: Tool) -> Stage {
        self.tools.push(tool);
        self
    }

    pub fn run(mut self, cmd: Cmd) -> Stage {
        self.steps.push(Step::Run(cmd));
        self
    }

    pub fn provision(mut self, service: impl Service + 'static) -> Stage {
        self.steps.push(Step::Provision(Box::new(service)));
        self
    }

    pub fn call(
        mut self,
        description: impl Into<String>,
        action: impl FnOnce(&mut StageContext) -> Result<()> + Send + 'static,
    ) -> Stage {
        self.steps.push(Step::Call {
            description: description.into(),
            action: Box::new(action),
        });
        self
    }
}

/// Work a stage does in the xtask itself.
pub type Action = Box<dyn FnOnce(&mut StageContext) -> Result<()> + Send>;

pub enum Step {
    /// An external command; a non-zero exit fails the stage.
    Run(Cmd),
    /// Starts something the later steps of the stage use (a database, a server) and hands them its
    /// environment; it is stopped when the stage ends, however it ends.
    Provision(Box<dyn Service>),
    /// Work done in the xtask itself (checking a response, summarising a report).
    Call { description: String, action: Action },
}

/// Something a stage starts and owns for its lifetime.
pub trait Service: Send {
    /// One line for the plan: what will be started and how.
    fn describe(&self) -> String;
    /// The names of the environment variables it hands to the later steps.
    fn provides(&self) -> Vec<&'static str>;
    fn start(self: Box<Self>, ctx: &mut StageContext) -> Result<Box<dyn Running>>;
}

/// A started service. Dropping it stops it.
pub trait Running: Send {
    fn env(&self) -> Vec<(String, EnvValue)>;
}

/// A program a stage needs, checked before the stage starts.
#[derive(Clone)]
pub struct Tool {
    pub program: String,
    /// Run to check that the tool works, not merely exists (e.g. that the Docker engine answers).
    pub probe: Option<Cmd>,
    /// What to do when it is missing: the whole fix, in one line.
    pub fix: &'static str,
    /// Missing, the stage fails even outside CI: for commands asked for by name (`infra apply`),
    /// where a skip would read as done.
    pub required: bool,
}

impl Tool {
    pub fn new(program: impl Into<String>, fix: &'static str) -> Tool {
        Tool {
            program: program.into(),
            probe: None,
            fix,
            required: false,
        }
    }

    pub fn required(mut self) -> Tool {
        self.required = true;
        self
    }

    /// For tools that must answer, not merely exist (a Docker engine).
    pub fn probe(mut self, probe: Cmd) -> Tool {
        self.probe = Some(probe);
        self
    }
}

impl fmt::Debug for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stage")
            .field("name", &self.name)
            .field("needs", &self.needs)
            .finish()
    }
}
