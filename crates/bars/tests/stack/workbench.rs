//! `bars workbench` as an operator starts it: it acts with a sender's credentials, so it will
//! not listen beyond loopback without an access secret, nor with a short one; and it says
//! which of its clinic flags it cannot read.

use std::process::Command;

fn workbench(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bars"))
        .arg("workbench")
        .args(args)
        .env_remove("BARS_WORKBENCH_SECRET")
        .env_remove("BARS_WORKBENCH_LISTEN")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_workbench_refuses_a_public_address_without_a_proper_secret() {
    let (ok, err) = workbench(&["--listen", "0.0.0.0:0"]);
    assert!(!ok);
    assert!(err.contains("needs an access secret"), "{err}");
    let (ok, err) = workbench(&["--listen", "0.0.0.0:0", "--access-secret", "short"]);
    assert!(!ok);
    assert!(err.contains("at least 16 characters"), "{err}");
}

#[test]
fn the_workbench_refuses_a_receiver_admin_flag_it_cannot_read() {
    let (ok, err) = workbench(&["--listen", "127.0.0.1:0", "--receiver-admin", "RXR01"]);
    assert!(!ok);
    assert!(err.contains("is not ODS=VALUE"), "{err}");
    let (ok, err) = workbench(&[
        "--listen",
        "127.0.0.1:0",
        "--receiver-admin-token",
        "RXR01=a-token-for-nobody",
        "--stack",
        "/nonexistent/stack.json",
    ]);
    assert!(!ok);
    assert!(err.contains("no admin URL is known for RXR01"), "{err}");
}
