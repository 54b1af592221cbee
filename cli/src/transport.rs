//! The framing between `conclave join` and `conclave relay`.
//!
//! Each message on the TCP stream is a big-endian `u32` length (of what follows), a one-byte
//! type tag and a body:
//!
//! | tag | name    | direction       | body |
//! |-----|---------|-----------------|------|
//! | 1   | HELLO   | client to relay | `u8` meeting id length, meeting id, participant id (UTF-8) |
//! | 2   | SEND    | client to relay | destination (`0` all, `1` leader, `2` then `u8` length and participant id), encoded `Envelope` |
//! | 3   | FRAME   | both            | an encrypted media frame (`spec/frames.md`) |
//! | 4   | DELIVER | relay to client | an encoded `Envelope` |
//! | 5   | NOTICE  | relay to client | UTF-8 text from the relay (why it closes the connection) |
//! | 6   | GONE    | relay to client | participant id (UTF-8) whose connection to the relay closed: an unauthenticated hint (`spec/state-machine.md` VOTE-0) |
//!
//! HELLO is the first message of a client and tells the relay where to route
//! `Destination::Participant`. Lengths are bounded by [`MAX_MESSAGE_LEN`]: a longer message is
//! refused before anything is allocated.

use std::io::{self, Read, Write};

use conclave_core::meeting::Destination;
use conclave_core::protocol::limits::{MAX_ENVELOPE_SIZE, MAX_MEETING_ID_LEN};

/// Largest message body with its tag: an envelope of `MAX_ENVELOPE_SIZE` plus routing.
pub const MAX_MESSAGE_LEN: usize = MAX_ENVELOPE_SIZE + 128;

pub(crate) const TAG_HELLO: u8 = 1;
pub(crate) const TAG_SEND: u8 = 2;
pub(crate) const TAG_FRAME: u8 = 3;
pub(crate) const TAG_DELIVER: u8 = 4;
pub(crate) const TAG_NOTICE: u8 = 5;
pub(crate) const TAG_GONE: u8 = 6;

/// One message of the demo transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A client names its meeting and itself.
    Hello {
        /// The meeting id.
        meeting_id: Vec<u8>,
        /// The participant id.
        participant_id: String,
    },
    /// A client sends a control envelope.
    Send {
        /// Where the engine wants it to go.
        destination: Destination,
        /// The encoded `Envelope`.
        envelope: Vec<u8>,
    },
    /// An encrypted media frame.
    Frame(Vec<u8>),
    /// The relay delivers a control envelope.
    Deliver(Vec<u8>),
    /// The relay tells the client something (before closing).
    Notice(String),
    /// The relay says a participant's connection closed (a hint, not authenticated).
    Gone(String),
}

/// Why a message could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The socket failed (or closed in the middle of a message).
    Io(io::Error),
    /// The message breaks the framing.
    Invalid(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Invalid(s) => f.write_str(s),
        }
    }
}

impl Message {
    /// Encodes the message with its length prefix.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        match self {
            Message::Hello {
                meeting_id,
                participant_id,
            } => {
                body.push(TAG_HELLO);
                body.push(u8::try_from(meeting_id.len()).unwrap_or(u8::MAX));
                body.extend_from_slice(meeting_id);
                body.extend_from_slice(participant_id.as_bytes());
            }
            Message::Send {
                destination,
                envelope,
            } => {
                body.push(TAG_SEND);
                match destination {
                    Destination::All => body.push(0),
                    Destination::Leader => body.push(1),
                    Destination::Participant(id) => {
                        body.push(2);
                        body.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
                        body.extend_from_slice(id.as_bytes());
                    }
                }
                body.extend_from_slice(envelope);
            }
            Message::Frame(f) => {
                body.push(TAG_FRAME);
                body.extend_from_slice(f);
            }
            Message::Deliver(e) => {
                body.push(TAG_DELIVER);
                body.extend_from_slice(e);
            }
            Message::Notice(t) => {
                body.push(TAG_NOTICE);
                body.extend_from_slice(t.as_bytes());
            }
            Message::Gone(id) => {
                body.push(TAG_GONE);
                body.extend_from_slice(id.as_bytes());
            }
        }
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(4 + body.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses a message body (tag and what follows, without the length prefix).
    pub fn decode(body: &[u8]) -> Result<Message, String> {
        let (&tag, rest) = body.split_first().ok_or("empty message")?;
        match tag {
            TAG_HELLO => {
                let (&n, rest) = rest.split_first().ok_or("hello without a meeting id")?;
                let n = usize::from(n);
                if n > MAX_MEETING_ID_LEN || rest.len() < n {
                    return Err("hello with a bad meeting id length".into());
                }
                let (mid, pid) = rest.split_at(n);
                let participant_id = std::str::from_utf8(pid)
                    .map_err(|_| "hello with a participant id that is not UTF-8")?;
                Ok(Message::Hello {
                    meeting_id: mid.to_vec(),
                    participant_id: participant_id.to_string(),
                })
            }
            TAG_SEND => {
                let (destination, envelope) = split_send(rest)?;
                Ok(Message::Send {
                    destination,
                    envelope: envelope.to_vec(),
                })
            }
            TAG_FRAME => Ok(Message::Frame(rest.to_vec())),
            TAG_DELIVER => Ok(Message::Deliver(rest.to_vec())),
            TAG_NOTICE => Ok(Message::Notice(String::from_utf8_lossy(rest).into_owned())),
            TAG_GONE => Ok(Message::Gone(String::from_utf8_lossy(rest).into_owned())),
            other => Err(format!("unknown message type {other}")),
        }
    }
}

