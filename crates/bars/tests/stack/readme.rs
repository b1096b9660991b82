//! README "Running each role on its own", run as written: every command of its `sh` blocks, in
//! order, with the built `bars` on the `PATH`, in a directory holding a copy of `config/`. The
//! three roles are started in the background (the README gives each a terminal); every other
//! line must succeed. A change to the README, to `config/` or to the CLI that breaks the
//! instructions fails here.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::processes::Proc;

const SECTION: &str = "## Running each role on its own";
const ROLES: [&str; 3] = ["registry", "proxy", "receiver"];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The section's shell commands, in order: comments dropped, continued lines joined.
fn commands(readme: &str) -> Vec<String> {
    let start = readme
        .find(SECTION)
        .unwrap_or_else(|| panic!("README has no {SECTION:?}"));
    let rest = &readme[start + SECTION.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in section.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_block = !in_block && trimmed == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        let code = without_comment(trimmed);
        if let Some(continued) = code.strip_suffix('\\') {
            pending.push_str(continued.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(code);
        let command = std::mem::take(&mut pending).trim().to_string();
        if !command.is_empty() {
            commands.push(command);
        }
    }
    commands
}

/// `line` up to a `#` that starts a shell comment (outside quotes, after a space).
fn without_comment(line: &str) -> &str {
    let mut quoted = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quoted, c) {
            (None, '"' | '\'') => quoted = Some(c),
            (Some(q), c) if c == q => quoted = None,
            (None, '#') if previous.is_whitespace() => return line[..i].trim_end(),
            _ => {}
        }
        previous = c;
    }
    line
}

/// The role a command starts, if it starts one.
fn role_of(command: &str) -> Option<&'static str> {
    let mut words = command.split_whitespace();
    let (Some("bars"), Some(second)) = (words.next(), words.next()) else {
        return None;
    };
    ROLES.into_iter().find(|r| *r == second)
}

/// A shell in `dir` where `bars` is the binary under test and `env` has been exported.
fn shell(dir: &Path, env: &[(String, String)], command: &str) -> Command {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut sh = Command::new("sh");
    // A fresh terminal: settings the test runner happens to have do not leak in.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("BARS_")) {
        sh.env_remove(name);
    }
    sh.arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (k, v)));
    sh
}

fn run(dir: &Path, env: &[(String, String)], command: &str) -> Output {
    let out = shell(dir, env, command)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "README command failed: {command}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts a role's command in the background and waits until it logs that it is ready.
fn start_role(dir: &Path, role: &str, command: &str) -> Proc {
    let log = dir.join(format!("{role}.log"));
    let mut child = shell(dir, &[], &format!("exec {command}"))
        .stdin(Stdio::null())
        .stdout(File::create(dir.join(format!("{role}.stdout.log"))).unwrap())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let ready = format!("{role} ready");
    for _ in 0..600 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(&ready) {
            return Proc::adopt(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("README command exited ({status}): {command}\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "README command never became ready: {command}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// `export A=1 B=2` as name and value pairs.
fn exports(command: &str) -> Option<Vec<(String, String)>> {
    let assignments = command.strip_prefix("export ")?;
    Some(
        assignments
            .split_whitespace()
            .map(|a| {
                let (name, value) = a.split_once('=').expect("export NAME=value");
                (name.to_string(), value.to_string())
            })
            .collect(),
    )
}

/// The appointment id `bars book` prints (`appointment  <id>`).
fn booked_id(out: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some("appointment"))
            .then(|| words.next().map(str::to_string))
            .flatten()
    })
}

#[test]
fn the_readme_section_on_running_each_role_works_as_written() {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    let commands = commands(&readme);
    // What the section must show a reader, so that dropping a step is a failure too.
    for needed in [
        "bars pki init ",
        "bars config check ",
        "bars registry ",
        "bars proxy ",
        "bars receiver ",
        "bars slots generate ",
        "bars book ",
        "bars list ",
    ] {
        assert!(
            commands.iter().any(|c| c.starts_with(needed)),
            "the README section no longer runs `{needed}...`: {commands:#?}"
        );
    }

    // The README's ports are the configuration's, fixed: concurrent runs of this test (another
    // checkout on the same machine) take turns instead of colliding.
    let lock = File::create(std::env::temp_dir().join("bars-readme-test.lock")).unwrap();
    lock.lock().unwrap();

    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_bars"), dir.join("bin/bars")).unwrap();
    // The example files only: not keys or databases left by someone who followed the README
    // in the repository itself.
    std::fs::create_dir_all(dir.join("config")).unwrap();
    for entry in std::fs::read_dir(repository().join("config")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&path, dir.join("config").join(path.file_name().unwrap())).unwrap();
        }
    }

    let mut env: Vec<(String, String)> = Vec::new();
    let mut roles = Vec::new();
    let mut booked = None;
    for command in &commands {
        if let Some(role) = role_of(command) {
            roles.push(start_role(dir, role, command));
        } else if let Some(pairs) = exports(command) {
            env.extend(pairs);
        } else if command.starts_with("bars list ") {
            // The receiver writes its pointer after the booking: the list shows it within
            // a bounded number of looks.
            let id = booked.clone().expect("the README books before it lists");
            let listed = (0..200).any(|_| {
                let out = run(dir, &env, command);
                let found = String::from_utf8_lossy(&out.stdout).contains(&id);
                if !found {
                    std::thread::sleep(Duration::from_millis(50));
                }
                found
            });
            assert!(listed, "`{command}` never listed the booking {id}");
        } else {
            let out = run(dir, &env, command);
            if command.starts_with("bars book ") {
                let text = String::from_utf8_lossy(&out.stdout);
                booked = Some(booked_id(&text).unwrap_or_else(|| panic!("{text}")));
            }
        }
    }
    assert_eq!(roles.len(), ROLES.len());
    drop(roles);
}

