//! snow: Noise_IK_25519_ChaChaPoly_BLAKE2s (one round trip, the initiator
//! knows the responder's static key — the closest Noise pattern to
//! chainmail's handshake) and Noise_XK (one more message, hides the
//! initiator's identity until the third). Messages carry a 2-byte length,
//! Noise's own limit of 65,535 bytes.

use std::time::Duration;

use crate::measure::Cpu;

use anyhow::{Context, Result};
use snow::{Builder, Keypair, TransportState};

use crate::transport::Endpoint;

/// Largest Noise transport message, tag included.
const MAX_NOISE: usize = 65_535;
/// Largest payload in one Noise transport message.
pub const MAX_NOISE_PAYLOAD: usize = MAX_NOISE - 16;

/// Which Noise pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// `IK`: 1 round trip.
    Ik,
    /// `XK`: 1.5 round trips.
    Xk,
}

impl Pattern {
    fn params(self) -> &'static str {
        match self {
            Pattern::Ik => "Noise_IK_25519_ChaChaPoly_BLAKE2s",
            Pattern::Xk => "Noise_XK_25519_ChaChaPoly_BLAKE2s",
        }
    }
}

/// Static keys of an initiator and a responder.
pub struct Noise {
    pattern: Pattern,
    initiator: Keypair,
    responder: Keypair,
}

impl Noise {
    /// Fresh static keys for both sides.
    pub fn new(pattern: Pattern) -> Result<Self> {
        let b = Builder::new(pattern.params().parse()?);
        Ok(Noise {
            pattern,
            initiator: b.generate_keypair()?,
            responder: b.generate_keypair()?,
        })
    }

    /// The four key halves as hex (initiator private, public, responder private, public).
    pub fn keys_hex(&self) -> [String; 4] {
        [
            hex::encode(&self.initiator.private),
            hex::encode(&self.initiator.public),
            hex::encode(&self.responder.private),
            hex::encode(&self.responder.public),
        ]
    }

    /// The same deployment from [`Noise::keys_hex`].
    pub fn from_keys_hex(pattern: Pattern, k: [&str; 4]) -> Result<Self> {
        Ok(Noise {
            pattern,
            initiator: Keypair {
                private: hex::decode(k[0])?,
                public: hex::decode(k[1])?,
            },
            responder: Keypair {
                private: hex::decode(k[2])?,
                public: hex::decode(k[3])?,
            },
        })
    }

    fn builder(&self) -> Result<Builder<'_>> {
        Ok(Builder::new(self.pattern.params().parse()?))
    }

    fn initiator(&self) -> Result<snow::HandshakeState> {
        Ok(self
            .builder()?
            .local_private_key(&self.initiator.private)?
            .remote_public_key(&self.responder.public)?
            .build_initiator()?)
    }

    fn responder(&self) -> Result<snow::HandshakeState> {
        Ok(self
            .builder()?
            .local_private_key(&self.responder.private)?
            .build_responder()?)
    }

    /// One full in-memory handshake: (time in the responder's calls, total
    /// CPU time, initiator transport, responder transport). The responder checks
    /// the initiator's static key against the one it knows (Noise leaves
    /// that authorization to the application).
    pub fn handshake(&self) -> Result<(Duration, Duration, TransportState, TransportState)> {
        let start = Cpu::start();
        let mut msg = [0u8; 256];
        let mut payload = [0u8; 64];
        let mut ini = self.initiator()?;
        let t = Cpu::start();
        let mut res = self.responder()?;
        let mut in_responder = t.elapsed();
        // -> e, es, s, ss (IK) | -> e, es (XK)
        let n = ini.write_message(&[], &mut msg)?;
        let t = Cpu::start();
        res.read_message(&msg[..n], &mut payload)?;
        // <- e, ee, se (IK) | <- e, ee (XK)
        let n = res.write_message(&[], &mut msg)?;
        in_responder += t.elapsed();
        ini.read_message(&msg[..n], &mut payload)?;
        if self.pattern == Pattern::Xk {
            // -> s, se
            let n = ini.write_message(&[], &mut msg)?;
            let t = Cpu::start();
            res.read_message(&msg[..n], &mut payload)?;
            in_responder += t.elapsed();
        }
        let t = Cpu::start();
        let known =
            res.get_remote_static().context("no initiator static key")? == self.initiator.public;
        anyhow::ensure!(known, "unknown initiator");
        let res = res.into_transport_mode()?;
        in_responder += t.elapsed();
        let ini = ini.into_transport_mode()?;
        Ok((in_responder, start.elapsed(), ini, res))
    }

    /// Responder side over a blocking socket (for the idle-session count).
    pub fn accept_blocking(&self, sock: &mut std::net::TcpStream) -> Result<TransportState> {
        let mut res = self.responder()?;
        let mut payload = [0u8; 256];
        let mut msg = [0u8; 256];
        while !res.is_handshake_finished() {
            if res.is_my_turn() {
                let n = res.write_message(&[], &mut msg)?;
                write_msg(sock, &msg[..n])?;
            } else {
                let m = read_msg(sock)?;
                res.read_message(&m, &mut payload)?;
            }
        }
        Ok(res.into_transport_mode()?)
    }

    /// Initiator side over a blocking socket.
    pub fn connect_blocking(&self, sock: &mut std::net::TcpStream) -> Result<TransportState> {
        let mut ini = self.initiator()?;
        let mut payload = [0u8; 256];
        let mut msg = [0u8; 256];
        while !ini.is_handshake_finished() {
            if ini.is_my_turn() {
                let n = ini.write_message(&[], &mut msg)?;
                write_msg(sock, &msg[..n])?;
            } else {
                let m = read_msg(sock)?;
                ini.read_message(&m, &mut payload)?;
            }
        }
        Ok(ini.into_transport_mode()?)
    }
}

