//! `xtask-rehearse`: EventFlow's GitHub workflow files run on this machine with GitHub's semantics
//! (`cargo xtask rehearse` runs this). docs/ci.md, "Rehearsing the workflows", says what is
//! emulated, what is stood in and what only GitHub can show.

pub mod actions;
pub mod approval;
pub mod aws_isolation;
pub mod cancel;
pub mod command;
pub mod env_files;
pub mod expr;
pub mod github;
pub mod graph;
pub mod interrupt;
pub mod process;
pub mod run;
pub mod sandbox;
pub mod secrets;
pub mod shell;
pub mod step_files;
pub mod trigger;
pub mod workflow;
