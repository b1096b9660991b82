//! `bars conformance`: the conformance kit from the command line — check a receiver through the
//! proxy (as a sender) or directly (the kit acting as the proxy), and list the checks.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use bars_client::SenderIdentity;
use bars_conformance::{CheckResult, Ctx, Route, Window, Wire};
use bars_http::client::HttpClient;

use super::conformance_output::{Outputs, expected, finish, read};
use super::conformance_sender::SenderArgs;
use super::sender::Connection;

#[derive(Debug, clap::Subcommand)]
pub enum ConformanceCommand {
    /// Check a BaRS receiver: through the proxy with the sender's credentials (the global
    /// --proxy-url, --client-id, --key-id, --private-key, --ca, or --manifest), or directly with
    /// --receiver-url. Exits 0 only when every SHALL check passed.
    Receiver(Box<ReceiverArgs>),
    /// Check a BaRS sender: start a local stack (as `bars demo` does) that records every request
    /// the sender makes at its proxy and answers the toolkit's sentinel values, point the sender
    /// at it (stack.json), and grade what it did when stopped (Ctrl-C, --for or --until-idle).
    /// Exits 0 only when every SHALL check passed.
    Sender(Box<SenderArgs>),
    /// The checks the kit runs.
    List {
        /// As the Markdown table of docs/CONFORMANCE.md.
        #[arg(long)]
        markdown: bool,
        /// The sender checks instead of the receiver checks.
        #[arg(long)]
        sender: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ReceiverArgs {
    /// Check this receiver directly, the kit acting as the proxy (it sets the
    /// NHSD-Authenticated-* headers itself).
    #[arg(long)]
    pub receiver_url: Option<String>,
    /// The client certificate (PEM) the receiver trusts as the proxy's (directly only).
    #[arg(long, requires = "receiver_url", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// The sending application the kit names as authenticated (directly only).
    #[arg(long, default_value = "bars-conformance")]
    pub application: String,
    /// A DoS service id of the receiver to check (repeatable; the first is exercised).
    #[arg(long = "service", required = true)]
    pub services: Vec<String>,
    /// A test patient's NHS number (repeatable; the first is booked for).
    #[arg(long = "patient", required = true)]
    pub patients: Vec<String>,
    /// The first day searched for free slots (YYYY-MM-DD, default tomorrow).
    #[arg(long)]
    pub date: Option<String>,
    /// Days searched from --date.
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// An organisation (ODS code) the receiver's access policy refuses: the 401 row is checked
    /// with it (skipped without).
    #[arg(long)]
    pub refused_organisation: Option<String>,
    #[command(flatten)]
    pub outputs: Outputs,
}

pub async fn run(command: ConformanceCommand, connection: &Connection) -> anyhow::Result<()> {
    match command {
        ConformanceCommand::List {
            markdown,
            sender: true,
        } => {
            let all = bars_conformance::sender::checks::all();
            if markdown {
                print!("{}", bars_conformance::sender::checks::markdown(&all));
            } else {
                for c in &all {
                    println!("{:<13} {:<6} {}", c.id, c.level.name(), c.title);
                }
            }
            Ok(())
        }
        ConformanceCommand::List { markdown, .. } => {
            let all = bars_conformance::checks::all();
            if markdown {
                print!("{}", bars_conformance::report::markdown(&all));
            } else {
                for c in &all {
                    println!("{:<13} {:<6} {}", c.id, c.level.name(), c.title);
                }
            }
            Ok(())
        }
        ConformanceCommand::Receiver(args) => receiver(*args, connection).await,
        ConformanceCommand::Sender(args) => super::conformance_sender::run(*args, connection).await,
    }
}

fn window(args: &ReceiverArgs) -> anyhow::Result<Window> {
    match &args.date {
        Some(d) => Window::starting(d, args.days).map_err(|e| anyhow::anyhow!("--date: {e}")),
        None => Ok(Window {
            days: args.days.max(1),
            ..Window::tomorrow()
        }),
    }
}

fn wire(args: &ReceiverArgs, connection: &Connection) -> anyhow::Result<Wire> {
    let timeout = Duration::from_secs(40);
    let Some(url) = &args.receiver_url else {
        let p = connection.sender()?;
        return Ok(Wire::new(
            p.http.clone(),
            &p.proxy_url,
            Route::Proxy { tokens: p.tokens },
            p.identity,
        ));
    };
    let identity = match (&args.client_cert, &args.client_key) {
        (Some(cert), Some(key)) => Some(bars_pki::Identity {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        }),
        _ => None,
    };
    let tls = match &connection.ca {
        Some(ca) => Some(
            bars_pki::tls::client_config(&read(ca)?, identity.as_ref())
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        None => None,
    };
    // The same trust without the client certificate: the TLS-MA row connects with it.
    let anonymous = match &connection.ca {
        Some(ca) => Some(HttpClient::new(
            Some(
                bars_pki::tls::client_config(&read(ca)?, None)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
            timeout,
        )),
        None => None,
    };
    let http = match &tls {
        Some(config) => HttpClient::new(Some(config.clone()), timeout),
        None if url.starts_with("https://") => {
            bail!(
                "--receiver-url is https: give --ca (the CA that signed the receiver's certificate)"
            )
        }
        None => HttpClient::plain(timeout),
    };
    let ods = connection
        .ods_code
        .clone()
        .unwrap_or_else(|| "A1001".into());
    let name = connection
        .organisation_name
        .clone()
        .unwrap_or_else(|| "Sending organisation".into());
    let wire = Wire::new(
        http,
        url,
        Route::Direct {
            application: args.application.clone(),
        },
        SenderIdentity::new(&ods, &name),
    );
    // Requests the kit holds in flight itself speak TLS with the same settings.
    let wire = match tls {
        Some(config) => wire.with_tls(config),
        None => wire,
    };
    Ok(match anonymous {
        Some(http) => wire.with_anonymous(http),
        None => wire,
    })
}

async fn receiver(args: ReceiverArgs, connection: &Connection) -> anyhow::Result<()> {
    let window = window(&args)?;
    let expected = expected(&args.outputs)?;
    let wire = wire(&args, connection)?;
    let ctx = Ctx::connect(wire, args.services.clone(), args.patients.clone(), window)
        .await
        .with_refused_organisation(args.refused_organisation.clone());
    let live = std::io::stderr().is_terminal();
    let report = bars_conformance::run(&ctx, |done, total, result: &CheckResult| {
        if live {
            eprint!("\r\x1b[2K");
        }
        eprintln!("[{done:>2}/{total}] {}", result.line());
    })
    .await;
    finish(&report, &args.outputs, expected.as_ref(), connection.json)
}
