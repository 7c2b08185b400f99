//! The loopback-TCP harness every protocol runs through alike: one
//! connection, a sender thread that seals messages and writes them in
//! ≥ 64 KiB chunks, a receiver thread that reads and opens them (rows 2–3);
//! and a ping-pong of single messages with TCP_NODELAY for send→ack latency
//! (row 4). Sessions are established in memory first: these rows measure
//! the record layer, not the handshake.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::measure::Cpu;

/// One end of an established secure channel, without I/O.
pub trait Endpoint: Send {
    /// Appends the wire bytes carrying `messages` (in order) to `out`.
    fn seal(&mut self, messages: &[&[u8]], out: &mut Vec<u8>) -> Result<()>;
    /// Takes bytes from the socket (any split); returns how many application
    /// bytes were opened (and, for chainmail, verified).
    fn feed(&mut self, input: &[u8]) -> Result<usize>;
    /// Appends the acknowledgement of `messages` received messages.
    fn ack(&mut self, messages: usize, out: &mut Vec<u8>) -> Result<()>;
}

/// A connected loopback pair (client, server) with Nagle off.
pub fn tcp_pair() -> Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    Ok((client, server))
}

const CHUNK: usize = 64 * 1024;

/// Application bytes per second of one streaming run.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Bytes ÷ wall time from the first write to the last byte opened.
    pub wall: f64,
    /// Bytes ÷ the CPU time (user + system) of the busier thread: the rate
    /// with one idle core per side, whatever else the machine runs.
    pub per_core: f64,
}

/// Sends `count` copies of `message`, `batch` per `seal` call, from
/// `sender` to `receiver`.
pub fn stream(
    sender: &mut dyn Endpoint,
    receiver: &mut dyn Endpoint,
    socks: &mut (TcpStream, TcpStream),
    message: &[u8],
    batch: usize,
    count: usize,
) -> Result<Throughput> {
    let total = message.len() * count;
    let (tx, rx) = (&mut socks.0, &mut socks.1);
    let start = Instant::now();
    let (received, cpu_sender, cpu_receiver) = std::thread::scope(|s| -> Result<_> {
        let writer = s.spawn(move || -> Result<Duration> {
            let cpu = Cpu::start();
            let sent = (|| -> Result<()> {
                let mut out = Vec::with_capacity(2 * CHUNK);
                let messages: Vec<&[u8]> = vec![message; batch];
                let mut left = count;
                while left > 0 {
                    let n = left.min(batch);
                    sender.seal(&messages[..n], &mut out)?;
                    left -= n;
                    if out.len() >= CHUNK {
                        tx.write_all(&out)?;
                        out.clear();
                    }
                }
                tx.write_all(&out)?;
                Ok(())
            })();
            if sent.is_err() {
                // The receiver is blocked in read: end its wait.
                let _ = tx.shutdown(std::net::Shutdown::Write);
            }
            sent.map(|()| cpu.elapsed())
        });
        let cpu = Cpu::start();
        let mut buf = vec![0u8; 4 * CHUNK];
        let mut got = 0;
        while got < total {
            let n = rx.read(&mut buf)?;
            if n == 0 {
                // The sender failed (its error is the one to report) or closed early.
                writer
                    .join()
                    .map_err(|_| anyhow::anyhow!("sender thread panicked"))??;
                bail!("connection closed after {got} of {total} bytes");
            }
            got += receiver.feed(&buf[..n])?;
        }
        let cpu_receiver = cpu.elapsed();
        let cpu_sender = writer
            .join()
            .map_err(|_| anyhow::anyhow!("sender thread panicked"))??;
        Ok((got, cpu_sender, cpu_receiver))
    })?;
    let wall = start.elapsed();
    anyhow::ensure!(received == total, "received {received} of {total} bytes");
    let busier = cpu_sender.max(cpu_receiver).max(Duration::from_nanos(1));
    Ok(Throughput {
        wall: total as f64 / wall.as_secs_f64(),
        per_core: total as f64 / busier.as_secs_f64(),
    })
}

