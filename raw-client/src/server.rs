//! The scripted raw server: the other half of [`RawClient`], for client-role scenarios.
//!
//! A [`RawServer`] listens on an ephemeral loopback port and hands every accepted connection
//! back as a [`RawClient`] over the accepted stream, so everything the raw client does to a
//! server — read and decode leniently with a transcript, send any bytes, expect packets,
//! silence or a close with explicit timeouts — the scripted server does to a client, with the
//! same decoder and the same transcript. The rest is what a script leaves out:
//!
//! - *drop the link*: drop the connection, or [`RawClient::close`] it (the client reads EOF);
//! - *stall*: do not read (bytes queue in the socket) or [`stall`] for a while;
//! - *withhold an acknowledgement*: do not send it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use raw_client::{PacketType, ProtocolVersion, RawServer};
//!
//! let mut server = RawServer::bind(ProtocolVersion::V5, "server").await?;
//! println!("point the client at {}", server.local_addr());
//! let mut conn = server.accept(Duration::from_secs(5)).await?;
//! conn.expect_kind(PacketType::Connect, Duration::from_secs(2)).await?;
//! conn.send_bytes(&[0x20, 0x03, 0x00, 0x00, 0x00]).await?; // CONNACK, Success
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::{ExpectError, ProtocolVersion, RawClient, RawError};

/// A listening socket whose accepted connections are [`RawClient`]s (labelled `label`,
/// `label#2`, `label#3`, ... in accept order).
#[derive(Debug)]
pub struct RawServer {
    listener: TcpListener,
    version: ProtocolVersion,
    label: String,
    accepted: usize,
}

impl RawServer {
    /// Listens on `127.0.0.1`, on a port the system chooses. Frames are decoded as `version`
    /// (change it per connection with [`RawClient::set_version`]).
    pub async fn bind(version: ProtocolVersion, label: &str) -> Result<RawServer, RawError> {
        let listener =
            TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|source| RawError::Connect {
                    addr: "127.0.0.1:0 (listen)".to_owned(),
                    source,
                })?;
        Ok(RawServer {
            listener,
            version,
            label: label.to_owned(),
            accepted: 0,
        })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted
    }

    /// The next connection within `timeout`. Cancel-safe (tokio's `accept` is).
    pub async fn accept(&mut self, timeout: Duration) -> Result<RawClient, ExpectError> {
        let what = "the client to open a connection";
        let (stream, _) = match tokio::time::timeout(timeout, self.listener.accept()).await {
            Err(_) => {
                return Err(ExpectError::Timeout {
                    what: what.to_owned(),
                    waited: timeout,
                })
            }
            Ok(Err(e)) => return Err(ExpectError::Io(format!("accept: {e}"))),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        self.accepted += 1;
        let label = if self.accepted == 1 {
            self.label.clone()
        } else {
            format!("{}#{}", self.label, self.accepted)
        };
        let mut conn = RawClient::from_stream(stream, self.version, &label);
        conn.note("accepted a connection from the client");
        Ok(conn)
    }
}

/// Does nothing for `d`: the server neither reads nor writes (the stall of a busy or hung
/// server; what the client sends queues in the socket).
pub async fn stall(d: Duration) {
    tokio::time::sleep(d).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PacketType;

    #[test]
    fn server_packets() {
        use crate::build::{prop, Connack, Property, Suback};
        assert_eq!(Connack::v5().build(), [0x20, 0x03, 0x00, 0x00, 0x00]);
        assert_eq!(
            Connack::v311().session_present(true).build(),
            [0x20, 0x02, 0x01, 0x00]
        );
        assert_eq!(
            Connack::v5()
                .property(Property::u16(prop::RECEIVE_MAXIMUM, 2))
                .build(),
            [0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x02]
        );
        assert_eq!(
            Suback::new(ProtocolVersion::V3_1_1, 7, &[1]).build(),
            [0x90, 0x03, 0x00, 0x07, 0x01]
        );
        assert_eq!(
            Suback::unsuback(ProtocolVersion::V5, 7, &[0]).build(),
            [0xb0, 0x04, 0x00, 0x07, 0x00, 0x00]
        );
    }

    #[tokio::test]
    async fn accepts_reads_and_answers() {
        let mut server = RawServer::bind(ProtocolVersion::V5, "srv").await.unwrap();
        let addr = server.local_addr().to_string();
        let mut client = RawClient::connect_tcp(&addr, ProtocolVersion::V5, "c")
            .await
            .unwrap();
        let mut conn = server.accept(Duration::from_secs(2)).await.unwrap();
        client
            .send_bytes(&crate::build::Connect::v5("c1").build())
            .await
            .unwrap();
        let connect = conn
            .expect_kind(PacketType::Connect, Duration::from_secs(2))
            .await
            .unwrap();
        assert!(connect.error.is_none(), "{}", connect.decoded);
        conn.send_bytes(&[0x20, 0x03, 0x00, 0x00, 0x00])
            .await
            .unwrap();
        client
            .expect_kind(PacketType::ConnAck, Duration::from_secs(2))
            .await
            .unwrap();
        let t = conn.transcript().render();
        assert!(t.contains("srv <- CONNECT"), "{t}");
        drop(conn);
        client.expect_close(Duration::from_secs(2)).await.unwrap();
        assert!(matches!(
            server.accept(Duration::from_millis(50)).await,
            Err(ExpectError::Timeout { .. })
        ));
    }
}
