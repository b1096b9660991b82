//! Configuration the way operators keep it: one TOML file per role, overridden by environment
//! variables and then by flags, checked as a whole before anything starts.
//!
//! Each role has one typed settings struct that is at once its command-line flags (clap, with an
//! environment variable per flag) and its file format (serde), so a setting has the same name
//! everywhere: `listen` in the file, `--listen` on the command line, `BARS_LISTEN` in the
//! environment. Every field is optional in both; [`Layered::over`] puts the flags and
//! environment over the file, and defaults fill what neither gave. Relative paths in a file are
//! relative to the file, so a configuration works wherever it is started from.

pub mod check;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// `127.0.0.1:port`, for defaults.
pub const fn loopback(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        port,
    ))
}

/// One thing wrong with a configuration, naming the setting as the file spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
    /// Problems with the machine rather than the file (a certificate not there yet) are
    /// warnings for `bars config check` and errors at start-up.
    pub environment: bool,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The problems found while checking a configuration.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            field: field.into(),
            message: message.into(),
            environment: false,
        });
    }

    /// A file the configuration names must exist and be readable.
    pub fn readable(&mut self, field: &str, path: Option<&PathBuf>) {
        if let Some(path) = path
            && let Err(e) = std::fs::metadata(path)
        {
            self.0.push(Problem {
                field: field.into(),
                message: format!("cannot read {}: {e}", path.display()),
                environment: true,
            });
        }
    }

    /// Both or neither of a pair of settings.
    pub fn together<A, B>(&mut self, a: (&str, &Option<A>), b: (&str, &Option<B>)) {
        if a.1.is_some() != b.1.is_some() {
            let (given, missing) = if a.1.is_some() {
                (a.0, b.0)
            } else {
                (b.0, a.0)
            };
            self.error(missing, format!("is required with {given}"));
        }
    }

    pub fn url(&mut self, field: &str, value: Option<&str>) {
        if let Some(url) = value
            && !is_http_url(url)
        {
            self.error(field, format!("{url:?} is not an http:// or https:// URL"));
        }
    }

    pub fn database(&mut self, field: &str, url: Option<&str>) {
        if let Some(url) = url
            && url.contains("://")
            && !["sqlite://", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| url.starts_with(scheme))
        {
            self.error(
                field,
                format!("{url:?}: use sqlite://PATH, postgres://... or a file path"),
            );
        }
    }

    /// Fails start-up with every problem, not just the first.
    pub fn into_result(self, what: &str) -> anyhow::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = self.0.iter().map(|p| format!("  {p}")).collect();
        anyhow::bail!(
            "the {what} configuration is not valid:\n{}",
            lines.join("\n")
        )
    }
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url
            .parse::<http::Uri>()
            .is_ok_and(|u| u.host().is_some_and(|h| !h.is_empty()))
}

/// How a value given at a higher layer (flags, then environment) wins over a lower one (the
/// file).
pub trait Layered {
    fn over(self, lower: Self) -> Self;
}

impl<T> Layered for Option<T> {
    fn over(self, lower: Self) -> Self {
        self.or(lower)
    }
}

impl<T> Layered for Vec<T> {
    fn over(self, lower: Self) -> Self {
        if self.is_empty() { lower } else { self }
    }
}

/// A switch turned on anywhere is on: flags can enable what a file leaves off.
impl Layered for bool {
    fn over(self, lower: Self) -> Self {
        self || lower
    }
}

/// Implements [`Layered`] field by field for a settings struct.
#[macro_export]
macro_rules! layered {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        impl $crate::settings::Layered for $ty {
            fn over(self, lower: Self) -> Self {
                Self {
                    $($field: $crate::settings::Layered::over(self.$field, lower.$field),)*
                }
            }
        }
    };
}

/// A role's settings: what [`resolve`] needs to read its file and check the result.
pub trait RoleSettings: Layered + DeserializeOwned + Rebase + Sized {
    /// `receiver`, `proxy` or `registry`: the file's `role` must say the same.
    const ROLE: &'static str;
    /// The file `--config` names, if any.
    fn config_file(&self) -> Option<&Path>;
    /// Everything wrong with these settings, each naming its setting.
    fn problems(&self) -> Problems;
}

