//! The helper's command line: anything but its one form is refused with the usage line before a
//! container starts, so a wrong call from the xtask never leaves one behind.

use std::process::Command;

#[test]
fn anything_but_the_postgres_form_is_refused_with_the_usage() {
    let calls: [&[&str]; 3] = [
        &[],
        &["postgres", "--image", "postgres:15"],
        &["redis", "--image", "x", "--tls-dir", "d", "--url-file", "f"],
    ];
    for args in calls {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask-containers"))
            .args(args)
            .output()
            .expect("running xtask-containers");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted: {stderr}");
        assert!(
            stderr.contains(
                "usage: xtask-containers postgres --image IMAGE --tls-dir DIR --url-file FILE"
            ),
            "{args:?}: {stderr}"
        );
    }
}
