//! Reading what a client sends: one message at a time, into a buffer of exactly its size, with a
//! deadline for its body, and large bodies only within the relay-wide read budget. A SEND is turned
//! into the DELIVER the relay forwards in the same buffer, so the bytes read are the bytes queued.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_core::meeting::Destination;

use super::budget::{Budget, Grant};
use super::{BODY_GRACE, MAX_HELLO_LEN, MIN_DRAIN_BYTES_PER_SEC, READ_WAIT, SMALL_BODY_LEN};
use crate::transport::{
    Message, ReadError, TAG_DELIVER, TAG_FRAME, TAG_HELLO, TAG_SEND, split_send,
};

/// One message from a client.
pub(super) enum Inbound {
    /// HELLO: meeting and participant id.
    Hello {
        meeting_id: Vec<u8>,
        participant_id: String,
    },
    /// SEND, already encoded as the DELIVER to forward.
    Send {
        destination: Destination,
        deliver: Vec<u8>,
        commit: bool,
    },
    /// FRAME, as received (the relay forwards it unchanged).
    Frame(Vec<u8>),
}

/// Reads one message of at most `max_len` bytes (tag and body). Waiting for its length prefix
/// is unbounded unless `deadline` is given; its body must arrive within [`body_deadline`] (and
/// `deadline`). A body over [`SMALL_BODY_LEN`] is read only with a grant of `reads`, waited for
/// up to [`READ_WAIT`] (reading nothing meanwhile); the grant is returned with the message and is
/// held until the caller drops it.
pub(super) fn read_inbound(
    stream: &mut TcpStream,
    max_len: usize,
    deadline: Option<Instant>,
    reads: &Arc<Budget>,
) -> Result<Option<(Inbound, Option<Grant>)>, ReadError> {
    let mut prefix = [0u8; 4];
    let got = fill(stream, &mut prefix, deadline)?;
    if got == 0 {
        return Ok(None);
    }
    if got < prefix.len() {
        return Err(eof("connection closed in a length prefix"));
    }
    let len = u32::from_be_bytes(prefix) as usize;
    if len == 0 {
        return Err(ReadError::Invalid("empty message".into()));
    }
    if len > max_len {
        return Err(ReadError::Invalid(format!(
            "message of {len} bytes is over the limit of {max_len}"
        )));
    }
    let total = len.saturating_add(prefix.len());
    let grant = if len > SMALL_BODY_LEN {
        let wait = Instant::now() + READ_WAIT;
        let grant = reads.take_by(total, wait).ok_or_else(|| {
            ReadError::Invalid("relay busy: no room to read a large message".into())
        })?;
        Some(grant)
    } else {
        None
    };
    let mut due = body_deadline(len);
    if let Some(d) = deadline {
        due = due.min(d);
    }
    let mut buf = vec![0u8; total];
    if let Some(head) = buf.get_mut(..prefix.len()) {
        head.copy_from_slice(&prefix);
    }
    let body = buf.get_mut(prefix.len()..).unwrap_or_default();
    if fill(stream, body, Some(due))? < len {
        return Err(eof("connection closed in a message"));
    }
    parse(buf)
        .map(|m| Some((m, grant)))
        .map_err(ReadError::Invalid)
}

/// When the body of a `len`-byte message must have arrived: [`BODY_GRACE`] plus `len` at
/// [`MIN_DRAIN_BYTES_PER_SEC`].
pub(super) fn body_deadline(len: usize) -> Instant {
    let millis = (len as u64).saturating_mul(1000) / (MIN_DRAIN_BYTES_PER_SEC as u64);
    Instant::now() + BODY_GRACE + Duration::from_millis(millis)
}

fn eof(what: &str) -> ReadError {
    ReadError::Io(std::io::Error::new(ErrorKind::UnexpectedEof, what))
}