#[test]
fn the_command_parser_reads_blocks_comments_and_continuations() {
    let readme = "## Other\n```sh\nbars nope\n```\n## Running each role on its own\n\
                  text\n```sh\nbars a --x \"b # c\"   # comment\n\n# only a comment\nexport A=1 \\\n  B=2\n```\n\
                  ```json\n{}\n```\n## Next\n```sh\nbars later\n```\n";
    assert_eq!(commands(readme), ["bars a --x \"b # c\"", "export A=1 B=2"]);
    assert_eq!(
        exports("export A=1 B=2"),
        Some(vec![("A".into(), "1".into()), ("B".into(), "2".into())])
    );
    assert_eq!(role_of("bars proxy    --config x"), Some("proxy"));
    assert_eq!(role_of("bars slots generate"), None);
}

/// The sender CLI signs with the key's own algorithm; an algorithm given as well must match
/// it, and a mismatch is named before anything is sent.
#[test]
fn the_sender_cli_takes_the_algorithm_from_the_key() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let pki = Command::new(env!("CARGO_BIN_EXE_bars"))
        .current_dir(dir)
        .args(["pki", "init", "--dir", "pki", "--sender", "rsa", "--sender"])
        .arg("ec:ES256")
        .output()
        .unwrap();
    assert!(pki.status.success());
    // Nobody listens there: a sender that gets as far as the network fails to connect.
    let proxy = format!("https://127.0.0.1:{}", crate::processes::free_port());
    let services = |key: &str, algorithm: Option<&str>| {
        let mut bars = Command::new(env!("CARGO_BIN_EXE_bars"));
        bars.current_dir(dir)
            .env_remove("BARS_KEY_ALGORITHM")
            .args(["services", "--proxy-url", &proxy, "--ca", "pki/ca.pem"])
            .args(["--client-id", key, "--key-id", &format!("{key}-1")])
            .args(["--private-key", &format!("pki/{key}.key.pem")]);
        if let Some(algorithm) = algorithm {
            bars.args(["--algorithm", algorithm]);
        }
        let out = bars.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for (key, given) in [
        ("rsa", None),
        ("rsa", Some("RS512")),
        ("ec", None),
        ("ec", Some("ES256")),
    ] {
        let error = services(key, given);
        assert!(
            error.contains("could not be reached"),
            "{key} {given:?}: {error}"
        );
    }
    let error = services("rsa", Some("ES256"));
    assert!(
        error.contains("ES256 was asked for, but the private key is an RS512 (RSA) key"),
        "{error}"
    );
    let error = services("ec", Some("RS512"));
    assert!(
        error.contains("RS512 was asked for, but the private key is an ES256 (EC P-256) key"),
        "{error}"
    );
}