/// The flags and environment over the file (if `--config` names one), checked as a whole:
/// start-up stops here with every problem named.
pub fn resolve<T: RoleSettings>(given: T) -> anyhow::Result<T> {
    let settings = match given.config_file().map(Path::to_path_buf) {
        Some(path) => {
            let file: T = read(&path)?;
            given.over(file)
        }
        None => given,
    };
    settings.problems().into_result(T::ROLE)?;
    Ok(settings)
}

/// Makes paths a file gave relative to the file's directory.
pub trait Rebase {
    fn rebase(&mut self, dir: &Path);
}

pub fn rebase_path(path: &mut Option<PathBuf>, dir: &Path) {
    if let Some(p) = path
        && p.is_relative()
    {
        *p = dir.join(&*p);
    }
}

/// A database URL's file path, if it names a relative SQLite file.
pub fn rebase_database(url: &mut Option<String>, dir: &Path) {
    let Some(u) = url else { return };
    if u.starts_with("postgres://") || u.starts_with("postgresql://") {
        return;
    }
    let (prefix, path) = if let Some(p) = u.strip_prefix("sqlite://") {
        ("sqlite://", p)
    } else if let Some(p) = u.strip_prefix("sqlite:") {
        ("sqlite:", p)
    } else {
        ("", u.as_str())
    };
    if Path::new(path).is_relative() {
        *u = format!("{prefix}{}", dir.join(path).display());
    }
}

/// Reads a role's file: TOML syntax errors and unknown or mistyped settings are reported with
/// the setting's name and line, as the `toml` crate words them.
pub fn read<T: DeserializeOwned + Rebase>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut value: T = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    value.rebase(dir);
    Ok(value)
}

/// The role a file declares with its top-level `role` key.
pub fn declared_role(path: &Path) -> anyhow::Result<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        role: Option<String>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    let head: Head = toml::Value::Table(table)
        .try_into()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    head.role.ok_or_else(|| {
        anyhow::anyhow!(
            "{}: role: missing; say which role the file configures (role = \"receiver\", \"proxy\" or \"registry\")",
            path.display()
        )
    })
}

/// The `role` key must name the role the file is used for.
pub fn check_role(problems: &mut Problems, declared: Option<&str>, expected: &str) {
    if let Some(role) = declared
        && role != expected
    {
        problems.error(
            "role",
            format!("this file configures a {role}, not a {expected}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_environment_win_over_the_file() {
        assert_eq!(Some(1).over(Some(2)), Some(1));
        assert_eq!(None.over(Some(2)), Some(2));
        assert_eq!(Vec::<u8>::new().over(vec![1]), vec![1]);
        assert_eq!(vec![3].over(vec![1]), vec![3]);
        assert!(false.over(true));
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = Path::new("/etc/bars");
        let mut p = Some(PathBuf::from("pki/ca.pem"));
        rebase_path(&mut p, dir);
        assert_eq!(p.unwrap(), PathBuf::from("/etc/bars/pki/ca.pem"));
        let mut abs = Some(PathBuf::from("/srv/ca.pem"));
        rebase_path(&mut abs, dir);
        assert_eq!(abs.unwrap(), PathBuf::from("/srv/ca.pem"));
        for (given, expected) in [
            ("sqlite://data/r.db", "sqlite:///etc/bars/data/r.db"),
            ("data/r.db", "/etc/bars/data/r.db"),
            ("sqlite:///var/r.db", "sqlite:///var/r.db"),
            ("postgres://db/bars", "postgres://db/bars"),
        ] {
            let mut url = Some(given.to_string());
            rebase_database(&mut url, dir);
            assert_eq!(url.unwrap(), expected, "{given}");
        }
    }

    #[test]
    fn urls_and_pairs_are_checked_by_name() {
        let mut p = Problems::default();
        p.url("pointers.url", Some("ftp://x"));
        p.url("base_url", Some("https://rx.example.nhs.uk"));
        p.together(("tls.cert", &Some(1)), ("tls.key", &None::<u8>));
        p.database("database", Some("mysql://x"));
        p.database("database", Some("sqlite://x.db"));
        let fields: Vec<&str> = p.0.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, vec!["pointers.url", "tls.key", "database"]);
    }
}