/// Calibrates a message count that takes about `window` to stream, after a
/// warm-up run.
pub fn calibrate(
    sender: &mut dyn Endpoint,
    receiver: &mut dyn Endpoint,
    socks: &mut (TcpStream, TcpStream),
    message: &[u8],
    batch: usize,
    window: Duration,
) -> Result<usize> {
    let probe = (batch * 4).max(64);
    let rate = stream(sender, receiver, socks, message, batch, probe)?;
    let per_second = rate.per_core / message.len() as f64;
    let count = (per_second * window.as_secs_f64()) as usize;
    Ok(count.max(batch).div_ceil(batch) * batch)
}

/// `rounds` single-message round trips: seal and write `message`, the other
/// side reads, opens (verifies) and answers with an ack; returns each round
/// trip's time in microseconds.
pub fn ping_pong(
    client: &mut dyn Endpoint,
    server: &mut dyn Endpoint,
    socks: &mut (TcpStream, TcpStream),
    message: &[u8],
    rounds: usize,
) -> Result<Vec<f64>> {
    let (c, s) = (&mut socks.0, &mut socks.1);
    let len = message.len();
    std::thread::scope(|scope| -> Result<Vec<f64>> {
        let echo = scope.spawn(move || -> Result<()> {
            let mut buf = vec![0u8; 4 * CHUNK];
            let mut out = Vec::with_capacity(256);
            let mut pending = 0;
            let mut answered = 0;
            while answered < rounds {
                let n = s.read(&mut buf)?;
                anyhow::ensure!(n > 0, "client closed");
                pending += server.feed(&buf[..n])?;
                while pending >= len {
                    pending -= len;
                    out.clear();
                    server.ack(1, &mut out)?;
                    s.write_all(&out)?;
                    answered += 1;
                }
            }
            Ok(())
        });
        let mut times = Vec::with_capacity(rounds);
        let mut buf = vec![0u8; CHUNK];
        let mut out = Vec::with_capacity(2 * len + 256);
        for _ in 0..rounds {
            let start = Instant::now();
            out.clear();
            client.seal(&[message], &mut out)?;
            c.write_all(&out)?;
            let mut got = 0;
            while got == 0 {
                let n = c.read(&mut buf)?;
                anyhow::ensure!(n > 0, "server closed");
                got += client.feed(&buf[..n])?;
            }
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
        echo.join()
            .map_err(|_| anyhow::anyhow!("echo thread panicked"))?
            .context("echo side")?;
        Ok(times)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chainmail::{Pair, Signing};
    use crate::peers::noise::{Noise, NoiseEndpoint, Pattern};
    use crate::peers::tls::{Provider, Tls, TlsEndpoint};
    use chainmail_core::SecretKey;
    use chainmail_core::eip712::Domain;

    fn pair() -> Pair {
        let domain = Domain {
            chain_id: 1 << 41,
            verifying_contract: chainmail_core::Address([0x5f; 20]),
        };
        Pair::new(
            SecretKey::generate(&mut rand::rng()),
            SecretKey::generate(&mut rand::rng()),
            domain,
            crate::chainmail::unix_now(),
        )
    }

    /// (name, client end, server end, messages per seal).
    type Case = (String, Box<dyn Endpoint>, Box<dyn Endpoint>, usize);

    fn endpoints() -> Vec<Case> {
        let p = pair();
        let mut v: Vec<Case> = Vec::new();
        for (s, batch) in [(Signing::None, 1), (Signing::Each, 1), (Signing::Batch, 7)] {
            let (b, a) = p.endpoints(s).unwrap();
            v.push((format!("chainmail {s:?}"), Box::new(b), Box::new(a), batch));
        }
        for provider in [Provider::AwsLcRs, Provider::Ring] {
            let (_, _, c, s) = Tls::new(provider).unwrap().handshake().unwrap();
            v.push((
                format!("rustls {provider:?}"),
                Box::new(TlsEndpoint::new(c)),
                Box::new(TlsEndpoint::new(s)),
                1,
            ));
        }
        for pattern in [Pattern::Ik, Pattern::Xk] {
            let (_, _, i, r) = Noise::new(pattern).unwrap().handshake().unwrap();
            v.push((
                format!("snow {pattern:?}"),
                Box::new(NoiseEndpoint::new(i)),
                Box::new(NoiseEndpoint::new(r)),
                1,
            ));
        }
        v
    }

    #[test]
    fn every_protocol_streams_and_acks_over_real_tcp() {
        for (name, mut c, mut s, batch) in endpoints() {
            let mut socks = tcp_pair().unwrap();
            // A small message and the largest body chainmail carries
            // (`wire::MAX_BODY`; bare frames and the peers take it too).
            for size in [1024, chainmail_core::wire::MAX_BODY] {
                let batch = if size > 1024 { 1 } else { batch };
                let t = stream(
                    c.as_mut(),
                    s.as_mut(),
                    &mut socks,
                    &vec![7; size],
                    batch,
                    3 * batch,
                )
                .unwrap_or_else(|e| panic!("{name} {size}: {e:#}"));
                assert!(t.wall > 0.0 && t.per_core > 0.0, "{name}");
            }
            let times = ping_pong(c.as_mut(), s.as_mut(), &mut socks, &[1; 1024], 5).unwrap();
            assert_eq!(times.len(), 5, "{name}");
        }
    }

    #[test]
    fn a_sender_error_ends_the_run_instead_of_hanging() {
        let p = pair();
        let (mut b, mut a) = p.endpoints(Signing::Each).unwrap();
        let mut socks = tcp_pair().unwrap();
        // A body above the protocol's limit cannot be signed: the run ends
        // with the signer's error.
        let body = vec![0; chainmail_core::wire::MAX_BODY + 1];
        let e = stream(&mut b, &mut a, &mut socks, &body, 1, 2).unwrap_err();
        assert!(format!("{e:#}").contains("byte limit"), "{e:#}");
    }

    #[test]
    fn tampered_bytes_are_refused() {
        for (name, mut c, mut s, _) in endpoints() {
            let mut wire = Vec::new();
            c.seal(&[&[9u8; 1024]], &mut wire).unwrap();
            let at = wire.len() - 20;
            wire[at] ^= 1;
            assert!(s.feed(&wire).is_err(), "{name} accepted a flipped bit");
        }
    }

    #[test]
    fn a_message_signed_by_someone_else_is_refused() {
        let p = pair();
        for signing in [Signing::Each, Signing::Batch] {
            let (mut bob, mut alice) = p.endpoints(signing).unwrap();
            let mut wire = Vec::new();
            bob.seal(&[&[1u8; 64]], &mut wire).unwrap();
            assert_eq!(alice.feed(&wire).unwrap(), 64);
            // Same session, but the Deliver is signed by a stranger's key.
            bob.sign_as(SecretKey::generate(&mut rand::rng()));
            wire.clear();
            bob.seal(&[&[1u8; 64]], &mut wire).unwrap();
            // Refused: its `from` is not the session's peer (and its
            // signature is not the peer's).
            let e = alice.feed(&wire).unwrap_err();
            assert!(
                format!("{e}").contains("arrived over a session with"),
                "{signing:?}: {e}"
            );
        }
    }

    #[test]
    fn split_input_is_reassembled() {
        for (name, mut c, mut s, batch) in endpoints() {
            let mut wire = Vec::new();
            let msgs: Vec<&[u8]> = vec![&[3u8; 1000]; batch];
            c.seal(&msgs, &mut wire).unwrap();
            let mut got = 0;
            for byte in wire.chunks(7) {
                got += s.feed(byte).unwrap();
            }
            assert_eq!(got, 1000 * batch, "{name}");
        }
    }
}
