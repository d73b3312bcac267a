//! MQTT 5.0 section 4.13: handling errors.

use crate::{Closing, Ctx, Fail, Scenario, Version::V5_0};
use raw_client::build::{prop, Auth, Connect, Disconnect};

pub(crate) fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::server(
            V5_0,
            "v5.errors.session_expiry_set_on_disconnect_after_zero_closes",
            &["MQTT-4.13.1-1"],
            session_expiry_set_on_disconnect_after_zero_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.errors.auth_without_method_closes",
            &["MQTT-4.13.1-1"],
            auth_without_method_closes,
        ),
        Scenario::server(
            V5_0,
            "v5.errors.error_connack_then_close",
            &["MQTT-4.13.2-1"],
            error_connack_then_close,
        ),
        Scenario::server(
            V5_0,
            "v5.errors.error_disconnect_then_close",
            &["MQTT-4.13.2-1"],
            error_disconnect_then_close,
        ),
    ]
}

/// CONNECT had Session Expiry Interval 0 (absent): a DISCONNECT setting it to 60 is a Protocol
/// Error. The server closes, may send DISCONNECT 0x82 first (0x81 also accepted, section 4.13.1).
async fn session_expiry_set_on_disconnect_after_zero_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Disconnect::v5()
            .reason(0x00)
            .property(prop::session_expiry_interval(60))
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x82, 0x81]))
        .await
        .map_err(|f| f.context("after DISCONNECT with Session Expiry Interval 60 (CONNECT had 0)"))
}

/// An AUTH on a connection made without an Authentication Method is a Protocol Error: close,
/// maybe DISCONNECT 0x82 (or 0x81) first.
async fn auth_without_method_closes(ctx: &mut Ctx) -> Result<(), Fail> {
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &Auth::v5()
            .reason(0x19)
            .property(prop::authentication_method("mqttconf-none"))
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x82, 0x81]))
        .await
        .map_err(|f| f.context("after AUTH 0x19 on a connection without Authentication Method"))
}

/// A CONNACK with an error code is followed by the close: a CONNECT naming an unknown
/// Authentication Method gets CONNACK 0x8C/0x87 then the close, or just the close.
async fn error_connack_then_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let connect: Connect = ctx
        .connect_packet("client")
        .property(prop::authentication_method("mqttconf-unknown-method"));
    let mut c = ctx.connect("client").await?;
    c.send_bytes(&connect.build()).await?;
    c.expect_closed(Closing::silently().or_connack(&[0x8C, 0x87]))
        .await
        .map_err(|f| {
            // Accepted (CONNACK below 0x80): no error code was sent, so 4.13.2-1 has nothing to
            // hold to; refusing the unknown method is MQTT-4.12.0-1's business.
            let accepted = acknowledged_code(f.got(), "CONNACK [").is_some_and(|rc| rc < 0x80);
            let f = f.context("after CONNECT with an unknown Authentication Method");
            if accepted {
                f.setup(Some("MQTT-4.12.0-1"))
            } else {
                f
            }
        })
}

/// The reason code in `got` when it starts with a packet of 5.0 CONNACK's layout (`20 LL FF RC`)
/// rendered as `<prefix>20 06 00 00 ...`.
fn acknowledged_code(got: &str, prefix: &str) -> Option<u8> {
    let hex = got.strip_prefix(prefix)?;
    let rc = hex.split_whitespace().nth(3)?;
    u8::from_str_radix(rc.trim_end_matches([']', ';']), 16).ok()
}

/// A DISCONNECT with an error code is followed by the close: a malformed packet (SUBSCRIBE with
/// reserved header flags) gets DISCONNECT 0x81 then the close, or just the close; no packet after.
async fn error_disconnect_then_close(ctx: &mut Ctx) -> Result<(), Fail> {
    let topic = ctx.topic("t");
    let mut c = ctx.connected("client", |c| c).await?;
    c.send_bytes(
        &raw_client::build::Subscribe::v5(1)
            .filter(&topic, 0)
            .flags_override(0)
            .build(),
    )
    .await?;
    c.expect_closed(Closing::silently().or_disconnect(&[0x81, 0x82]))
        .await
        .map_err(|f| {
            // No DISCONNECT and no close (a SUBACK, or nothing): the malformed packet was not
            // acted on (MQTT-3.8.1-1's failure) and no error code was sent for 4.13.2-1 to hold.
            let acted = f.got().starts_with("DISCONNECT") || f.got().contains("closed");
            let f = f.context("after a SUBSCRIBE with first byte 0x80");
            if acted {
                f
            } else {
                f.setup(Some("MQTT-3.8.1-1"))
            }
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_reason_code_of_a_rendered_connack() {
        let got = "CONNACK [20 06 00 00 03 22 10 00]; the connection still open after 2000 ms";
        assert_eq!(super::acknowledged_code(got, "CONNACK ["), Some(0x00));
        assert_eq!(
            super::acknowledged_code("CONNACK [20 03 00 8c 00] then close", "CONNACK ["),
            Some(0x8c)
        );
        assert_eq!(super::acknowledged_code("nothing", "CONNACK ["), None);
    }
}
