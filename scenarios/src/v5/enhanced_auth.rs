//! MQTT 5.0 section 4.12: enhanced authentication.
//!
//! The exchanges need a method the broker offers: the target file's `[auth]` (the suite speaks
//! SCRAM-SHA-256, RFC 5802/7677, through `mqttref_client::scram`). Without it those scenarios
//! are skipped; the in-process reference run configures SCRAM so they run by default.

use crate::caps::Capability;
use crate::target::AuthSettings;
use crate::{ensure, wire, Client, Closing, Ctx, Fail, Scenario, Setup, Version::V5_0};
use mqttref_client::scram::ScramClient;
use raw_client::build::{packet_type, prop, Auth, Connect, Pingreq};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.enhanced_auth.unknown_method_refused",
            &["MQTT-4.12.0-1"],
            unknown_method_refused,
        ),
        Scenario::server(
            V5_0,
            "v5.enhanced_auth.no_method_no_auth",
            &["MQTT-4.12.0-6"],
            no_method_no_auth,
        ),
        Scenario::server(
            V5_0,
            "v5.enhanced_auth.exchange",
            &["MQTT-4.12.0-2", "MQTT-4.12.0-5", "MQTT-3.15.2-1"],
            exchange,
        )
        .needs(Capability::EnhancedAuth),
        Scenario::server(
            V5_0,
            "v5.enhanced_auth.wrong_proof_refused",
            &["MQTT-4.12.0-4"],
            wrong_proof_refused,
        )
        .needs(Capability::EnhancedAuth),
        Scenario::server(
            V5_0,
            "v5.enhanced_auth.reauthentication",
            &["MQTT-3.15.2-1", "MQTT-4.12.0-5"],
            reauthentication,
        )
        .needs(Capability::EnhancedAuth),
        Scenario::server(
            V5_0,
            "v5.enhanced_auth.failed_reauthentication_closes",
            &["MQTT-4.12.1-2"],
            failed_reauthentication_closes,
        )
        .needs(Capability::EnhancedAuth),
    ]
}

/// CONNACK codes of 0x80 and above (every refusal a CONNACK may carry).
pub(crate) const CONNACK_ERRORS: &[u8] = &[
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99,
    0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];

/// DISCONNECT codes of 0x80 and above.
pub(crate) const DISCONNECT_ERRORS: &[u8] = &[
    0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97,
    0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];

/// The target file's `[auth]` (present: the scenarios declare [`Capability::EnhancedAuth`]).
pub(crate) fn settings(ctx: &Ctx) -> Result<AuthSettings, Fail> {
    ctx.target
        .file
        .auth
        .clone()
        .ok_or_else(|| Fail::skip("the target file names no [auth] method"))
}

/// A SCRAM client for the `[auth]` user; `wrong`: with a password that is not theirs.
pub(crate) fn scram(a: &AuthSettings, wrong: bool) -> ScramClient {
    let password = if wrong {
        format!("{}-not-the-password", a.password)
    } else {
        a.password.clone()
    };
    ScramClient::new(&a.user, &password)
}

/// client-first of `s`.
pub(crate) fn client_first(s: &mut ScramClient) -> Result<Vec<u8>, Fail> {
    s.client_first()
        .map_err(|e| Fail::blocked("a random SCRAM nonce", e, None))
}

/// Connects and sends CONNECT with the `[auth]` method, its user as User Name, and `s`'s
/// client-first (edited by `edit`).
pub(crate) async fn start_exchange(
    ctx: &mut Ctx,
    label: &str,
    a: &AuthSettings,
    s: &mut ScramClient,
    edit: impl FnOnce(Connect) -> Connect,
) -> Result<Client, Fail> {
    let first = client_first(s)?;
    let connect = edit(
        ctx.connect_packet(label)
            .username(&a.user)
            .property(prop::authentication_method(&a.method))
            .property(prop::authentication_data(first)),
    );
    let mut c = ctx.connect(label).await?;
    c.send_bytes(&connect.build()).await?;
    Ok(c)
}

/// The next packet, which must be an AUTH: its bytes and fields.
pub(crate) async fn expect_auth(c: &mut Client) -> Result<(Vec<u8>, wire::Auth), Fail> {
    let bytes = c.expect_type(packet_type::AUTH).await?;
    let auth = wire::auth(&bytes)
        .map_err(|e| Fail::new("an AUTH", format!("{}: {e}", wire::describe(&bytes))))?;
    Ok((bytes, auth))
}

