//! The chatbot simulator as a process, to watch a bot serve conversations locally: it greets, echoes, hands off on
//! "agent" and resolves on "bye" (or, with --silent, only answers).
//!
//! First serve it (until Ctrl-C) and create the chatbot in the product with `endpointUrl` = the printed URL; without
//! a signing secret every post answers 401:
//!
//! ```text
//! cargo run -p tests --bin chatbot-sim -- --listen 127.0.0.1:9191
//! ```
//!
//! The product shows the bot's token and signing secret once: restart on the same address with them, read into the
//! environment so they stay out of the shell history (or pass --token <bot token> --signing-secret <secret>):
//!
//! ```text
//! read -rs CHATBOT_TOKEN && read -rs CHATBOT_SIGNING_SECRET && export CHATBOT_TOKEN CHATBOT_SIGNING_SECRET
//! cargo run -p tests --bin chatbot-sim -- --listen 127.0.0.1:9191 --graphql-url http://127.0.0.1:8080/graphql
//! ```
//!
//! Each post (conversation, text, signature ok) and each action's outcome is logged to stderr.

use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use tests::chatbot_sim::{ChatbotSim, Mode};

#[derive(Parser)]
#[command(
    name = "chatbot-sim",
    about = "A local chatbot: verifies the product's signed posts and acts back over GraphQL"
)]
struct Args {
    /// Address to serve on; the endpoint is /bot there.
    #[arg(long, default_value = "127.0.0.1:9191")]
    listen: SocketAddr,
    /// The product's GraphQL URL the bot acts through.
    #[arg(long, default_value = "http://127.0.0.1:8080/graphql")]
    graphql_url: String,
    /// The bot's API token (bearer), as the product revealed it.
    #[arg(long, env = "CHATBOT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The bot's signing secret, as the product revealed it.
    #[arg(long, env = "CHATBOT_SIGNING_SECRET", hide_env_values = true)]
    signing_secret: Option<String>,
    /// Answer 200 to valid posts and do nothing.
    #[arg(long)]
    silent: bool,
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).with_writer(std::io::stderr).init();
    let sim = ChatbotSim::start_on(args.listen).await?;
    if args.silent {
        sim.set_mode(Mode::Silent);
    }
    println!("chatbot simulator listening; use {} as the chatbot's endpointUrl", sim.url());
    let token = args.token.filter(|t| !t.trim().is_empty());
    match args.signing_secret.filter(|s| !s.trim().is_empty()) {
        Some(secret) => {
            if token.is_none() && !args.silent {
                println!("  no token (--token or CHATBOT_TOKEN): every action will be refused");
            }
            sim.configure(&args.graphql_url, token.as_deref().unwrap_or_default(), &secret);
            let mode = if args.silent { "silent" } else { "echo" };
            println!("  acting through {} ({mode})", args.graphql_url);
        }
        None => {
            println!("  not configured: every post answers 401 until restarted with the bot's signing secret");
            println!("  (--signing-secret or CHATBOT_SIGNING_SECRET) and token (--token or CHATBOT_TOKEN)");
        }
    }
    println!("Ctrl-C stops");
    tokio::signal::ctrl_c().await.context("cannot wait for Ctrl-C")?;
    let (posts, accepted, actions) = (sim.posts(), sim.accepted(), sim.actions());
    println!("posts: {} received, {} accepted", posts.len(), accepted.len());
    println!("actions: {}", actions.len());
    for a in &actions {
        let outcome = match &a.result {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("failed: {e}"),
        };
        match &a.text {
            Some(t) => println!("  {} {} {t:?}: {outcome}", a.kind, a.conversation_id),
            None => println!("  {} {}: {outcome}", a.kind, a.conversation_id),
        }
    }
    Ok(())
}
