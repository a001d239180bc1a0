//! The user agent on loopback against a raw UDP socket playing the other side.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::cli::Cli;
use crate::config::Config;
use clap::Parser;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn config(registrar: SocketAddr) -> Config {
    let sip_uri = format!("sip:alice@{registrar}");
    let cli = Cli::try_parse_from([
        "sipterm",
        "--sip-uri",
        &sip_uri,
        "--password",
        "secret",
        "--port",
        "0",
        "--bind",
        "127.0.0.1",
    ])
    .expect("clap accepts the arguments");
    Config::from_cli(&cli, false).expect("a valid configuration")
}

async fn start_ua(registrar: SocketAddr) -> (UserAgent, mpsc::UnboundedReceiver<SipEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let ua = UserAgent::start(&config(registrar), LOCALHOST, tx, CancellationToken::new())
        .await
        .expect("the user agent starts on loopback");
    (ua, rx)
}

#[tokio::test]
async fn operations_on_an_unknown_call_say_the_call_is_gone() {
    let peer = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let (ua, _events) = start_ua(peer.local_addr().unwrap()).await;
    let key = DialogKey("no-such-dialog".into());
    let accept = ua.accept(&key, String::new()).unwrap_err();
    assert!(matches!(&accept, DialogError::Gone { key: k } if *k == key));
    assert_eq!(accept.to_string(), "the call is gone");
    let bye = ua.bye(&key).await.unwrap_err();
    assert!(matches!(bye, DialogError::Gone { .. }), "{bye}");
    ua.shutdown();
}
