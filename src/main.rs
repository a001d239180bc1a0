//! sipterm's entry point: parse flags, pick the front-end, run the engine, map the outcome to
//! an exit status (DESIGN.md §2).

use anyhow::Context;
use sipterm::cli::Cli;
use sipterm::config::{Config, FrontEnd};
use sipterm::engine::Ended;
use sipterm::frontend::Outcome;
use sipterm::profile::StartError;
use sipterm::scenario::Scenario;
use sipterm::suite::SuiteOptions;
use sipterm::vocab::Outcome as Verdict;
use std::io::IsTerminal;
use tokio::sync::mpsc;

/// Duration reached, the user quit, Ctrl+C.
const EXIT_OK: i32 = 0;
/// Any other fatal error.
const EXIT_FAILED: i32 = 1;
/// Bad command line (clap exits with it itself for unknown flags).
const EXIT_USAGE: i32 = 2;
/// Registration refused for good (wrong credentials, account refused, a registrar TLS
/// certificate we cannot trust).
const EXIT_REGISTRATION_REFUSED: i32 = 3;
/// `--call`: the call was refused or never answered (the status is in the log and in
/// `call_ended`), or failed after the answer.
const EXIT_CALL_NOT_ANSWERED: i32 = 4;
/// `--call` with `--goal`: the AI caller's verdict was "failed" (the model ended the call
/// saying the goal was not met). In a suite: any call failed (its verdict, an expectation or
/// a step).
const EXIT_GOAL_FAILED: i32 = 5;
/// `--call` with `--goal`: no verdict — `--max-turns` or `--max-duration` was reached, or the
/// agent hung up first. In a suite: nothing failed, but some call was undecided.
const EXIT_GOAL_UNDECIDED: i32 = 6;
/// A second interrupt while cleaning up: out at once, as shells expect of SIGINT.
const EXIT_INTERRUPTED: i32 = 130;

/// `--print-config`: the merged settings, with what the configuration derives from them
/// filled in; a setting the configuration refuses is reported after them (exit 2).
fn print_config(resolved: &sipterm::profile::Resolved) -> ! {
    for warning in &resolved.warnings {
        eprintln!("sipterm: warning: {warning}");
    }
    let cli = &resolved.cli;
    if cli.sip_uri.is_none() && cli.call.is_none() && cli.scenario.is_none() {
        // Not a whole configuration yet (a file being written): nothing to derive or judge.
        print!("{}", resolved.render(&[]));
        std::process::exit(EXIT_OK);
    }
    match Config::from_cli(cli, false) {
        Ok(config) => {
            print!("{}", resolved.render(&derived_settings(cli, &config)));
            std::process::exit(EXIT_OK);
        }
        Err(e) => {
            print!("{}", resolved.render(&[]));
            let message = e.to_string();
            match resolved.blame(&message) {
                Some(origin) => {
                    eprintln!("sipterm: this configuration is refused: {message} {origin}")
                }
                None => eprintln!("sipterm: this configuration is refused: {message}"),
            }
            std::process::exit(EXIT_USAGE);
        }
    }
}

/// The values `Config` works out for flags left unset.
fn derived_settings(cli: &Cli, config: &Config) -> Vec<sipterm::profile::Derived> {
    use sipterm::profile::Derived;
    let api = config.bridge.api;
    let mut derived = vec![
        Derived {
            key: "transport",
            value: config.transport.as_str().to_ascii_lowercase(),
            why: "derived from the SIP URI".into(),
        },
        Derived {
            key: "srtp",
            value: config.srtp.name().to_owned(),
            why: format!("default over {}", config.transport.as_str()),
        },
        Derived {
            key: "model",
            value: config.bridge.model.clone(),
            why: format!("default for --api {}", api.name()),
        },
        Derived {
            key: "voice",
            value: config.bridge.voice.clone(),
            why: format!("default for --api {}", api.name()),
        },
        Derived {
            key: "realtime_url",
            value: config.bridge.url.clone(),
            why: format!("default for --api {}", api.name()),
        },
    ];
    if cli.sip_uri.is_some() {
        derived.push(Derived {
            key: "registrar_uri",
            value: config.account.registrar.to_string(),
            why: "derived from sip_uri".into(),
        });
        derived.push(Derived {
            key: "username",
            value: config.account.username.clone(),
            why: "the user part of sip_uri".into(),
        });
    }
    derived
}

