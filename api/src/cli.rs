//! The binary's subcommands: `serve` (the default), `api`, `work`, `migrate`, `account create`, `reverify` and
//! `schema`.

use crate::app;
use anyhow::Context;
use clap::{Parser, Subcommand};
use worker::Engine;
use worker::accounts::NewUser;
use worker::config::Config;
use worker::crypto::random_token;

#[derive(Parser)]
#[command(name = "api", about = "WhatsApp-by-phone channels for a contact center: GraphQL API and workers")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database, create the first account on an empty one, and serve the API with the job workers
    /// in one process (default).
    Serve,
    /// Serve the API only (run the workers with `work`, e.g. several processes of each on PostgreSQL).
    Api,
    /// Run the job workers only.
    Work,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Re-verify every active number of every account now: queue the checks (the workers of `serve` or `work`
    /// run them) and print how many were queued.
    Reverify,
    /// Print the GraphQL schema (SDL).
    Schema,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account with its first admin and print the admin's token once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long, default_value = "Administrator")]
        admin_name: String,
    },
}

pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Schema) = cli.command {
        print!("{}", crate::graphql::sdl());
        return Ok(());
    }
    let config = Config::from_env()?;
    crate::telemetry::init(config.log_format);
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config, true).await,
            Command::Api => {
                sqlite_split_warning(&config, "api");
                serve(config, false).await
            }
            Command::Work => {
                sqlite_split_warning(&config, "work");
                let engine = engine(&config).await?;
                tracing::info!("workers running");
                let settings = worker::runtime::WorkerSettings::from_config(&config);
                worker::runtime::run_workers_with(engine, settings, app::shutdown_signal()).await
            }
            Command::Migrate => {
                engine(&config).await?;
                println!("migrations applied");
                Ok(())
            }
            Command::Account { command: AccountCommand::Create { name, admin_email, admin_name } } => {
                let engine = engine(&config).await?;
                let password = random_token("");
                let admin = NewUser {
                    email: admin_email,
                    name: admin_name,
                    password: password.clone(),
                    role: entity::Role::Admin,
                };
                let (account, issued) = engine.create_account(&name, admin, None).await.map_err(describe)?;
                println!("account {} created ({})", account.name, account.id);
                println!("admin:    {}", issued.user.email);
                println!("password: {}", password.expose());
                println!("token:    {}", issued.token.expose());
                println!("(shown once: they are stored only as hashes)");
                Ok(())
            }
            Command::Reverify => {
                let engine = engine(&config).await?;
                let queued = engine.reverify_numbers(None).await.map_err(describe)?;
                println!("{queued} numbers queued for re-verification");
                Ok(())
            }
            Command::Schema => Ok(()),
        }
    })
}

/// On SQLite the product is one `serve` process: separate `api` and `work` processes are a PostgreSQL
/// deployment (live events and job wake-ups travel between processes only through PostgreSQL).
fn sqlite_split_warning(config: &Config, what: &str) {
    if config.backend() == worker::config::Backend::Sqlite {
        let msg = format!(
            "`{what}` on SQLite: run the product as one `serve` process. Separate `api` and `work` processes need \
             PostgreSQL; here, live events reach subscribers only when the process that serves them produced \
             them (others arrive within a second by polling) and jobs queued elsewhere wait for the poll."
        );
        eprintln!("warning: {msg}");
        tracing::warn!("{msg}");
    }
}

fn describe(e: worker::Error) -> anyhow::Error {
    match e {
        worker::Error::Internal(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
}

/// Connects, migrates and builds the engine.
pub async fn engine(config: &Config) -> anyhow::Result<Engine> {
    let cipher = config.cipher()?;
    let db = worker::db::connect_migrated(&config.database_url, config.backend()).await?;
    let engine = Engine::new(db, cipher, &config.public_base_url)?
        .with_live_settings(config.live)
        .with_url_policy(worker::net::UrlPolicy { allow_private: config.allow_private_urls })?
        .with_sign_in_settings(config.tokens, config.login.clone());
    engine.jobs.setup(&config.database_url).await?;
    Ok(engine)
}

/// On an empty database, creates the first account and admin and prints how to use them. Later, a changed
/// `APP_BOOTSTRAP_ADMIN_TOKEN` replaces the admin's bootstrap token (the old one stops working).
pub async fn bootstrap(engine: &Engine, config: &Config) -> anyhow::Result<()> {
    if engine.account_count().await.map_err(describe)? > 0 {
        if let Some(token) = &config.bootstrap_admin_token
            && engine.replace_bootstrap_token(&config.bootstrap_admin_email, token).await.map_err(describe)?
        {
            println!(
                "APP_BOOTSTRAP_ADMIN_TOKEN changed: it replaces {}'s previous bootstrap token",
                config.bootstrap_admin_email
            );
            tracing::info!("bootstrap admin token replaced");
        }
        return Ok(());
    }
    let generated = config.bootstrap_admin_password.is_none();
    let password = config.bootstrap_admin_password.clone().unwrap_or_else(|| random_token(""));
    let admin = NewUser {
        email: config.bootstrap_admin_email.clone(),
        name: "Administrator".into(),
        password: password.clone(),
        role: entity::Role::Admin,
    };
    match engine.create_account("Default", admin, config.bootstrap_admin_token.as_ref()).await {
        Ok((_, issued)) => {
            println!("First start: created account \"Default\" with admin {}", issued.user.email);
            if generated {
                println!("  password: {}", password.expose());
            }
            println!("  token:    {}", issued.token.expose());
            println!("  (shown once: they are stored only as hashes)");
            Ok(())
        }
        // Another process bootstrapped the same database a moment earlier.
        Err(worker::Error::Conflict { .. }) => Ok(()),
        Err(e) => Err(describe(e)),
    }
}

async fn serve(config: Config, with_workers: bool) -> anyhow::Result<()> {
    let engine = engine(&config).await?;
    bootstrap(&engine, &config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("APP_LISTEN_ADDR: cannot listen on {}", config.listen_addr))?;
    println!("GraphQL: http://{}/graphql (GraphiQL in a browser)", listener.local_addr()?);
    tracing::info!(addr = %config.listen_addr, with_workers, "serving");
    if !with_workers {
        return app::serve(listener, engine, app::shutdown_signal()).await;
    }
    // One signal stops both: the server finishes its requests, the workers their jobs.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let settings = worker::runtime::WorkerSettings::from_config(&config);
    let workers = tokio::spawn(worker::runtime::run_workers_with(engine.clone(), settings, stopped()));
    let server = app::serve(listener, engine, stopped());
    tokio::spawn(async move {
        app::shutdown_signal().await;
        let _ = tx.send(true);
    });
    server.await?;
    workers.await??;
    Ok(())
}
