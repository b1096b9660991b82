//! `bars`: every BaRS role in one binary, plus the staff commands and the local demo.

mod admin_listener;
mod commands;
mod demo;
mod demo_events;
mod limit_args;
mod roles;
mod settings;
mod shutdown;
mod telemetry;
mod tls_args;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "bars",
    version,
    about = "BaRS Appointment Management: every role, the sender's commands, staff tools and a one-command local stack"
)]
struct Cli {
    #[command(flatten)]
    connection: commands::sender::Connection,
    /// Log format.
    #[arg(
        long,
        global = true,
        env = "BARS_LOG_FORMAT",
        value_enum,
        default_value = "human"
    )]
    log_format: telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole local stack, seeded with demo services and slots.
    Demo(demo::DemoArgs),
    /// Run a receiver: a healthcare service's BaRS appointment server.
    Receiver(Box<roles::receiver::ReceiverArgs>),
    /// Run the proxy: sender authentication, routing to receivers, the Registry's front door.
    Proxy(Box<roles::proxy::ProxyArgs>),
    /// Run the registry of appointment pointers.
    Registry(roles::registry::RegistryArgs),
    /// Find a service's slots (sender), or publish and withdraw them (staff: generate, add, withdraw).
    Slots(commands::slots::SlotsArgs),
    /// Create schedules (staff).
    #[command(subcommand)]
    Schedules(commands::slots::SchedulesCommand),
    /// Read a receiver's audit trail (staff).
    Audit(commands::audit::AuditArgs),
    /// Registry pointer jobs not yet delivered (staff).
    Outbox(commands::outbox::OutboxArgs),
    /// A service's appointments for a day, NHS numbers masked unless asked for (staff).
    Appointments(commands::provider::AppointmentsArgs),
    /// Record what happened to an appointment, or cancel it for the provider (staff).
    #[command(subcommand)]
    Clinic(commands::provider::ClinicCommand),
    /// Appointment events: the feed, webhook subscribers and their deliveries (staff).
    Events(commands::provider::EventsArgs),
    /// Measure the system: starts a receiver and a proxy on loopback, seeds a million slots and
    /// reports bookings, contention, slot search and reads against their ceilings.
    Bench(commands::bench::BenchArgs),
    /// The conformance kit: check any BaRS receiver against the requirements it must meet.
    #[command(subcommand)]
    Conformance(commands::conformance::ConformanceCommand),
    /// Development PKI: a CA, certificates and sender signing keys.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Role configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The web workbench: walk the BaRS flow in a browser as this sender, seeing every exchange.
    Workbench(commands::workbench::WorkbenchArgs),
    #[command(flatten)]
    Sender(commands::sender::SenderCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check configuration files as start-up would, naming every setting that is wrong.
    Check(settings::check::CheckArgs),
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Create (or extend) a development PKI in a directory.
    Init(commands::pki::PkiInitArgs),
}

impl Command {
    /// The long-running roles; everything else is a one-shot command.
    fn is_server(&self) -> bool {
        matches!(
            self,
            Command::Demo(_)
                | Command::Receiver(_)
                | Command::Proxy(_)
                | Command::Registry(_)
                | Command::Workbench(_)
        )
    }
}

/// One-shot commands end quietly when their output is closed early (`bars slots | head`), as
/// command-line tools do. Servers keep Rust's default of ignoring SIGPIPE: a client that goes
/// away mid-answer must not stop them.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any thread is spawned; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Servers use two malloc arenas. glibc gives threads up to eight arenas per core, and the
/// blocking pool's threads (database reads) come and go, each leaving freed memory in an arena
/// of its own: resident memory crept up run after run under steady load. Two arenas for the
/// two kinds of thread (async workers, blocking pool) keep it flat.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called once at start-up, before any thread is spawned; M_ARENA_MAX takes a count.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if !cli.command.is_server() {
        restore_default_sigpipe();
    } else {
        limit_malloc_arenas();
    }
    let _telemetry = telemetry::init(cli.log_format);
    // One TLS provider for the whole process, chosen before any TLS configuration is built.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Receiver(args) => roles::receiver::run(*args).await,
            Command::Proxy(args) => roles::proxy::run(*args).await,
            Command::Registry(args) => roles::registry::run(args).await,
            Command::Slots(args) => match args.staff {
                Some(staff) => commands::slots::run(staff, cli.connection.json).await,
                None => {
                    commands::sender::run(
                        commands::sender::SenderCommand::FindSlots(args.search),
                        &cli.connection,
                    )
                    .await
                }
            },
            Command::Schedules(c) => commands::slots::run_schedules(c).await,
            Command::Audit(args) => commands::audit::run(args, cli.connection.json).await,
            Command::Outbox(args) => commands::outbox::run(args, cli.connection.json).await,
            Command::Appointments(args) => {
                commands::provider::appointments(args, cli.connection.json).await
            }
            Command::Clinic(c) => commands::provider::clinic(c, cli.connection.json).await,
            Command::Events(args) => commands::provider::events(args, cli.connection.json).await,
            Command::Bench(args) => commands::bench::run(args).await,
            Command::Conformance(c) => commands::conformance::run(c, &cli.connection).await,
            Command::Pki(PkiCommand::Init(args)) => commands::pki::run(args),
            Command::Config(ConfigCommand::Check(args)) => settings::check::run(args),
            Command::Workbench(args) => commands::workbench::run(args, &cli.connection).await,
            Command::Sender(c) => commands::sender::run(c, &cli.connection).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
