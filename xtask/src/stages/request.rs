//! What the catalog is asked for. The command line converts its arguments into these, so that the
//! stages depend on nothing above them.

/// The environments there are (`xtask-args` is the one list both the xtask and the deploy engine
/// read).
pub use xtask_args::Environment;

/// Which test suite `cargo xtask test` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    Unit,
    Integration,
    Frontend,
    E2e,
    Deploy,
    Smoke,
    Contract,
    Rehearsals,
    All,
}

/// What `cargo xtask infra` does to an environment's Terraform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InfraAction {
    Fmt {
        env: Option<Environment>,
        write: bool,
    },
    Validate {
        env: Environment,
    },
    Plan {
        env: Environment,
    },
    Apply {
        env: Environment,
        yes: bool,
    },
    Policy {
        role: PolicyRole,
        env: Environment,
        account: Option<String>,
    },
}

/// The roles whose policies the repository defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyRole {
    Deploy,
    Terraform,
}
