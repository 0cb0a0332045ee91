//! Seeds staging and production into the AWS emulator for `cargo xtask sandbox up`, with the
//! very code the emulator drills seed with (`tests/emulator/support.rs`), so the sandbox and the
//! drills model the same environments. Runs as the emulator's admin (the standard `AWS_*`
//! variables and `AWS_ENDPOINT_URL`).
//!
//! `sandbox_seed <dir> <base-url>` writes each environment's deploy configuration to
//! `<dir>/<env>.json` and prints `{"staging": "<path>", "production": "<path>"}`.

#[allow(dead_code)] // The drills' image helpers the seeding pushes with.
#[path = "../tests/emulator/images.rs"]
mod images;
#[allow(dead_code)] // Only `create`: the sandbox's deploy-state tables.
#[path = "../tests/emulator/state_table.rs"]
mod state_table;
#[allow(dead_code)] // The drills' helpers this command does not call.
#[path = "../tests/emulator/support.rs"]
mod support;

use support::{Production, Staging};

/// The tag the seeded services run until the first deploy.
const INITIAL_TAG: &str = "sandbox-initial";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(base_url)) = (args.next(), args.next()) else {
        eprintln!("usage: sandbox_seed <dir> <base-url>");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("creating the configuration directory");
    let staging = Staging::new("sandbox", &[INITIAL_TAG], &base_url).await;
    let production = Production::new("sandbox", &staging, INITIAL_TAG).await;
    let mut paths = serde_json::Map::new();
    for (env, from) in [
        ("staging", &staging.config_path),
        ("production", &production.config_path),
    ] {
        let to = dir.join(format!("{env}.json"));
        std::fs::copy(from, &to).expect("copying a deploy configuration");
        let _ = std::fs::remove_file(from);
        paths.insert(env.to_owned(), to.to_string_lossy().into_owned().into());
    }
    println!("{}", serde_json::Value::Object(paths));
}
