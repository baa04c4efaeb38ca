//! The `ballast` command line: parse, load config, init logging, dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ballast::config::{Config, LogFormat};

/// Ballast: a single-host load balancer with the OpenStack Octavia v1 API.
#[derive(Parser)]
#[command(
    name = "ballast",
    version,
    about,
    long_about = None,
    after_help = "Configuration: built-in defaults, then the TOML file (--config, else \
/etc/ballast/ballast.toml when it exists), then BALLAST_<SECTION>__<KEY> environment \
variables (e.g. BALLAST_API__PORT=19876).\n\
With no file, `ballast serve` listens on 127.0.0.1:9876 (API and web UI), keeps its \
state in ./ballast-data/ and hands out VIPs from 127.77.0.0/16."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API, controller, health checker and data plane.
    Serve {
        /// Configuration file (default: /etc/ballast/ballast.toml if present).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate {
        /// Configuration file (default: /etc/ballast/ballast.toml if present).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Write a consistent copy of the live database to FILE (SQLite online
    /// backup; safe while Ballast runs). FILE must not exist.
    Backup {
        /// Configuration file (default: /etc/ballast/ballast.toml if present).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Where to write the copy.
        file: PathBuf,
    },
    /// Validate the configuration and the database without starting anything.
    Check {
        /// Configuration file (default: /etc/ballast/ballast.toml if present).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env()
        // Rocket logs every request at info; keep it to warnings unless the
        // operator asks for more through RUST_LOG.
        .or_else(|_| EnvFilter::try_new(format!("{},rocket=warn", config.log.level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Rocket's per-request chatter ("No matching routes" at ERROR for every
    // 404, "guard is forwarding", which catcher answered) goes to targets
    // ending in `::_`; none of it is for the operator, and a 404 is the
    // client's mistake, already answered.
    // Rocket's launch banner is a WARN naming its internal loopback port, not
    // the API's; Ballast logs the API and UI addresses itself.
    let not_per_request = tracing_subscriber::filter::filter_fn(|meta| {
        !meta.target().ends_with("::_") && !meta.target().starts_with("rocket::launch")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder
            .json()
            .event_format(ballast::logfmt::JsonWithoutSource::default())
            .finish()
            .with(not_per_request)
            .init(),
        LogFormat::Text => builder
            .with_ansi(false)
            .finish()
            .with(not_per_request)
            .init(),
    }
}

/// How the installation at `db` names its networks; None while the database
/// does not exist or predates keyed network ids (the next start migrates it).
fn network_naming(db: &std::path::Path) -> Option<ballast::model::NetworkNaming> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    ballast::store::installation::network_naming(&conn).ok()
}

/// Write one line of a report to stdout. A closed stdout (`ballast check |
/// head -1`) means the reader has what it wanted: the rest is dropped
/// quietly instead of panicking as `println!` would.
fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(error) = writeln!(out, "{line}").and_then(|()| out.flush())
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        complain(format_args!("cannot write to stdout: {error}"));
    }
}

/// Write `ballast: MESSAGE` to stderr; a closed stderr leaves nowhere to
/// say it, so that is ignored too.
fn complain(message: impl std::fmt::Display) {
    use std::io::Write;
    // Nothing is left to report a failure to.
    let _ = writeln!(std::io::stderr().lock(), "ballast: {message}");
}

/// Which configuration file was read, for the first line of `check`.
fn config_source(file: Option<&std::path::Path>) -> String {
    match Config::file_in_use(file) {
        Some(path) => std::path::absolute(&path)
            .unwrap_or(path)
            .display()
            .to_string(),
        None => "no file; defaults and environment".into(),
    }
}

/// `ballast check`: the configuration already loaded (a bad one exits 2
/// naming the key); report on the database.
fn check(config: &Config, file: Option<&std::path::Path>) -> ExitCode {
    say(format_args!("config: ok ({})", config_source(file)));
    say(format_args!(
        "data directory: {}",
        config.data_dir.display()
    ));
    let db = ballast::store::database_path(&config.data_dir);
    let naming = network_naming(&db);
    for net in &config.networks {
        let id = match (net.id, &naming) {
            (None, None) => "id assigned at first start".to_string(),
            (_, Some(naming)) => net.network_id(naming).to_string(),
            (Some(id), None) => id.to_string(),
        };
        say(format_args!(
            "network {} ({id}): {} {}",
            net.name, net.mode, net.cidr
        ));
    }
    match ballast::check::check_database(&db) {
        Ok(report) => {
            // The report's Display ends with a newline of its own.
            say(report.to_string().trim_end());
            if report.is_sound() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(ballast::check::CheckError::Missing { path }) => {
            say(format_args!(
                "database: {} does not exist yet (created on first start)",
                path.display()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            complain(e);
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_path = match &cli.command {
        Command::Serve { config }
        | Command::Migrate { config }
        | Command::Backup { config, .. }
        | Command::Check { config } => config.clone(),
    };
    let config = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            complain(e);
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    // ring is the only crypto provider built in; install it before any TLS.
    let _ = rustls::crypto::ring::default_provider().install_default(); // Err only if already installed.
    let result = match cli.command {
        Command::Serve { .. } => ballast::app::serve(config),
        Command::Migrate { .. } => ballast::store::Store::open(&config.data_dir)
            .map(|store| {
                complain(format_args!(
                    "database {} is up to date",
                    store.path().display()
                ));
            })
            .map_err(Into::into),
        Command::Backup { file, .. } => {
            let db = ballast::store::database_path(&config.data_dir);
            ballast::backup::backup(&db, &file)
                .map(|report| {
                    say(format_args!(
                        "backup of {} written to {} ({} pages, {} bytes)",
                        db.display(),
                        report.path.display(),
                        report.pages,
                        report.bytes
                    ));
                })
                .map_err(Into::into)
        }
        Command::Check { .. } => return check(&config, config_path.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            complain(format_args!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}