/// Checks an AUTH from the server carries `code` and the method ([MQTT-4.12.0-5]).
fn check_auth(auth: &wire::Auth, code: u8, method: &str, when: &str) -> Result<(), Fail> {
    ensure!(
        auth.code == code,
        format!("{when}: AUTH with Reason Code 0x{code:02X}"),
        format!("AUTH with Reason Code 0x{:02X}", auth.code)
    );
    let got = auth.property_bytes(prop::AUTHENTICATION_METHOD);
    ensure!(
        got == Some(method.as_bytes()),
        format!("{when}: AUTH with Authentication Method {method}"),
        format!(
            "Authentication Method {:?}",
            got.map(String::from_utf8_lossy)
        )
    );
    Ok(())
}

/// The client's AUTH: `code`, the method, `data`.
pub(crate) fn auth_packet(code: u8, method: &str, data: &[u8]) -> Vec<u8> {
    Auth::v5()
        .reason(code)
        .property(prop::authentication_method(method))
        .property(prop::authentication_data(data))
        .build()
}

/// server-first from the server's AUTH, answered with client-final by `s`.
pub(crate) fn client_final(s: &mut ScramClient, auth: &wire::Auth) -> Result<Vec<u8>, Fail> {
    let server_first = auth
        .property_bytes(prop::AUTHENTICATION_DATA)
        .unwrap_or_default();
    s.client_final(server_first).map_err(|e| {
        Fail::blocked(
            "SCRAM server-first data in the AUTH",
            format!("{e} ({:?})", String::from_utf8_lossy(server_first)),
            None,
        )
    })
}

/// A whole exchange to CONNACK 0x00, as setup.
async fn authenticated(ctx: &mut Ctx, label: &str, a: &AuthSettings) -> Result<Client, Fail> {
    let mut s = scram(a, false);
    let mut c = start_exchange(ctx, label, a, &mut s, |c| c).await?;
    let (_, auth) = expect_auth(&mut c).await.setup()?;
    let fin = client_final(&mut s, &auth)?;
    c.send_bytes(&auth_packet(0x18, &a.method, &fin)).await?;
    c.expect_connack(0x00)
        .await
        .map_err(|f| f.context("the [auth] credentials").setup(None))?;
    Ok(c)
}

/// CONNECT with an Authentication Method the server does not support: the server closes, maybe
/// after CONNACK 0x8C (Bad authentication method) or 0x87 (Not authorized); never CONNACK 0x00.
async fn unknown_method_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let connect: Connect = ctx
        .connect_packet("client")
        .property(prop::authentication_method("mqttconf-unknown-method"))
        .property(prop::authentication_data(b"x"));
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&connect.build()).await?;
    c.expect_closed(Closing::silently().or_connack(&[0x8C, 0x87]))
        .await
        .map_err(|f| f.context("after CONNECT with Authentication Method mqttconf-unknown-method"))
}

/// CONNECT without Authentication Method: the CONNACK carries no Authentication Method (0x15),
/// and no AUTH follows (a PINGREQ gets its PINGRESP as next packet, then silence).
async fn no_method_no_auth(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    let connack = c.connack.clone().unwrap_or_else(|| wire::Connack {
        flags: 0,
        code: 0,
        properties: Vec::new(),
    });
    ensure!(
        !connack
            .properties
            .iter()
            .any(|(id, _)| *id == prop::AUTHENTICATION_METHOD || *id == prop::AUTHENTICATION_DATA),
        "a CONNACK without Authentication Method or Data",
        format!("CONNACK properties {:?}", connack.properties)
    );
    c.send_bytes(&Pingreq::new().build()).await?;
    c.expect_type(packet_type::PINGRESP)
        .await
        .map_err(|f| f.context("no AUTH may come before it"))?;
    c.expect_silence().await?;
    c.disconnect().await
}

