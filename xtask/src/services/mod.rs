//! Services that test stages start and own: PostgreSQL (TLS only, with a CA made for the run),
//! the backend, the built dashboard, the AWS emulator and a container registry.

pub mod docker;
pub mod moto;
pub mod postgres;
pub mod registry;
pub mod server;
pub mod test_ca;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A port that was free a moment ago on loopback.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// A fresh random secret for a throwaway service, from the kernel's CSPRNG.
pub fn random_secret() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Where cargo puts build output, honouring CARGO_TARGET_DIR.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d))
}
