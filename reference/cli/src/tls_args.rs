//! Mosquitto's TLS flags (`--cafile`, `--capath`, `--cert`, `--key`, `--insecure`,
//! `--tls-version`), shared by `mqttref pub`, `sub` and `bench`, and how they combine with the
//! URL's scheme into a [`Transport`].
//!
//! As in `mosquitto_pub`: `--cafile` or `--capath` turns TLS on (port 8883 unless `-p`/the URL
//! says otherwise); an `mqtts://` or `wss://` URL turns it on too, trusting the system's CAs
//! when neither is given; `--insecure` skips only the check of the certificate's name (the
//! chain is still verified). A `ws://` URL with `--cafile`/`--capath` becomes `wss://`. A
//! `quic://` URL is always TLS (1.3, inside QUIC) and takes the same flags.

use std::path::PathBuf;

use clap::Args;
use mqttref_client::{Scheme, TlsOptions, TlsVersion, Transport};

/// The TLS flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct TlsArgs {
    /// CA certificates (PEM) the broker's certificate must chain to; turns TLS on.
    #[arg(long = "cafile", value_name = "FILE")]
    pub cafile: Option<PathBuf>,
    /// Directory of CA certificates (PEM files); turns TLS on.
    #[arg(long = "capath", value_name = "DIR")]
    pub capath: Option<PathBuf>,
    /// Client certificate (PEM, leaf first) for mutual TLS; needs --key.
    #[arg(long = "cert", value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long = "key", value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Do not check that the broker certificate's name matches the host (the chain is still
    /// checked against the CAs).
    #[arg(long = "insecure")]
    pub insecure: bool,
    /// Only this TLS version: tlsv1.3 or tlsv1.2 [default: either].
    #[arg(long = "tls-version", value_name = "VERSION", value_parser = parse_tls_version)]
    pub tls_version: Option<TlsVersion>,
}

fn parse_tls_version(s: &str) -> Result<TlsVersion, String> {
    s.parse()
        .map_err(|e: mqttref_client::TlsConfigError| e.to_string())
}

impl TlsArgs {
    /// Whether the flags alone turn TLS on (`--cafile` or `--capath`).
    pub fn turns_tls_on(&self) -> bool {
        self.cafile.is_some() || self.capath.is_some()
    }

    /// The client's TLS options.
    pub fn options(&self) -> TlsOptions {
        TlsOptions {
            ca_file: self.cafile.clone(),
            ca_path: self.capath.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            skip_hostname_check: self.insecure,
            version: self.tls_version,
            ..TlsOptions::default()
        }
    }

    /// The transport for a URL of `scheme` (`None`: `-h`/`-p`, plain unless the flags turn TLS
    /// on), with the HTTP path of a WebSocket URL.
    ///
    /// # Errors
    /// A TLS-only flag (`--cert`, `--key`, `--insecure`, `--tls-version`) on a connection that
    /// has no TLS, as a message for the user.
    pub fn transport(
        &self,
        scheme: Option<Scheme>,
        ws_path: Option<&str>,
    ) -> Result<Transport, String> {
        let tls = self.turns_tls_on() || scheme.is_some_and(Scheme::is_tls);
        let path = ws_path.unwrap_or("/").to_owned();
        let transport = match (scheme, tls) {
            (Some(Scheme::Ws | Scheme::Wss), true) => Transport::Wss { path },
            (Some(Scheme::Ws | Scheme::Wss), false) => Transport::Ws { path },
            (Some(Scheme::Quic), _) => Transport::Quic,
            (_, true) => Transport::Tls,
            (_, false) => Transport::Tcp,
        };
        let tls_only = self.cert.is_some()
            || self.key.is_some()
            || self.insecure
            || self.tls_version.is_some();
        if tls_only && !tls {
            return Err(
                "--cert, --key, --insecure and --tls-version need TLS: give --cafile or \
                        --capath, or an mqtts:// or wss:// URL (-L)"
                    .into(),
            );
        }
        Ok(transport)
    }
}

/// The default port of a transport given by `-h`/`-p` only (`mosquitto_pub`: 8883 with TLS).
pub fn default_port(transport: &Transport) -> u16 {
    match transport {
        Transport::Tls => 8883,
        Transport::Wss { .. } => 443,
        Transport::Ws { .. } => 80,
        Transport::Quic => Scheme::Quic.default_port(),
        _ => mqttref_client::url::DEFAULT_PORT,
    }
}

/// The URL scheme of a transport, for messages and reports.
pub fn scheme(transport: &Transport) -> &'static str {
    match transport {
        Transport::Tls => "mqtts",
        Transport::Ws { .. } => "ws",
        Transport::Wss { .. } => "wss",
        Transport::Quic => "quic",
        _ => "mqtt",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports() {
        let none = TlsArgs::default();
        assert_eq!(none.transport(None, None), Ok(Transport::Tcp));
        assert_eq!(
            none.transport(Some(Scheme::Mqtts), None),
            Ok(Transport::Tls)
        );
        assert_eq!(
            none.transport(Some(Scheme::Ws), Some("/mqtt")),
            Ok(Transport::Ws {
                path: "/mqtt".into()
            })
        );
        let ca = TlsArgs {
            cafile: Some("ca.pem".into()),
            ..TlsArgs::default()
        };
        assert_eq!(ca.transport(None, None), Ok(Transport::Tls));
        assert_eq!(
            ca.transport(Some(Scheme::Ws), Some("/")),
            Ok(Transport::Wss { path: "/".into() })
        );
        let insecure = TlsArgs {
            insecure: true,
            ..TlsArgs::default()
        };
        assert!(insecure
            .transport(None, None)
            .unwrap_err()
            .contains("need TLS"));
        assert!(insecure.options().skip_hostname_check);
        assert!(!insecure.options().insecure);
        assert_eq!(default_port(&Transport::Tls), 8883);
        assert_eq!(
            none.transport(Some(Scheme::Quic), None),
            Ok(Transport::Quic)
        );
        assert_eq!(scheme(&Transport::Quic), "quic");
        assert_eq!(parse_tls_version("tlsv1.2"), Ok(TlsVersion::Tls12));
        assert!(parse_tls_version("tlsv1").unwrap_err().contains("tlsv1.3"));
    }
}
