//! Type-check: `cargo check` of every target and the frontend's `tsc --noEmit`.

use crate::cmd::Cmd;
use crate::pipeline::Stage;
use crate::stages::frontend;

pub fn rust() -> Stage {
    Stage::new("type-check-rust", &["type-check"])
        .uses_cargo()
        .cache(super::rust_build())
        .run(Cmd::new("cargo").args(["check", "--workspace", "--all-targets"]))
}

pub fn frontend() -> Stage {
    Stage::new("type-check-frontend", &["type-check"])
        .needs(frontend::DEPS)
        .cache(super::frontend_files())
        .tool(frontend::npm())
        .run(frontend::npm_run("type-check"))
}
