//! Invariant checks of the Terraform in `infrastructure/`; the checks live in `tests/`.
