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

/// Rust's allocations go to mimalloc. Profiles put 12% of the receiver's CPU and 20% of the
/// proxy's in glibc's malloc and free (consolidating and unlinking chunks); with mimalloc the
/// same bench answered reads, bookings and slot searches a fifth to two thirds faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option `purge_delay` (its enum `mi_option_e` in `mimalloc.h`, version 3); the
/// Rust bindings name no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps a server's resident memory flat under load, whichever allocator holds it.
///
/// - mimalloc's own defaults let the receiver's peak grow from 48 to 81-85 MB in the bench:
///   transparent huge pages (a 2 MiB page backs a region of which a few KiB are live) and
///   freed pages kept a second before being returned. Huge pages are off for the process (and
///   mimalloc is built not to ask for them) and freed pages are returned at once: peak back to
///   about 50 MB with the throughput kept.
/// - SQLite's allocations (C) still go to glibc, whose threads get up to eight arenas per
///   core; the blocking pool's threads come and go, each leaving freed memory in an arena of
///   its own, so resident memory crept up run after run. Two arenas, for the two kinds of
///   thread (async workers, blocking pool), keep it flat.
fn tune_allocators() {
    // SAFETY: called once at start-up, before any thread is spawned; M_ARENA_MAX takes a count,
    // PR_SET_THP_DISABLE a flag, and mi_option_set an option of mimalloc's enum and a value.
    unsafe {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        libc::mallopt(libc::M_ARENA_MAX, 2);
        #[cfg(target_os = "linux")]
        {
            // prctl is variadic and the kernel reads every argument as an unsigned long.
            let (disable, unused): (libc::c_ulong, libc::c_ulong) = (1, 0);
            libc::prctl(libc::PR_SET_THP_DISABLE, disable, unused, unused, unused);
        }
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let output = if cli.command.is_server() {
        tune_allocators();
        telemetry::Output::Server
    } else {
        restore_default_sigpipe();
        telemetry::Output::Direct
    };
    let telemetry = telemetry::init(cli.log_format, output);
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
            // The lines still queued first, so the error is the last thing written.
            drop(telemetry);
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// The number set as the purge delay names it: mimalloc 3's default for that option is
    /// 1,000 ms and no other option's is, so a renumbering in a new version fails here.
    #[test]
    fn the_option_set_as_the_purge_delay_is_it() {
        // SAFETY: reads an option of mimalloc's enum.
        let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, 1000);
    }
}
