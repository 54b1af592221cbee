//! The Conclave control channel through Janus: the TextRoom plugin over a WebRTC data channel.
//!
//! Why TextRoom: Janus 1.1.2's VideoRoom relays a publisher's data channel only to the
//! subscribers of that publisher, so control would need a subscription per member before anyone
//! could be admitted; TextRoom is one data-channel PeerConnection per participant, broadcasts to
//! the room and unicasts by user name (`"to"`). Envelopes travel hex-encoded in the `text` field
//! (TextRoom messages are JSON text). `Destination::Participant` is sent to that user name;
//! `Leader` and `All` are broadcast (TextRoom does not know who leads: the engine of a member
//! that is not the leader rejects what is meant for the leader).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use conclave_core::meeting::Destination;
use conclave_core::protocol::limits::MAX_ENVELOPE_SIZE;
use gst::glib;
use gst::prelude::*;
use serde_json::{Value, json};

use crate::error::MediaError;
use crate::peer::Peer;
use crate::{Input, InputTx};

/// The TextRoom and VideoRoom room number used by the test.
pub const ROOM: u64 = 1234;
/// Largest TextRoom message read from the data channel, in bytes (a hex-encoded envelope of
/// `MAX_ENVELOPE_SIZE` and its JSON wrapping).
pub const MAX_CONTROL_MESSAGE: usize = 2 * MAX_ENVELOPE_SIZE + 1024;

/// Most bytes of TextRoom messages queued for the main thread; further messages are dropped
/// until it catches up.
pub const MAX_QUEUED_CONTROL_BYTES: usize = 16 * 1024 * 1024;

/// Something the TextRoom said.
#[derive(Debug, PartialEq, Eq)]
pub enum Control {
    /// Our join to the room succeeded.
    Joined,
    /// A message from `from` (as Janus names it: not authenticated) with an envelope.
    Envelope {
        /// The sender's user name.
        from: String,
        /// The decoded envelope.
        envelope: Vec<u8>,
    },
    /// `username` left the room (a hint, not authenticated).
    Left(String),
    /// Anything else (acknowledgements, joins of others, errors).
    Other,
}

/// Creates the data channel on `peer` (after the remote offer is set) and forwards its text
/// messages and opening to `tx`. `queued` counts the bytes of messages in the queue: the main
/// thread subtracts what it takes ([`MAX_QUEUED_CONTROL_BYTES`] at most).
pub fn open_channel(
    peer: &Peer,
    tx: InputTx,
    queued: Arc<AtomicUsize>,
) -> Result<gst_webrtc::WebRTCDataChannel, MediaError> {
    let channel = peer
        .webrtc
        .emit_by_name::<Option<gst_webrtc::WebRTCDataChannel>>(
            "create-data-channel",
            &[&"JanusDataChannel", &None::<gst::Structure>],
        )
        .ok_or_else(|| MediaError::Pipeline("cannot create a data channel".into()))?;
    let open_tx = tx.clone();
    channel.connect_closure(
        "on-open",
        false,
        glib::closure!(move |_c: &gst_webrtc::WebRTCDataChannel| {
            let _ = open_tx.try_send(Input::ControlOpen);
        }),
    );
    channel.connect_closure(
        "on-message-string",
        false,
        glib::closure!(move |_c: &gst_webrtc::WebRTCDataChannel, s: Option<&str>| {
            let Some(s) = s.filter(|s| s.len() <= MAX_CONTROL_MESSAGE) else {
                return;
            };
            let before = queued.fetch_add(s.len(), Ordering::AcqRel);
            if before.saturating_add(s.len()) > MAX_QUEUED_CONTROL_BYTES
                || tx.try_send(Input::Control(s.to_string())).is_err()
            {
                queued.fetch_sub(s.len(), Ordering::AcqRel);
            }
        }),
    );
    Ok(channel)
}

/// The TextRoom request that joins the room as `name`.
pub fn join_request(name: &str) -> String {
    json!({"textroom": "join", "transaction": "join", "room": ROOM, "username": name,
           "display": name})
    .to_string()
}

/// The TextRoom request that carries `envelope` to `destination`.
pub fn send_request(destination: &Destination, envelope: &[u8], seq: u64) -> String {
    let mut req = json!({"textroom": "message", "transaction": format!("m{seq}"), "room": ROOM,
                         "text": hex::encode(envelope), "ack": false});
    if let (Destination::Participant(to), Some(obj)) = (destination, req.as_object_mut()) {
        obj.insert("to".into(), Value::String(to.clone()));
    }
    req.to_string()
}

/// Parses what the TextRoom sent on the data channel.
pub fn parse(text: &str) -> Control {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return Control::Other;
    };
    let kind = v.get("textroom").and_then(Value::as_str).unwrap_or("");
    match kind {
        "success" if v.get("transaction").and_then(Value::as_str) == Some("join") => {
            Control::Joined
        }
        "message" => {
            let from = v
                .get("from")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let text = v.get("text").and_then(Value::as_str).unwrap_or("");
            match hex::decode(text) {
                Ok(envelope) if envelope.len() <= MAX_ENVELOPE_SIZE => {
                    Control::Envelope { from, envelope }
                }
                _ => Control::Other,
            }
        }
        "leave" => Control::Left(
            v.get("username")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        _ => Control::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_textroom_json() {
        let req = send_request(&Destination::Participant("bob".into()), &[1, 2, 255], 7);
        let v: Value = serde_json::from_str(&req).unwrap();
        assert_eq!(v["to"], "bob");
        assert_eq!(v["text"], "0102ff");
        let all = send_request(&Destination::All, &[1], 8);
        assert!(
            serde_json::from_str::<Value>(&all)
                .unwrap()
                .get("to")
                .is_none()
        );
        // What Janus relays to the others.
        let got = r#"{"textroom":"message","room":1234,"from":"alice","date":"x","text":"0102ff"}"#;
        assert_eq!(
            parse(got),
            Control::Envelope {
                from: "alice".into(),
                envelope: vec![1, 2, 255]
            }
        );
    }

    #[test]
    fn bad_messages_are_ignored() {
        assert_eq!(parse("not json"), Control::Other);
        assert_eq!(
            parse(r#"{"textroom":"message","text":"zz"}"#),
            Control::Other
        );
        assert_eq!(
            parse(r#"{"textroom":"success","transaction":"join"}"#),
            Control::Joined
        );
        assert_eq!(
            parse(r#"{"textroom":"leave","username":"c"}"#),
            Control::Left("c".into())
        );
    }
}
