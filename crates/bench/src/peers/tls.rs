//! rustls mutual TLS 1.3: a private CA, a server and a client certificate
//! (ECDSA P-256, made by rcgen), full handshakes only (no tickets, no
//! resumption: a resumed handshake would skip the certificate checks that
//! chainmail's handshake always does), driven in memory or over TCP.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::measure::Cpu;

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use crate::transport::Endpoint;

/// Which crypto provider backs rustls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// rustls's default.
    AwsLcRs,
    /// The second row.
    Ring,
}

impl Provider {
    fn provider(self) -> CryptoProvider {
        match self {
            Provider::AwsLcRs => rustls::crypto::aws_lc_rs::default_provider(),
            Provider::Ring => rustls::crypto::ring::default_provider(),
        }
    }
}

/// Client and server configurations of one mutual-TLS deployment.
#[derive(Clone)]
pub struct Tls {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: ServerName<'static>,
}

fn p256() -> Result<KeyPair> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("P-256 key")
}

/// The three P-256 keys of a deployment (PKCS#8 DER), so that two processes
/// can build certificates that verify against each other's.
#[derive(Clone)]
pub struct TlsKeys {
    ca: Vec<u8>,
    server: Vec<u8>,
    client: Vec<u8>,
}

impl TlsKeys {
    /// Fresh keys.
    pub fn generate() -> Result<Self> {
        Ok(TlsKeys {
            ca: p256()?.serialize_der(),
            server: p256()?.serialize_der(),
            client: p256()?.serialize_der(),
        })
    }

    /// The keys as three hex strings.
    pub fn to_hex(&self) -> [String; 3] {
        [
            hex::encode(&self.ca),
            hex::encode(&self.server),
            hex::encode(&self.client),
        ]
    }

    /// Keys from [`TlsKeys::to_hex`].
    pub fn from_hex(parts: [&str; 3]) -> Result<Self> {
        Ok(TlsKeys {
            ca: hex::decode(parts[0])?,
            server: hex::decode(parts[1])?,
            client: hex::decode(parts[2])?,
        })
    }
}

fn key(der: &[u8]) -> Result<KeyPair> {
    KeyPair::try_from(der).context("P-256 key")
}

impl Tls {
    /// A CA, a server certificate for `server.bench` and a client certificate, all P-256.
    pub fn new(provider: Provider) -> Result<Self> {
        Self::with_keys(provider, &TlsKeys::generate()?)
    }

    /// As [`Tls::new`] with given keys (certificates are made afresh; they
    /// verify across processes because only the keys and names matter).
    pub fn with_keys(provider: Provider, keys: &TlsKeys) -> Result<Self> {
        let provider = Arc::new(provider.provider());
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "chainmail bench CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, key(&keys.ca)?)?;

        let server_key = key(&keys.server)?;
        let server_cert = CertificateParams::new(vec!["server.bench".to_string()])?
            .signed_by(&server_key, &ca)?;
        let client_key = key(&keys.client)?;
        let mut client_params = CertificateParams::new(vec!["client.bench".to_string()])?;
        client_params
            .distinguished_name
            .push(DnType::CommonName, "client.bench");
        let client_cert = client_params.signed_by(&client_key, &ca)?;

        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone())?;
        let roots = Arc::new(roots);
        let verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?;
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![server_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )?;
        server.send_tls13_tickets = 0;
        let mut client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![client_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(client_key.serialize_der())),
            )?;
        client.resumption = rustls::client::Resumption::disabled();
        Ok(Tls {
            client: Arc::new(client),
            server: Arc::new(server),
            name: ServerName::try_from("server.bench")?.to_owned(),
        })
    }

    /// One full in-memory handshake; returns the CPU time spent in the server's
    /// calls, the total CPU time, and both connections.
    pub fn handshake(&self) -> Result<(Duration, Duration, ClientConnection, ServerConnection)> {
        let start = Cpu::start();
        let mut in_server = Duration::ZERO;
        let mut client = ClientConnection::new(self.client.clone(), self.name.clone())?;
        let t = Cpu::start();
        let mut server = ServerConnection::new(self.server.clone())?;
        in_server += t.elapsed();
        let mut buf = Vec::with_capacity(8192);
        for _ in 0..16 {
            buf.clear();
            while client.wants_write() {
                client.write_tls(&mut buf)?;
            }
            let t = Cpu::start();
            if !buf.is_empty() {
                feed_tls(&mut *server, &buf)?;
                server.process_new_packets()?;
            }
            buf.clear();
            while server.wants_write() {
                server.write_tls(&mut buf)?;
            }
            in_server += t.elapsed();
            if !buf.is_empty() {
                feed_tls(&mut *client, &buf)?;
                client.process_new_packets()?;
            }
            if !client.is_handshaking()
                && !server.is_handshaking()
                && !client.wants_write()
                && !server.wants_write()
            {
                return Ok((in_server, start.elapsed(), client, server));
            }
        }
        anyhow::bail!("rustls handshake did not finish in 16 flights")
    }

    /// The key-exchange group a handshake negotiates (for the table's notes).
    pub fn kx_group(&self) -> Result<String> {
        let (_, _, client, _) = self.handshake()?;
        Ok(client
            .negotiated_key_exchange_group()
            .map(|g| format!("{:?}", g.name()))
            .unwrap_or_else(|| "?".into()))
    }

    /// Server side of a handshake over a blocking socket (for the idle-session count).
    pub fn accept_blocking(&self, sock: &mut std::net::TcpStream) -> Result<ServerConnection> {
        let mut server = ServerConnection::new(self.server.clone())?;
        while server.is_handshaking() {
            server.complete_io(sock)?;
        }
        Ok(server)
    }

    /// Client side of a handshake over a blocking socket.
    pub fn connect_blocking(&self, sock: &mut std::net::TcpStream) -> Result<ClientConnection> {
        let mut client = ClientConnection::new(self.client.clone(), self.name.clone())?;
        while client.is_handshaking() {
            client.complete_io(sock)?;
        }
        Ok(client)
    }
}

/// Hands all of `bytes` to the connection's TLS reader.
fn feed_tls<D>(conn: &mut rustls::ConnectionCommon<D>, mut bytes: &[u8]) -> Result<()> {
    while !bytes.is_empty() {
        conn.read_tls(&mut bytes)?;
    }
    Ok(())
}

/// A rustls connection as a transport endpoint.
pub struct TlsEndpoint<C> {
    conn: C,
    scratch: Vec<u8>,
}

impl<C> TlsEndpoint<C> {
    /// Wraps an established connection.
    pub fn new(conn: C) -> Self {
        TlsEndpoint {
            conn,
            scratch: vec![0; 64 * 1024],
        }
    }
}

impl<C, D> Endpoint for TlsEndpoint<C>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>> + Send,
    D: Send,
{
    fn seal(&mut self, messages: &[&[u8]], out: &mut Vec<u8>) -> Result<()> {
        for m in messages {
            self.conn.writer().write_all(m)?;
        }
        while self.conn.wants_write() {
            self.conn.write_tls(out)?;
        }
        Ok(())
    }

    fn feed(&mut self, mut input: &[u8]) -> Result<usize> {
        let mut delivered = 0;
        while !input.is_empty() {
            self.conn.read_tls(&mut input)?;
            self.conn.process_new_packets()?;
            loop {
                match self.conn.reader().read(&mut self.scratch) {
                    Ok(0) => break,
                    Ok(n) => delivered += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(delivered)
    }

    fn ack(&mut self, _messages: usize, out: &mut Vec<u8>) -> Result<()> {
        self.seal(&[&[0u8; 16]], out)
    }
}
