//! Registering a sipp UAS at Kamailio, so calls through the proxy reach it.

use std::time::Duration;

use super::super::kamailio::Kamailio;
use super::{Sipp, SippProcess, SippRun, Transport};

/// Registers `user` at `kamailio` with `Contact: <sip:user@127.0.0.1:contact_port>` by running
/// `uac_register.xml`; returns the run (check `success()`).
pub fn register(
    kamailio: &Kamailio,
    user: &str,
    password: &str,
    contact_port: u16,
    transport: Transport,
) -> SippRun {
    binding(
        "uac_register.xml",
        kamailio,
        user,
        password,
        contact_port,
        transport,
    )
}

/// Removes that binding again (`uac_unregister.xml`).
pub fn unregister(
    kamailio: &Kamailio,
    user: &str,
    password: &str,
    contact_port: u16,
    transport: Transport,
) -> SippRun {
    binding(
        "uac_unregister.xml",
        kamailio,
        user,
        password,
        contact_port,
        transport,
    )
}

fn binding(
    scenario: &str,
    kamailio: &Kamailio,
    user: &str,
    password: &str,
    contact_port: u16,
    transport: Transport,
) -> SippRun {
    Sipp::uac(scenario, kamailio.addr())
        .service(user)
        .auth(user, password)
        .transport(transport)
        .key("contact_port", contact_port)
        .timeout(Duration::from_secs(15))
        .run()
}

/// Spawns `uas` (a `Sipp::uas(..)` builder), registers it at `kamailio` as `user`, and waits
/// until Kamailio lists the contact. sipp cannot do both in one process (a REGISTER and the
/// INVITE that follows have different Call-IDs, and a client-mode sipp drops unknown
/// Call-IDs), so a second, short sipp registers the UAS's port.
pub fn spawn_registered_uas(
    kamailio: &Kamailio,
    user: &str,
    password: &str,
    uas: Sipp,
) -> SippProcess {
    let transport = uas.transport;
    let mut process = uas.spawn();
    let run = register(kamailio, user, password, process.local_port(), transport);
    if !run.success() {
        let still = process.is_running();
        panic!("registering the sipp UAS as {user} failed (UAS running: {still}):\n{run}");
    }
    let port = format!(":{}", process.local_port());
    if let Err(why) = kamailio.wait_for_contacts(
        user,
        |c| c.iter().any(|c| c.contains(&port)),
        Duration::from_secs(10),
    ) {
        panic!("the sipp UAS registered but Kamailio does not list it: {why}");
    }
    process
}