/// Splits the body of a SEND after its tag into the destination and the envelope bytes.
pub(crate) fn split_send(rest: &[u8]) -> Result<(Destination, &[u8]), String> {
    let (&d, rest) = rest.split_first().ok_or("send without a destination")?;
    let (destination, envelope) = match d {
        0 => (Destination::All, rest),
        1 => (Destination::Leader, rest),
        2 => {
            let (&n, rest) = rest.split_first().ok_or("send without a recipient")?;
            let n = usize::from(n);
            if rest.len() < n {
                return Err("send with a bad recipient length".into());
            }
            let (id, env) = rest.split_at(n);
            let id =
                std::str::from_utf8(id).map_err(|_| "send with a recipient that is not UTF-8")?;
            (Destination::Participant(id.to_string()), env)
        }
        other => return Err(format!("send with unknown destination {other}")),
    };
    if envelope.len() > MAX_ENVELOPE_SIZE {
        return Err(format!(
            "envelope of {} bytes is over MAX_ENVELOPE_SIZE",
            envelope.len()
        ));
    }
    Ok((destination, envelope))
}

/// Writes one message.
pub fn write_message(w: &mut impl Write, m: &Message) -> io::Result<()> {
    w.write_all(&m.encode())?;
    w.flush()
}

/// Reads one message: `Ok(None)` at a clean end of stream (before a length prefix).
pub fn read_message(r: &mut impl Read) -> Result<Option<Message>, ReadError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(ReadError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in a length prefix",
                )));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Err(ReadError::Invalid("empty message".into()));
    }
    if len > MAX_MESSAGE_LEN {
        return Err(ReadError::Invalid(format!(
            "message of {len} bytes is over the limit of {MAX_MESSAGE_LEN}"
        )));
    }
    // Grow with what actually arrives: a lying length prefix costs the sender the bytes.
    let mut body = Vec::with_capacity(len.min(64 * 1024));
    r.take(len as u64)
        .read_to_end(&mut body)
        .map_err(ReadError::Io)?;
    if body.len() < len {
        return Err(ReadError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in a message",
        )));
    }
    Message::decode(&body).map(Some).map_err(ReadError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(m: Message) {
        let bytes = m.encode();
        let got = read_message(&mut bytes.as_slice()).unwrap().unwrap();
        assert_eq!(got, m);
    }

    #[test]
    fn every_message_roundtrips() {
        roundtrip(Message::Hello {
            meeting_id: b"meeting-0123456789".to_vec(),
            participant_id: "alice".into(),
        });
        for destination in [
            Destination::All,
            Destination::Leader,
            Destination::Participant("bob".into()),
        ] {
            roundtrip(Message::Send {
                destination,
                envelope: vec![1, 2, 3],
            });
        }
        roundtrip(Message::Frame(vec![9; 100]));
        roundtrip(Message::Deliver(vec![]));
        roundtrip(Message::Notice("bye".into()));
        roundtrip(Message::Gone("alice".into()));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0, 0, 0, 0],
            vec![0xff, 0xff, 0xff, 0xff],
            vec![0, 0, 0, 1, 99],
            vec![0, 0, 0, 2, TAG_HELLO, 200],
            vec![0, 0, 0, 3, TAG_SEND, 2, 50],
            vec![0, 0, 0, 2, TAG_SEND, 7],
            vec![0, 0, 0, 9, TAG_FRAME],
            vec![0, 0],
        ];
        for c in cases {
            assert!(read_message(&mut c.as_slice()).is_err(), "{c:?}");
        }
        assert!(read_message(&mut [].as_slice()).unwrap().is_none());
    }
}