fn main() {
    let args = sipterm::cli::expand_test_subcommand(std::env::args_os().collect());
    // The config file's profile fills what the command line leaves out; any mistake in the
    // file stops us here, before anything is sent.
    let resolved = match sipterm::profile::resolve(args) {
        Ok(resolved) => resolved,
        // clap prints help/version (exit 0) or the usage error (exit 2) itself.
        Err(StartError::Clap(e)) => e.exit(),
        Err(StartError::Rules { error, note }) => {
            let _ = error.print();
            eprintln!("{note}");
            std::process::exit(EXIT_USAGE);
        }
        Err(e @ StartError::Profile(_)) => {
            eprintln!("sipterm: {e}");
            std::process::exit(EXIT_USAGE);
        }
    };
    if resolved.print_config {
        print_config(&resolved);
    }
    let mut cli: Cli = resolved.cli.clone();
    if cli.list_devices {
        print!("{}", sipterm::media::device::list_devices_text());
        std::process::exit(0);
    }
    // A scenario is read (and refused, naming the line) before anything else happens; its
    // [call] table fills the flags the command line left out.
    let scenario = match cli.scenario.clone() {
        // The scenario's [call] table is more specific than a profile: it may replace what
        // the profile supplied, but not what the command line says.
        Some(path) => {
            match sipterm::suite::prepare(&path, &mut cli, |long| resolved.from_profile(long)) {
                Ok(scenario) => Some(scenario),
                Err(e) => {
                    eprintln!("sipterm: {e}");
                    std::process::exit(EXIT_USAGE);
                }
            }
        }
        None => None,
    };
    let mut config = match Config::from_cli(&cli, std::io::stdout().is_terminal()) {
        Ok(c) => c,
        Err(e) => {
            let message = e.to_string();
            match resolved.blame(&message) {
                Some(origin) => eprintln!("sipterm: {message} {origin}"),
                None => eprintln!("sipterm: {message}"),
            }
            std::process::exit(EXIT_USAGE);
        }
    };
    config.profile = resolved.profile.clone();
    config.startup_warnings = resolved.warnings.clone();
    let suite = scenario.map(|scenario| {
        let opts = sipterm::suite::options(
            &scenario,
            &cli,
            &mut config,
            std::io::stderr().is_terminal(),
        );
        (scenario, opts)
    });
    // A stderr subscriber would write over the full-screen UI.
    if !matches!(config.front_end, FrontEnd::Tui) {
        init_tracing();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sipterm: {e:#}");
            std::process::exit(EXIT_FAILED);
        }
    };
    let status = runtime.block_on(run(config, suite));
    // Media and SIP tasks may still hold sockets; do not wait for them beyond this point.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    std::process::exit(status);
}

async fn run(config: Config, suite: Option<(Scenario, SuiteOptions)>) -> i32 {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = sipterm::vocab::bus::bus();
    // A suite's calls are placed and judged beside the front-end, which then prints only
    // what needs a person's eye and the suite's own events (a line per call).
    let suite = suite.map(|(scenario, opts)| {
        tokio::spawn(sipterm::suite::run(
            scenario,
            opts,
            event_tx.subscribe(),
            cmd_tx.clone(),
            event_tx.downgrade(),
        ))
    });
    let quiet = suite.is_some();
    let front = match config.front_end {
        FrontEnd::Headless { json } => tokio::spawn(sipterm::headless::run(
            json,
            quiet,
            event_rx,
            cmd_tx.clone(),
        )),
        FrontEnd::Tui => tokio::spawn(sipterm::ui::run(event_rx, cmd_tx.clone())),
    };
    let mut engine = tokio::spawn(sipterm::engine::run(config, cmd_rx, event_tx.clone()));
    drop(event_tx);
    let mut front = std::pin::pin!(front);
    // The front-end may end first only to leave at once (a second Ctrl+C); otherwise it ends
    // after the engine's last event, and its outcome is kept for the exit status.
    let (engine_result, outcome) = tokio::select! {
        result = &mut engine => (result, front.await),
        outcome = &mut front => {
            if outcome.as_ref().ok() == Some(&Outcome::Interrupted) {
                return EXIT_INTERRUPTED;
            }
            (engine.await, outcome)
        }
    };
    // The engine's own errors are one plain sentence already; a panic gets its context.
    let engine_result = match engine_result {
        Ok(result) => result.map_err(anyhow::Error::from),
        Err(panicked) => Err(anyhow::anyhow!(
            "the engine stopped unexpectedly: {panicked}"
        )),
    };
    let outcome = outcome.unwrap_or(Outcome::Failed);
    let suite = match suite {
        Some(task) => task.await.ok(),
        None => None,
    };
    if let (Ok(_), Outcome::Normal, Some(result)) = (&engine_result, &outcome, &suite) {
        return match result.exit_outcome() {
            Verdict::Passed => EXIT_OK,
            Verdict::Failed => EXIT_GOAL_FAILED,
            Verdict::Undecided => EXIT_GOAL_UNDECIDED,
        };
    }
    match (engine_result, outcome) {
        (Err(e), _) => {
            eprintln!("sipterm: {e}");
            EXIT_FAILED
        }
        (Ok(_), Outcome::RegistrationRefused) => EXIT_REGISTRATION_REFUSED,
        (Ok(_), Outcome::Interrupted) => EXIT_INTERRUPTED,
        (Ok(_), Outcome::Failed) => EXIT_FAILED,
        (Ok(Ended::CallNotAnswered), Outcome::Normal) => EXIT_CALL_NOT_ANSWERED,
        (Ok(Ended::Normal), Outcome::Normal) => EXIT_OK,
        (Ok(Ended::Verdict(verdict)), Outcome::Normal) => match verdict {
            Verdict::Passed => EXIT_OK,
            Verdict::Failed => EXIT_GOAL_FAILED,
            Verdict::Undecided => EXIT_GOAL_UNDECIDED,
        },
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
