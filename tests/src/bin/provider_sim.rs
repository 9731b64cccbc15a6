//! The provider simulator as a process, to watch the whole flow locally.
//!
//! Serve it (until Ctrl-C), with the numbers and keys you will add to a channel:
//!   cargo run -p tests --bin provider-sim -- --listen 127.0.0.1:9090 --number +14155550123:sim-key-123
//! then give the channel `apiUrl` = the printed URL. Play a client writing to that number:
//!   cargo run -p tests --bin provider-sim -- --send-message --webhook-url <the channel's webhookUrl> \
//!     --key sim-key-123 --to +14155550123 --from +14155550999 --text "hi"
//! or a delivery status of a message the product sent:
//!   cargo run -p tests --bin provider-sim -- --send-status --webhook-url <url> --key sim-key-123 \
//!     --id <provider message id> --status delivered

use anyhow::{Context, bail};
use clap::Parser;
use std::net::SocketAddr;
use tests::provider_sim::{ProviderSim, message_event, send_signed_webhook, status_event};

#[derive(Parser)]
#[command(name = "provider-sim", about = "A local Nova.ChatsConnector: serves verify and send, posts signed webhooks")]
struct Args {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// A connected number and its API key, as E164:KEY (repeatable).
    #[arg(long = "number", value_name = "E164:KEY", value_parser = parse_number)]
    numbers: Vec<(String, String)>,
    /// A disconnected number and its API key, as E164:KEY (repeatable).
    #[arg(long = "disconnected-number", value_name = "E164:KEY", value_parser = parse_number)]
    disconnected: Vec<(String, String)>,

    /// Instead of serving, post one signed `message` webhook and print the answer.
    #[arg(long, conflicts_with = "send_status")]
    send_message: bool,
    /// Instead of serving, post one signed `status` webhook and print the answer.
    #[arg(long)]
    send_status: bool,
    /// The channel's webhook URL (with --send-message / --send-status).
    #[arg(long)]
    webhook_url: Option<String>,
    /// The receiving number's API key: the webhook's signing key.
    #[arg(long)]
    key: Option<String>,
    /// Our number (the message's recipient).
    #[arg(long)]
    to: Option<String>,
    /// The client's number (the message's sender).
    #[arg(long)]
    from: Option<String>,
    /// The message text.
    #[arg(long)]
    text: Option<String>,
    /// The client's display name.
    #[arg(long)]
    contact_name: Option<String>,
    /// The provider message id (default: a fresh one for a message; required for a status).
    #[arg(long)]
    id: Option<String>,
    /// sent, delivered, read or failed (with --send-status).
    #[arg(long)]
    status: Option<String>,
    /// The failure reason of a `failed` status.
    #[arg(long)]
    error: Option<String>,
}

fn parse_number(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((n, k)) if n.starts_with('+') && !k.is_empty() => Ok((n.to_owned(), k.to_owned())),
        _ => Err(format!("expected E164:KEY such as +14155550123:sim-key-123, got {s:?}")),
    }
}

fn need(value: Option<String>, flag: &str) -> anyhow::Result<String> {
    value.with_context(|| format!("{flag} is required here"))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.send_message || args.send_status {
        return post_one(args).await;
    }
    tracing_subscriber::fmt().with_target(false).init();
    let sim = ProviderSim::start_on(args.listen).await?;
    for (n, k) in &args.numbers {
        sim.add_number(n, k, true);
    }
    for (n, k) in &args.disconnected {
        sim.add_number(n, k, false);
    }
    println!("provider simulator listening on {} (also under {})", sim.url(), sim.url_with_path());
    for (n, _) in &args.numbers {
        println!("  number {n} (connected)");
    }
    for (n, _) in &args.disconnected {
        println!("  number {n} (disconnected)");
    }
    if args.numbers.is_empty() && args.disconnected.is_empty() {
        println!("  no numbers: add some with --number E164:KEY");
    }
    println!("use {} as the channel's apiUrl; Ctrl-C stops", sim.url());
    // Each message the product sends is printed as it is accepted (`sent <id> <from> -> <to>: "<text>"`), so a
    // person (or the browser tests) can watch replies reach the provider.
    let mut printed = 0;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            r = &mut ctrl_c => { r.context("cannot wait for Ctrl-C")?; break; }
            _ = tick.tick() => {
                let sent = sim.sent();
                for m in sent.iter().skip(printed) {
                    println!("sent {} {} -> {}: {:?}", m.id, m.from, m.to, m.text);
                }
                printed = sent.len();
            }
        }
    }
    println!("sent messages: {}", sim.sent().len());
    Ok(())
}

async fn post_one(args: Args) -> anyhow::Result<()> {
    let url = need(args.webhook_url, "--webhook-url")?;
    let key = need(args.key, "--key")?;
    let body = if args.send_message {
        let id = args.id.unwrap_or_else(|| format!("nova-in-{}", uuid::Uuid::new_v4().simple()));
        let mut body =
            message_event(&id, &need(args.to, "--to")?, &need(args.from, "--from")?, &need(args.text, "--text")?);
        if let Some(name) = args.contact_name {
            body["contactName"] = serde_json::json!(name);
        }
        body
    } else {
        status_event(&need(args.id, "--id")?, &need(args.status, "--status")?, args.error.as_deref())
    };
    println!("POST {url}\n{body}");
    let (status, answer) = send_signed_webhook(&reqwest::Client::new(), &url, &key, &body).await?;
    println!("-> {status} {answer}");
    if !(200..300).contains(&status) {
        bail!("the webhook was refused ({status})");
    }
    Ok(())
}
