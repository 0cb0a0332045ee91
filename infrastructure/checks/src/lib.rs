//! Invariant checks of EventFlow's Terraform (`infrastructure/`), run as unit tests:
//!
//! ```sh
//! cargo test -p eventflow-infra-checks --lib
//! ```
//!
//! No Terraform binary or provider is needed: every `.tf` file is parsed with `hcl-rs`, each
//! environment is evaluated as far as a plan could without AWS ([`eval`]), and the checks in
//! [`checks`] judge the parsed and evaluated configuration. Each finding names the file and the
//! fix.

pub mod access;
/// The deploy engine's own list of its AWS calls, compiled from its crate's source so that the
/// checks need neither the engine nor the AWS SDK.
#[path = "../../../xtask/deploy/src/aws/calls.rs"]
pub mod calls;
pub mod checks;
pub mod eval;
pub mod model;
pub mod policy;
pub mod walk;

pub use model::{Finding, Tree};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `infrastructure/`, found from this crate's manifest directory.
pub fn infrastructure_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the checks crate lives in infrastructure/checks")
        .to_path_buf()
}

/// The repository's Terraform, parsed once per test process.
pub fn repository_tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| Tree::load(&infrastructure_dir()).unwrap_or_else(|e| panic!("{e}")))
}