fn write_msg(sock: &mut std::net::TcpStream, m: &[u8]) -> Result<()> {
    use std::io::Write;
    let len = u16::try_from(m.len())?;
    sock.write_all(&len.to_be_bytes())?;
    sock.write_all(m)?;
    Ok(())
}

fn read_msg(sock: &mut std::net::TcpStream) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut len = [0u8; 2];
    sock.read_exact(&mut len)?;
    let mut m = vec![0u8; usize::from(u16::from_be_bytes(len))];
    sock.read_exact(&mut m)?;
    Ok(m)
}

/// A Noise transport as an endpoint: `u16 length ‖ ciphertext` per message,
/// payloads above 65,519 bytes split in two messages.
pub struct NoiseEndpoint {
    state: TransportState,
    inbuf: Vec<u8>,
    scratch: Vec<u8>,
}

impl NoiseEndpoint {
    /// Wraps an established transport.
    pub fn new(state: TransportState) -> Self {
        NoiseEndpoint {
            state,
            inbuf: Vec::with_capacity(2 * MAX_NOISE),
            scratch: vec![0; MAX_NOISE],
        }
    }
}

impl Endpoint for NoiseEndpoint {
    fn seal(&mut self, messages: &[&[u8]], out: &mut Vec<u8>) -> Result<()> {
        for m in messages {
            for chunk in m.chunks(MAX_NOISE_PAYLOAD) {
                let at = out.len();
                out.resize(at + 2 + chunk.len() + 16, 0);
                let n = self.state.write_message(chunk, &mut out[at + 2..])?;
                out[at..at + 2].copy_from_slice(&u16::try_from(n)?.to_be_bytes());
                out.truncate(at + 2 + n);
            }
        }
        Ok(())
    }

    fn feed(&mut self, input: &[u8]) -> Result<usize> {
        self.inbuf.extend_from_slice(input);
        let mut at = 0;
        let mut delivered = 0;
        while self.inbuf.len() - at >= 2 {
            let len = usize::from(u16::from_be_bytes([self.inbuf[at], self.inbuf[at + 1]]));
            if self.inbuf.len() - at - 2 < len {
                break;
            }
            let n = self
                .state
                .read_message(&self.inbuf[at + 2..at + 2 + len], &mut self.scratch)?;
            delivered += n;
            at += 2 + len;
        }
        self.inbuf.drain(..at);
        Ok(delivered)
    }

    fn ack(&mut self, _messages: usize, out: &mut Vec<u8>) -> Result<()> {
        self.seal(&[&[0u8; 16]], out)
    }
}
