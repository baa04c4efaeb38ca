//! The `ballast` command line: parse, load config, init logging, dispatch.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ballast::config::{Config, LogFormat};
use ballast::store::identity::Role;

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
    /// Create the first admin: the project, the user (with this password)
    /// and the admin role on the project. Running it again changes nothing
    /// but resets the password to the one given.
    Bootstrap {
        /// Configuration file (default: /etc/ballast/ballast.toml if present).
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "admin")]
        username: String,
        #[arg(long, default_value = "admin")]
        project: String,
        /// File holding the password (`-`: standard input); without it,
        /// a prompt when standard input is a terminal.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Users: add, list.
    User {
        /// Configuration file (default: /etc/ballast/ballast.toml if present).
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: UserAction,
    },
    /// Projects: add, list.
    Project {
        /// Configuration file (default: /etc/ballast/ballast.toml if present).
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: ProjectAction,
    },
    /// Application credentials: create (prints the id and, once, the secret).
    AppCredential {
        /// Configuration file (default: /etc/ballast/ballast.toml if present).
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: CredentialAction,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user; with --project and --role, give it that role there.
    Add {
        name: String,
        /// File holding the password (`-`: standard input); without it, a
        /// prompt on a terminal, else a user without a password (for
        /// application credentials only).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Project (by name): the user's default, where --role applies.
        #[arg(long)]
        project: Option<String>,
        /// admin, member or reader.
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
    },
    /// List users and their roles (`project:role`).
    List,
}

#[derive(Subcommand)]
enum ProjectAction {
    /// Add a project.
    Add {
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List projects.
    List,
}

#[derive(Subcommand)]
enum CredentialAction {
    /// Create an application credential of USER on PROJECT.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: String,
        /// Roles it carries (repeat; default: all the user's on the project).
        #[arg(long, value_parser = parse_role)]
        role: Vec<Role>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::from_name(s).ok_or_else(|| format!("{s:?} is not a role: admin, member or reader"))
}

/// The identity commands (`bootstrap`, `user`, `project`, `app-credential`).
fn accounts(config: &Config, command: Command) -> anyhow::Result<()> {
    use ballast::accounts;
    let dir = &config.data_dir;
    match command {
        Command::Bootstrap {
            username,
            project,
            password_file,
            ..
        } => {
            let password = accounts::read_password(password_file.as_deref(), "Password: ")?;
            let b = accounts::bootstrap(dir, &username, &project, &password)?;
            let said = |created: bool| if created { "created" } else { "exists" };
            println!(
                "project {} ({}): {}",
                b.project.name,
                b.project.id,
                said(b.created_project)
            );
            println!(
                "user {} ({}): {}",
                b.user.name,
                b.user.id,
                said(b.created_user)
            );
            println!(
                "role admin on {} for {}: granted",
                b.project.name, b.user.name
            );
        }
        Command::User {
            action:
                UserAction::Add {
                    name,
                    password_file,
                    project,
                    role,
                },
            ..
        } => {
            let password = match password_file {
                Some(f) => Some(accounts::read_password(Some(&f), "")?),
                None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
                    Some(accounts::read_password(None, "Password: ")?)
                }
                None => None,
            };
            let u = accounts::add_user(dir, &name, password.as_deref(), project.as_deref(), role)?;
            println!("user {} ({}) created", u.name, u.id);
        }
        Command::User {
            action: UserAction::List,
            ..
        } => {
            for (u, roles) in accounts::list_users(dir)? {
                println!("{}\t{}\t{}", u.id, u.name, roles.join(","));
            }
        }
        Command::Project {
            action: ProjectAction::Add { name, description },
            ..
        } => {
            let p = accounts::add_project(dir, &name, &description)?;
            println!("project {} ({}) created", p.name, p.id);
        }
        Command::Project {
            action: ProjectAction::List,
            ..
        } => {
            for p in accounts::list_projects(dir)? {
                println!("{}\t{}\t{}", p.id, p.name, p.description);
            }
        }
        Command::AppCredential {
            action:
                CredentialAction::Create {
                    user,
                    project,
                    name,
                    role,
                },
            ..
        } => {
            let (c, secret) = accounts::create_app_credential(dir, &user, &project, &name, &role)?;
            println!("id: {}", c.id);
            println!("secret: {secret}");
            println!(
                "roles: {}",
                c.roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            println!("(the secret is shown only now)");
        }
        _ => unreachable!("accounts() is called for identity commands only"),
    }
    Ok(())
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
        | Command::Check { config }
        | Command::Bootstrap { config, .. }
        | Command::User { config, .. }
        | Command::Project { config, .. }
        | Command::AppCredential { config, .. } => config.clone(),
    };
    let config = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            complain(e);
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    // aws-lc-rs is the only crypto provider built in; install it before any TLS.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default(); // Err only if already installed.
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
        c @ (Command::Bootstrap { .. }
        | Command::User { .. }
        | Command::Project { .. }
        | Command::AppCredential { .. }) => accounts(&config, c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            complain(format_args!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}
