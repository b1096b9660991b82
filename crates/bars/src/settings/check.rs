//! `bars config check FILE...`: reads role configuration files the way start-up would and says
//! what is wrong with each, naming the setting, before anything is deployed.

use std::path::{Path, PathBuf};

use bars_store::postgres::redact;

use super::{Problems, RoleSettings};
use crate::roles::Role;
use crate::roles::{proxy::ProxyArgs, receiver::ReceiverArgs, registry::RegistryArgs};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Configuration files (TOML) with a top-level `role`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Treat files the configuration names but this machine lacks (certificates, keys) as
    /// errors, as start-up does. Without it they are warnings: the file may be checked away
    /// from where it will run.
    #[arg(long)]
    pub strict: bool,
}

/// What a file configures, in a line.
fn summary(path: &Path) -> anyhow::Result<(Problems, String)> {
    let role = super::declared_role(path)?;
    Ok(match role.as_str() {
        "receiver" => {
            let s: ReceiverArgs = super::read(path)?;
            let line = format!(
                "receiver {} serving {} service(s) {}, database {}",
                s.ods_code.as_deref().unwrap_or("?"),
                s.services.len(),
                s.listening(),
                redact(s.database()),
            );
            (s.problems(), line)
        }
        "proxy" => {
            let s: ProxyArgs = super::read(path)?;
            let line = format!(
                "proxy {} seeding {} endpoint(s) and {} application(s), database {}",
                s.listening(),
                s.endpoints.len(),
                s.applications.len(),
                redact(s.database())
            );
            (s.problems(), line)
        }
        "registry" => {
            let s: RegistryArgs = super::read(path)?;
            let line = format!(
                "registry {}, database {}",
                s.listening(),
                redact(s.database())
            );
            (s.problems(), line)
        }
        other => anyhow::bail!(
            "{}: role: {other:?} is not a role (receiver, proxy or registry)",
            path.display()
        ),
    })
}

/// Checks every file; the result is an error when any file has one.
pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let mut failed = 0;
    for path in &args.files {
        match summary(path) {
            Err(e) => {
                failed += 1;
                println!("{}: error\n  {e:#}", path.display());
            }
            Ok((problems, line)) => {
                let (errors, warnings): (Vec<_>, Vec<_>) = problems
                    .0
                    .iter()
                    .partition(|p| !p.environment || args.strict);
                if errors.is_empty() {
                    println!("{}: ok: {line}", path.display());
                } else {
                    failed += 1;
                    println!("{}: error", path.display());
                }
                for e in &errors {
                    println!("  error: {e}");
                }
                for w in &warnings {
                    println!("  warning: {w}");
                }
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} file(s) not valid", args.files.len());
    }
    Ok(())
}
