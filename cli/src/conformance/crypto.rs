//! Checkers of the key schedule, transcript, security code, identity and HPKE vector files.

use conclave_core::hpke::{HpkeKeyPair, seal};
use conclave_core::schedule::{
    self, EpochSecrets, SenderKeys, labeled_content, labeled_hash, render_fingerprint,
    render_security_code, transcript_init, transcript_next,
};
use conclave_core::{CipherSuite, IdentityKey, PublicIdentity, Secret};
use serde_json::Value;

use super::Report;
use super::json::{FixedRng, array, bytes, get, hex, list, num, num32, text};

/// A label read from a file, as the `'static` string the verification API takes (the runner is
/// short-lived; each label is leaked once per case).
fn label(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

/// key-schedule.json: `ExpandWithLabel`, `DeriveSecret`, `LabeledHash`, epoch secrets and
/// sender keys.
pub fn key_schedule(v: &Value, r: &mut Report) -> Result<(), String> {
    let cases = get(v, "cases")?;
    for c in list(cases, "expand_with_label")? {
        let mut out = vec![0u8; num(c, "length")? as usize];
        schedule::expand_with_label(
            &bytes(c, "secret")?,
            text(c, "label")?,
            &bytes(c, "context")?,
            &mut out,
        );
        r.positive("expand_with_label", out == bytes(c, "output")?);
    }
    for c in list(cases, "derive_secret")? {
        let out = schedule::derive_secret(&bytes(c, "secret")?, text(c, "label")?);
        r.positive("derive_secret", out.expose()[..] == bytes(c, "output")?[..]);
    }
    for c in list(cases, "labeled_hash")? {
        let (l, content) = (text(c, "label")?, bytes(c, "content")?);
        r.positive(
            format!("labeled_hash {l}"),
            labeled_content(l, &content) == bytes(c, "labeled_content")?
                && labeled_hash(l, &content)[..] == bytes(c, "output")?[..],
        );
    }
    for c in list(cases, "epoch_secrets")? {
        let e = EpochSecrets::derive(
            &bytes(c, "meeting_id")?,
            num(c, "epoch")?,
            &array::<32>(c, "transcript_hash")?,
            &Secret::from_bytes(array::<32>(c, "root_key")?),
        );
        let ok = e.epoch_secret.expose()[..] == bytes(c, "epoch_secret")?[..]
            && e.frame_secret.expose()[..] == bytes(c, "frame_secret")?[..]
            && e.confirmation[..] == bytes(c, "confirmation")?[..]
            && e.security_code == text(c, "security_code")?
            && render_security_code(&array::<48>(c, "code_bytes")?) == text(c, "security_code")?;
        r.positive(format!("epoch_secrets epoch {}", num(c, "epoch")?), ok);
    }
    for c in list(cases, "sender_keys")? {
        let k = SenderKeys::derive(
            &Secret::from_bytes(array::<32>(c, "frame_secret")?),
            num32(c, "sender")?,
            num32(c, "stream")?,
        );
        let mut ok = k.key.expose()[..] == bytes(c, "key")?[..]
            && k.salt.expose()[..] == bytes(c, "salt")?[..];
        for n in list(c, "nonces")? {
            ok &= k.nonce(num(n, "counter")?)[..] == bytes(n, "nonce")?[..];
        }
        r.positive("sender_keys", ok);
    }
    Ok(())
}

/// transcript.json: `TranscriptInit`, the transcript chain and the heartbeat hash.
pub fn transcript(v: &Value, r: &mut Report) -> Result<(), String> {
    let cases = get(v, "cases")?;
    for c in list(cases, "transcript_init")? {
        let mid = bytes(c, "meeting_id")?;
        r.positive(
            "transcript_init",
            transcript_init(&mid)[..] == bytes(c, "transcript_hash")?[..],
        );
    }
    for chain in list(cases, "chains")? {
        let mut prev = transcript_init(&bytes(chain, "meeting_id")?);
        let mut ok = prev[..] == bytes(chain, "transcript_init")?[..];
        for c in list(chain, "commits")? {
            ok &= prev[..] == bytes(c, "prev_transcript_hash")?[..];
            prev = transcript_next(&prev, &bytes(c, "content")?);
            ok &= prev[..] == bytes(c, "transcript_hash")?[..];
        }
        r.positive("transcript chain", ok);
    }
    for c in list(cases, "heartbeat_hash")? {
        r.positive(
            "heartbeat_hash",
            schedule::heartbeat_hash(&bytes(c, "content")?)[..] == bytes(c, "heartbeat_hash")?[..],
        );
    }
    Ok(())
}

/// security-code.json: code rendering, fingerprints and their rendering.
pub fn security_code(v: &Value, r: &mut Report) -> Result<(), String> {
    let cases = get(v, "cases")?;
    for c in list(cases, "security_code")? {
        r.positive(
            "security_code",
            render_security_code(&array::<48>(c, "code_bytes")?) == text(c, "security_code")?,
        );
    }
    for c in list(cases, "fingerprint")? {
        let pk = bytes(c, "public_key")?;
        let fp = schedule::fingerprint(&pk);
        r.positive(
            "fingerprint",
            fp[..] == bytes(c, "fingerprint")?[..]
                && render_fingerprint(&fp) == text(c, "rendered")?,
        );
    }
    for c in list(cases, "fingerprint_rendering")? {
        r.positive(
            "fingerprint_rendering",
            render_fingerprint(&array::<32>(c, "fingerprint")?) == text(c, "rendered")?,
        );
    }
    Ok(())
}

/// identity.json: keys, deterministic signatures, and rejected signatures and keys.
pub fn identity(v: &Value, r: &mut Report) -> Result<(), String> {
    let cases = get(v, "cases")?;
    for c in list(cases, "keys")? {
        let ok = IdentityKey::from_secret_bytes(&bytes(c, "secret_key")?).is_ok_and(|k| {
            let p = k.public();
            bytes(c, "public_key").is_ok_and(|pk| p.as_bytes()[..] == pk[..])
                && bytes(c, "fingerprint").is_ok_and(|f| p.fingerprint()[..] == f[..])
                && text(c, "fingerprint_rendered").is_ok_and(|s| p.fingerprint_string() == s)
        });
        r.positive("key", ok);
    }
    for c in list(cases, "signatures")? {
        let l = text(c, "label")?;
        let content = bytes(c, "content")?;
        let sig = bytes(c, "signature")?;
        let ok = IdentityKey::from_secret_bytes(&bytes(c, "secret_key")?)
            .is_ok_and(|k| k.sign(l, &content)[..] == sig[..])
            && labeled_content(l, &content) == bytes(c, "labeled_content")?
            && PublicIdentity::from_bytes(&bytes(c, "public_key")?)
                .is_ok_and(|p| p.verify(label(l), &content, &sig).is_ok());
        r.positive(format!("signature {l}"), ok);
    }
    for c in list(cases, "rejected_signatures")? {
        let accepted = PublicIdentity::from_bytes(&bytes(c, "public_key")?).is_ok_and(|p| {
            p.verify(
                label(text(c, "label").unwrap_or("")),
                &bytes(c, "content").unwrap_or_default(),
                &bytes(c, "signature").unwrap_or_default(),
            )
            .is_ok()
        });
        let what = format!("rejected signature ({})", text(c, "reason")?);
        r.rejected(
            &what,
            if accepted {
                "accepted"
            } else {
                "bad_signature"
            },
            "bad_signature",
        );
    }
    for c in list(cases, "rejected_public_keys")? {
        let accepted = PublicIdentity::from_bytes(&bytes(c, "public_key")?).is_ok();
        let what = format!("rejected public key ({})", text(c, "reason")?);
        r.rejected(
            &what,
            if accepted {
                "accepted"
            } else {
                "bad_signature"
            },
            "bad_signature",
        );
    }
    Ok(())
}

/// Derives the recipient, seals with fixed randomness and opens; true if every output matches.
fn seal_case(
    suite: CipherSuite,
    c: &Value,
    ikm_r: &str,
    pk: &str,
    randomness: &str,
    ct: &str,
) -> Result<bool, String> {
    let kp = HpkeKeyPair::derive(suite, &bytes(c, ikm_r)?);
    let (info, aad, pt) = (bytes(c, "info")?, bytes(c, "aad")?, bytes(c, "plaintext")?);
    let mut rng = FixedRng::new(bytes(c, randomness)?);
    let Ok((enc, sealed)) = seal(suite, kp.public_key(), &info, &aad, &pt, &mut rng) else {
        return Ok(false);
    };
    let opened = kp
        .open(&enc, &info, &aad, &sealed)
        .is_ok_and(|p| p[..] == pt[..]);
    Ok(!rng.exhausted
        && opened
        && kp.public_key() == &bytes(c, pk)?[..]
        && enc == bytes(c, "enc")?
        && sealed == bytes(c, ct)?)
}

/// hpke.json: suite 1 `DeriveKeyPair`, `SealBase` with a fixed ephemeral ikm, Welcome seals.
pub fn hpke(v: &Value, r: &mut Report) -> Result<(), String> {
    let suite = CipherSuite::P256Sha256ChaCha20Poly1305;
    let cases = get(v, "cases")?;
    for c in list(cases, "derive_key_pair")? {
        let kp = HpkeKeyPair::derive(suite, &bytes(c, "ikm")?);
        r.positive(
            "derive_key_pair",
            kp.public_key() == &bytes(c, "public_key")?[..],
        );
    }
    for c in list(cases, "seal")? {
        r.positive(
            "seal",
            seal_case(suite, c, "ikm_r", "public_key", "ikm_e", "ciphertext")?,
        );
    }
    for c in list(cases, "welcome_seal")? {
        let mut info = Vec::new();
        schedule::put_vec(&mut info, &bytes(c, "meeting_id")?);
        info.extend_from_slice(&num(c, "epoch")?.to_be_bytes());
        info.extend_from_slice(&num32(c, "leaf")?.to_be_bytes());
        let info_ok = labeled_content("welcome seal", &info) == bytes(c, "info")?;
        let aad_ok = bytes(c, "aad")? == bytes(c, "transcript_hash")?;
        let mut c2 = c.clone();
        if let Some(o) = c2.as_object_mut() {
            o.insert("plaintext".into(), get(c, "path_secrets")?.clone());
        }
        let sealed = seal_case(suite, &c2, "ikm_r", "public_key", "ikm_e", "ciphertext")?;
        r.positive("welcome_seal", info_ok && aad_ok && sealed);
    }
    Ok(())
}

/// rfc9180.json: the A.5.1 configuration (exactly suite 1) through this implementation; the
/// other RFC configurations are not Conclave suites and are counted as skipped.
pub fn rfc9180(v: &Value, r: &mut Report) -> Result<(), String> {
    for c in list(get(v, "cases")?, "base")? {
        let ids = (num(c, "kem_id")?, num(c, "kdf_id")?, num(c, "aead_id")?);
        if ids != (0x0010, 0x0001, 0x0003) {
            r.skipped += 1;
            continue;
        }
        let suite = CipherSuite::P256Sha256ChaCha20Poly1305;
        let kp = HpkeKeyPair::derive(suite, &bytes(c, "ikmR")?);
        let first = list(c, "encryptions")?
            .iter()
            .find(|e| num(e, "sequence_number").ok() == Some(0))
            .ok_or("no encryption with sequence number 0")?;
        let (info, aad, pt) = (bytes(c, "info")?, bytes(first, "aad")?, bytes(first, "pt")?);
        let mut rng = FixedRng::new(bytes(c, "ikmE")?);
        let ok = seal(suite, kp.public_key(), &info, &aad, &pt, &mut rng).is_ok_and(|(enc, ct)| {
            bytes(c, "enc").is_ok_and(|x| x == enc)
                && bytes(first, "ct").is_ok_and(|x| x == ct)
                && kp
                    .open(&enc, &info, &aad, &ct)
                    .is_ok_and(|p| p[..] == pt[..])
        });
        r.positive(
            "A.5.1",
            ok && kp.public_key() == &bytes(c, "pkRm")?[..] && !rng.exhausted,
        );
    }
    Ok(())
}

/// suite2.json: X-Wing `DeriveKeyPair` and `SealBase` with fixed 64-byte randomness.
pub fn suite2(v: &Value, r: &mut Report) -> Result<(), String> {
    let suite = CipherSuite::XWingSha256ChaCha20Poly1305;
    let ids = (num(v, "kem_id")?, num(v, "kdf_id")?, num(v, "aead_id")?);
    r.positive("suite 2 HPKE ids", ids == (0x647a, 1, 3));
    for c in list(v, "cases")? {
        r.positive(
            format!("seal {}", hex(&bytes(c, "info")?)),
            seal_case(
                suite,
                c,
                "ikm_r",
                "public_key",
                "encap_randomness",
                "ciphertext",
            )?,
        );
    }
    Ok(())
}

/// xwing-hpke-draft.json: the published draft vector of suite 2's configuration.
pub fn xwing_draft(v: &Value, r: &mut Report) -> Result<(), String> {
    let suite = CipherSuite::XWingSha256ChaCha20Poly1305;
    let e = list(v, "encryptions")?.first().ok_or("no encryptions")?;
    let mut c = v.clone();
    if let Some(o) = c.as_object_mut() {
        o.insert("aad".into(), get(e, "aad")?.clone());
        o.insert("plaintext".into(), get(e, "pt")?.clone());
        o.insert("ct".into(), get(e, "ct")?.clone());
    }
    r.positive(
        "draft vector",
        seal_case(suite, &c, "ikmR", "pkRm", "ikmE", "ct")?,
    );
    Ok(())
}