/// Reads into `buf` until it is full, the stream ends (returns fewer bytes) or `deadline`
/// passes (an error).
fn fill(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> Result<usize, ReadError> {
    let mut got = 0;
    while got < buf.len() {
        let timeout = match deadline {
            None => None,
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    return Err(ReadError::Invalid(
                        "too slow: the message did not arrive in time".into(),
                    ));
                }
            },
        };
        stream.set_read_timeout(timeout).map_err(ReadError::Io)?;
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        match stream.read(rest) {
            Ok(0) => break,
            Ok(n) => got = got.saturating_add(n),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    Ok(got)
}

/// Parses a whole message (length prefix included).
fn parse(mut buf: Vec<u8>) -> Result<Inbound, String> {
    let body = buf.get(4..).unwrap_or_default();
    match body.first().copied() {
        Some(TAG_HELLO) if body.len() > MAX_HELLO_LEN => Err("a hello that is too long".into()),
        Some(TAG_HELLO) => match Message::decode(body)? {
            Message::Hello {
                meeting_id,
                participant_id,
            } => Ok(Inbound::Hello {
                meeting_id,
                participant_id,
            }),
            _ => Err("not a hello".into()),
        },
        Some(TAG_SEND) => {
            let rest = body.get(1..).unwrap_or_default();
            let (destination, envelope) = split_send(rest)?;
            let commit = is_commit(envelope);
            // Rewrite the head in place: [len | SEND | destination | envelope] becomes
            // [len | DELIVER | envelope].
            let env_len = envelope.len();
            let start = buf.len().saturating_sub(env_len);
            let head = start.checked_sub(5).ok_or("send without a destination")?;
            let len = u32::try_from(env_len.saturating_add(1)).map_err(|_| "send too long")?;
            let new_head = buf
                .get_mut(head..start)
                .ok_or("send without a destination")?;
            if let Some(l) = new_head.get_mut(..4) {
                l.copy_from_slice(&len.to_be_bytes());
            }
            if let Some(t) = new_head.get_mut(4) {
                *t = TAG_DELIVER;
            }
            buf.drain(..head);
            Ok(Inbound::Send {
                destination,
                deliver: buf,
                commit,
            })
        }
        Some(TAG_FRAME) => Ok(Inbound::Frame(buf)),
        Some(tag) => match Message::decode(&[tag]) {
            Err(e) => Err(e),
            Ok(_) => Err("clients do not send that message type".into()),
        },
        None => Err("empty message".into()),
    }
}

/// Whether an encoded `Envelope` carries a commit: its last top-level field of the `body` oneof
/// (fields 1 to 7, length-delimited; the last one wins) is field 2, `commit`. The relay reads
/// only the top level of the protobuf encoding and decodes nothing inside: it cannot verify a
/// commit anyway (it has no keys), and decoding one could cost many times its size.
pub(super) fn is_commit(envelope: &[u8]) -> bool {
    let mut rest = envelope;
    let mut body_field = None;
    while !rest.is_empty() {
        let Some((key, after)) = varint(rest) else {
            return false;
        };
        let field = key >> 3;
        let wire = key & 7;
        let in_body = (1..=7).contains(&field);
        if field == 0 || (in_body && wire != 2) {
            return false;
        }
        let next = match wire {
            0 => varint(after).map(|(_, r)| r),
            1 => after.get(8..),
            2 => varint(after).and_then(|(n, r)| r.get(usize::try_from(n).ok()?..)),
            5 => after.get(4..),
            _ => None,
        };
        let Some(next) = next else {
            return false;
        };
        if in_body {
            body_field = Some(field);
        }
        rest = next;
    }
    body_field == Some(2)
}

/// A protobuf varint and what follows it.
fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, bytes.get(i + 1..)?));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_core::protocol::encode;
    use conclave_core::protocol::v1::{CommitBundle, Envelope, SignedMessage, envelope::Body};

    fn envelope(body: Body) -> Vec<u8> {
        encode(&Envelope { body: Some(body) })
    }

    #[test]
    fn commits_are_told_apart_from_other_envelopes() {
        let signed = SignedMessage {
            content: vec![7; 300],
            signature: vec![1; 64],
        };
        let commit = envelope(Body::Commit(CommitBundle {
            commit: Some(signed.clone()),
            updates: vec![],
            proof: vec![vec![3; 32]; 4],
        }));
        assert!(is_commit(&commit));
        assert!(!is_commit(&envelope(Body::Leave(signed.clone()))));
        assert!(!is_commit(&envelope(Body::Welcome(signed))));
        assert!(!is_commit(&[]));
        // Truncated, or a bad wire type or field number: not a commit.
        assert!(!is_commit(commit.get(..commit.len() - 1).unwrap()));
        assert!(!is_commit(&[0x13, 0]));
        assert!(!is_commit(&[0x02, 0]));
        assert!(!is_commit(&[0x10, 1]), "field 2 as a varint");
        // The last oneof field wins, as in protobuf.
        let mut both = commit.clone();
        both.extend_from_slice(&[0x2a, 0]);
        assert!(!is_commit(&both));
        // Unknown fields are skipped.
        let mut unknown = vec![0x48, 1, 0x55, 0, 0, 0, 0];
        unknown.extend_from_slice(&commit);
        assert!(is_commit(&unknown));
    }

    #[test]
    fn a_send_becomes_the_deliver_in_place() {
        for destination in [
            Destination::All,
            Destination::Leader,
            Destination::Participant("bob".into()),
        ] {
            let env = vec![9u8, 8, 7, 6];
            let bytes = Message::Send {
                destination: destination.clone(),
                envelope: env.clone(),
            }
            .encode();
            let Ok(Inbound::Send {
                destination: d,
                deliver,
                commit,
            }) = parse(bytes)
            else {
                panic!("not a send");
            };
            assert_eq!(d, destination);
            assert!(!commit);
            assert_eq!(deliver, Message::Deliver(env).encode());
        }
        let frame = Message::Frame(vec![1, 2, 3]).encode();
        assert!(matches!(parse(frame.clone()), Ok(Inbound::Frame(f)) if f == frame));
        for bad in [
            Message::Deliver(vec![1]).encode(),
            Message::Notice("x".into()).encode(),
            vec![0, 0, 0, 1, 99],
            vec![0, 0, 0, 2, TAG_SEND, 9],
            vec![0, 0, 0, 0],
        ] {
            assert!(parse(bad).is_err());
        }
    }
}
