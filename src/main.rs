//! sipterm's entry point: parse flags, pick the front-end, run the engine, map the outcome to
//! an exit status (0 normal, 1 fatal error, 2 bad command line, 3 registration refused).

use clap::Parser;
use sipterm::cli::Cli;
use sipterm::config::{Config, FrontEnd};
use sipterm::engine::{Engine, Event};
use std::io::IsTerminal;
use tokio::sync::{broadcast, mpsc};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints help/version (exit 0) or the usage error (exit 2) itself.
        Err(e) => e.exit(),
    };
    if cli.list_devices {
        print!("{}", sipterm::media::device::list_devices_text());
        std::process::exit(0);
    }
    let config = match Config::from_cli(&cli, std::io::stdout().is_terminal()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sipterm: {e}");
            std::process::exit(2);
        }
    };
    // A stderr subscriber would write over the full-screen UI.
    if !matches!(config.front_end, FrontEnd::Tui) {
        init_tracing();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sipterm: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let status = runtime.block_on(run(config));
    // Media and SIP tasks may still hold sockets; do not wait for them beyond this point.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::exit(status);
}

async fn run(config: Config) -> i32 {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = broadcast::channel::<Event>(4096);
    let front = match config.front_end {
        FrontEnd::Headless { json } => {
            tokio::spawn(sipterm::headless::run(json, event_rx, cmd_tx.clone()))
        }
        FrontEnd::Tui => tokio::spawn(sipterm::ui::run(event_rx, cmd_tx.clone())),
    };
    let engine_result = Engine::run(config, cmd_rx, event_tx.clone()).await;
    drop(event_tx);
    let front_status = front.await.unwrap_or(1);
    match engine_result {
        Ok(()) => front_status,
        Err(e) => {
            eprintln!("sipterm: {e}");
            1
        }
    }
}

/// Library diagnostics (rsipstack's included) go to stderr, quiet unless RUST_LOG asks.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
