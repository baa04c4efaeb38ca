//! The `ballast` command line: parse, load config, init logging, dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ballast::config::{Config, LogFormat};

/// Ballast: a single-host load balancer with the OpenStack Octavia v1 API.
#[derive(Parser)]
#[command(name = "ballast", version, about, long_about = None)]
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
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        // Rocket logs every request at info; keep it to warnings unless the
        // operator asks for more through RUST_LOG.
        .or_else(|_| EnvFilter::try_new(format!("{},rocket=warn", config.log.level)))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_path = match &cli.command {
        Command::Serve { config } | Command::Migrate { config } => config.clone(),
    };
    let config = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ballast: {e}");
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
                eprintln!("ballast: database {} is up to date", store.path().display());
            })
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ballast: {e:#}");
            ExitCode::FAILURE
        }
    }
}
