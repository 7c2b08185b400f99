//! The safety number two people compare out of band to check that each sees
//! the other's real key (like Signal's), and its QR code for the terminal.
//!
//! Construction (version 1): for each party, `h = SHA-512("chainmail safety
//! number v1" ‖ 0x00 ‖ public key (64 bytes x‖y) ‖ ID (20 bytes))`, then
//! 5 200 times `h = SHA-512(h ‖ public key)` (iterations make a targeted
//! collision costly). The first 30 bytes of `h`, as six 5-byte big-endian
//! integers each reduced mod 100 000, give 30 digits. The two parties'
//! 30-digit strings are sorted and concatenated: 60 digits, shown as 12
//! groups of 5, the same on both sides whoever runs it. A key can never
//! change under an ID (the ID is the key's hash, and the registry refuses to
//! register an ID twice), so a safety number, once compared, stays valid.

use chainmail_core::PublicKey;
use sha2::{Digest, Sha512};

/// Hash iterations per party.
pub const ITERATIONS: usize = 5200;

/// 30 digits for one party.
fn fingerprint(key: &PublicKey) -> String {
    let id = key.address();
    let mut h = Sha512::new();
    h.update(b"chainmail safety number v1\0");
    h.update(key.as_xy());
    h.update(id.0);
    let mut out = h.finalize();
    for _ in 0..ITERATIONS {
        let mut h = Sha512::new();
        h.update(out);
        h.update(key.as_xy());
        out = h.finalize();
    }
    out[..30]
        .chunks_exact(5)
        .map(|c| {
            let v = c.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            format!("{:05}", v % 100_000)
        })
        .collect()
}

/// The 60-digit safety number of `a` and `b` (order-independent).
pub fn digits(a: &PublicKey, b: &PublicKey) -> String {
    let (fa, fb) = (fingerprint(a), fingerprint(b));
    if fa <= fb { fa + &fb } else { fb + &fa }
}

/// `digits` in groups of five separated by spaces.
pub fn grouped(digits: &str) -> String {
    digits
        .as_bytes()
        .chunks(5)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the QR code holds: the version, the number and both IDs (sorted),
/// so a scanner can check both the number and who it is about.
pub fn qr_payload(a: &PublicKey, b: &PublicKey) -> String {
    let mut ids = [a.address().to_string(), b.address().to_string()];
    ids.sort();
    format!("chainmail-verify:1:{}:{}:{}", digits(a, b), ids[0], ids[1])
}

/// The QR code of `payload` in Unicode half blocks (two modules per
/// character cell), dark on light, with the quiet zone.
pub fn qr_text(payload: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainmail_core::SecretKey;

    fn key(b: u8) -> PublicKey {
        SecretKey::from_bytes(&[b; 32]).unwrap().public_key()
    }

    #[test]
    fn same_both_ways_and_distinct() {
        let (a, b, c) = (key(1), key(2), key(3));
        let ab = digits(&a, &b);
        assert_eq!(ab, digits(&b, &a));
        assert_eq!(ab.len(), 60);
        assert!(ab.bytes().all(|d| d.is_ascii_digit()));
        assert_ne!(ab, digits(&a, &c));
        assert_eq!(grouped(&ab).split(' ').count(), 12);
        // Pinned: the number must not change between versions of this
        // program, or users would see a mismatch where nothing changed.
        assert_eq!(
            ab,
            "226597939866359082447788158426935132141225358850189241217836"
        );
    }

    #[test]
    fn qr_renders() {
        let text = qr_text(&qr_payload(&key(1), &key(2))).unwrap();
        assert!(text.lines().count() > 10);
        assert!(text.contains('█') || text.contains('▀') || text.contains('▄'));
    }
}