/// CONNECT with the method and client-first: the server's challenge is AUTH 0x18 carrying the
/// method ([MQTT-4.12.0-2], [MQTT-4.12.0-5], [MQTT-3.15.2-1]); after client-final, CONNACK 0x00
/// carries the method too ([MQTT-4.12.0-5]). Whether server-final verifies (the server proves
/// it holds the credentials) is SCRAM's business, recorded as a choice.
async fn exchange(ctx: &mut Ctx) -> Result<(), Fail> {
    let a = settings(ctx)?;
    let mut s = scram(&a, false);
    let mut c = start_exchange(ctx, "client", &a, &mut s, |c| c).await?;
    let (_, auth) = expect_auth(&mut c)
        .await
        .map_err(|f| f.context("after CONNECT with the [auth] method"))?;
    check_auth(&auth, 0x18, &a.method, "the challenge")?;
    let fin = client_final(&mut s, &auth)?;
    c.send_bytes(&auth_packet(0x18, &a.method, &fin)).await?;
    let ack = c
        .expect_connack(0x00)
        .await
        .map_err(|f| f.context("after client-final with the [auth] credentials"))?;
    let method = ack.property_bytes(prop::AUTHENTICATION_METHOD);
    ensure!(
        method == Some(a.method.as_bytes()),
        format!("CONNACK 0x00 with Authentication Method {}", a.method),
        format!(
            "Authentication Method {:?}",
            method.map(String::from_utf8_lossy)
        )
    );
    let verified = s.check_server_final(
        ack.property_bytes(prop::AUTHENTICATION_DATA)
            .unwrap_or_default(),
    );
    ctx.choice(match verified {
        Ok(()) => "SCRAM server-final verified".to_string(),
        Err(e) => format!("SCRAM server-final did not verify: {e}"),
    });
    c.disconnect().await
}

/// A client-final with a wrong proof: the server closes, optionally after CONNACK 0x80 or
/// above; never CONNACK 0x00 ([MQTT-4.12.0-4]).
async fn wrong_proof_refused(ctx: &mut Ctx) -> Result<(), Fail> {
    let a = settings(ctx)?;
    let mut s = scram(&a, true);
    let mut c = start_exchange(ctx, "client", &a, &mut s, |c| c).await?;
    let (_, auth) = expect_auth(&mut c).await.setup()?;
    let fin = client_final(&mut s, &auth)?;
    c.send_bytes(&auth_packet(0x18, &a.method, &fin)).await?;
    c.expect_closed(Closing::silently().or_connack(CONNACK_ERRORS))
        .await
        .map_err(|f| f.context("after a client-final proving a wrong password"))
}

/// After CONNACK, AUTH 0x19 starts a re-authentication: the server's AUTHs are 0x18 while it
/// continues and 0x00 when done ([MQTT-3.15.2-1]), each with the method ([MQTT-4.12.0-5]);
/// the connection stays up (PINGREQ answered).
async fn reauthentication(ctx: &mut Ctx) -> Result<(), Fail> {
    let a = settings(ctx)?;
    let mut c = authenticated(ctx, "client", &a).await?;
    let mut s = scram(&a, false);
    let first = client_first(&mut s)?;
    c.send_bytes(&auth_packet(0x19, &a.method, &first)).await?;
    let (_, auth) = expect_auth(&mut c)
        .await
        .map_err(|f| f.context("after AUTH 0x19"))?;
    check_auth(&auth, 0x18, &a.method, "the re-authentication's challenge")?;
    let fin = client_final(&mut s, &auth)?;
    c.send_bytes(&auth_packet(0x18, &a.method, &fin)).await?;
    let (_, done) = expect_auth(&mut c)
        .await
        .map_err(|f| f.context("after the re-authentication's client-final"))?;
    check_auth(&done, 0x00, &a.method, "the re-authentication's end")?;
    c.send_bytes(&Pingreq::new().build()).await?;
    c.expect_type(packet_type::PINGRESP)
        .await
        .map_err(|f| f.context("the connection goes on after re-authentication"))?;
    c.disconnect().await
}

/// A re-authentication with a wrong proof: the server closes the connection, normally after
/// DISCONNECT 0x80 or above ([MQTT-4.12.1-2]).
async fn failed_reauthentication_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let a = settings(ctx)?;
    let mut c = authenticated(ctx, "client", &a).await?;
    let mut s = scram(&a, true);
    let first = client_first(&mut s)?;
    c.send_bytes(&auth_packet(0x19, &a.method, &first)).await?;
    let (_, auth) = expect_auth(&mut c).await.setup()?;
    let fin = client_final(&mut s, &auth)?;
    c.send_bytes(&auth_packet(0x18, &a.method, &fin)).await?;
    c.expect_closed(Closing::silently().or_disconnect(DISCONNECT_ERRORS))
        .await
        .map_err(|f| f.context("after a re-authentication proving a wrong password"))
}
