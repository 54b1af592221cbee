//! The Janus side of a participant: events of its handles, publishing, and one subscription
//! (one PeerConnection) per other publisher.

use std::sync::Arc;

use gst::prelude::*;
use serde_json::{Value, json};

use super::{MAX_SUBSCRIPTIONS, Session, Sub, log};
use crate::control::{self, ROOM};
use crate::error::MediaError;
use crate::media;
use crate::peer::Peer;

impl Session {
    pub(super) fn janus_event(&mut self, v: &Value) -> Result<(), MediaError> {
        let sender = v.get("sender").and_then(Value::as_u64).unwrap_or(0);
        let data = v
            .pointer("/plugindata/data")
            .cloned()
            .unwrap_or(Value::Null);
        let jsep = v.get("jsep");
        if std::env::var_os("CONCLAVE_SFU_TRACE").is_some() {
            self.say(&format!("janus: {v}"));
        }
        if sender == self.control_handle {
            if let Some(offer) = jsep_sdp(jsep, "offer") {
                self.control_peer.set_remote("offer", &offer)?;
                self.channel = Some(control::open_channel(
                    &self.control_peer,
                    self.tx.clone(),
                    Arc::clone(&self.control_queued),
                )?);
                let answer = self.control_peer.answer()?;
                self.janus.message(
                    self.control_handle,
                    json!({"request": "ack"}),
                    Some(json!({"type": "answer", "sdp": answer})),
                )?;
            }
        } else if sender == self.pub_handle {
            self.publisher_event(&data, jsep)?;
        } else if let Some(feed) = self
            .subs
            .iter()
            .find(|(_, s)| s.handle == sender)
            .map(|(f, _)| *f)
            && let Some(offer) = jsep_sdp(jsep, "offer")
        {
            self.start_subscription(feed, &offer)?;
        }
        Ok(())
    }

    fn publisher_event(&mut self, data: &Value, jsep: Option<&Value>) -> Result<(), MediaError> {
        if data.get("videoroom").and_then(Value::as_str) == Some("joined") {
            self.own_feed = data.get("id").and_then(Value::as_u64);
            self.maybe_publish()?;
        }
        if let Some(list) = data.get("publishers").and_then(Value::as_array) {
            for p in list {
                let id = p.get("id").and_then(Value::as_u64);
                let display = p.get("display").and_then(Value::as_str).unwrap_or("?");
                if let Some(id) = id {
                    self.subscribe(id, display)?;
                }
            }
        }
        for key in ["unpublished", "leaving"] {
            if let Some(id) = data.get(key).and_then(Value::as_u64) {
                self.unsubscribe(id);
            }
        }
        if let (Some(answer), Some(peer)) = (jsep_sdp(jsep, "answer"), &self.pub_peer) {
            peer.set_remote("answer", &answer)?;
            self.say("publishing to the VideoRoom");
        }
        Ok(())
    }

    /// Publishes once in the VideoRoom and admitted to the meeting (with send keys): the
    /// payloaders learn their parameters from the first sealed frame, which the offer carries.
    pub(super) fn maybe_publish(&mut self) -> Result<(), MediaError> {
        if self.pub_peer.is_some()
            || self.own_feed.is_none()
            || self.joined_epoch.is_none()
            || self.left_epoch.is_some()
        {
            return Ok(());
        }
        self.publish()
    }

    fn publish(&mut self) -> Result<(), MediaError> {
        let peer = Peer::new("publisher", self.pub_handle, self.tx.clone())?;
        media::add_publisher(&peer, &self.crypto)?;
        peer.play(&self.args.name, None)?;
        peer.wait_for_caps();
        let offer = peer.offer()?;
        self.janus.message(
            self.pub_handle,
            json!({"request": "publish", "audio": true, "video": true}),
            Some(json!({"type": "offer", "sdp": offer, "e2ee": true})),
        )?;
        self.pub_peer = Some(peer);
        Ok(())
    }

    fn subscribe(&mut self, feed: u64, display: &str) -> Result<(), MediaError> {
        if Some(feed) == self.own_feed
            || self.subs.contains_key(&feed)
            || self.subs.len() >= MAX_SUBSCRIPTIONS
        {
            return Ok(());
        }
        let handle = self.janus.attach("janus.plugin.videoroom")?;
        self.janus.message(
            handle,
            json!({"request": "join", "ptype": "subscriber", "room": ROOM,
                   "streams": [{"feed": feed}]}),
            None,
        )?;
        self.subs.insert(
            feed,
            Sub {
                handle,
                display: display
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(64)
                    .collect(),
                peer: None,
            },
        );
        Ok(())
    }

    fn start_subscription(&mut self, feed: u64, offer: &str) -> Result<(), MediaError> {
        let Some(sub) = self.subs.get_mut(&feed) else {
            return Ok(());
        };
        if let Some(peer) = &sub.peer {
            // Janus renegotiates (the publisher's streams changed): same PeerConnection.
            peer.set_remote("offer", offer)?;
            let answer = peer.answer()?;
            self.janus.message(
                sub.handle,
                json!({"request": "start"}),
                Some(json!({"type": "answer", "sdp": answer})),
            )?;
            return Ok(());
        }
        let peer = Peer::new(&format!("sub-{feed}"), sub.handle, self.tx.clone())?;
        let crypto = self.crypto.clone();
        let display = sub.display.clone();
        let pipeline = peer.pipeline.downgrade();
        peer.webrtc.connect_pad_added(move |_, pad| {
            if pad.direction() != gst::PadDirection::Src {
                return;
            }
            let Some(pipeline) = pipeline.upgrade() else {
                return;
            };
            if let Err(e) = media::add_subscriber_pad(&pipeline, pad, &display, &crypto) {
                log(
                    "?",
                    crypto.origin.elapsed(),
                    &format!("! subscriber pad: {e}"),
                );
            }
        });
        let (stats, feed_name) = (self.crypto.stats.clone(), sub.display.clone());
        let on_element: crate::peer::OnElement = Box::new(move |element, s| {
            media::count_failure(&stats, &feed_name, element, s);
        });
        peer.play(&self.args.name, Some(on_element))?;
        peer.set_remote("offer", offer)?;
        let answer = peer.answer()?;
        self.janus.message(
            sub.handle,
            json!({"request": "start"}),
            Some(json!({"type": "answer", "sdp": answer})),
        )?;
        sub.peer = Some(peer);
        Ok(())
    }

    pub(super) fn unsubscribe(&mut self, feed: u64) {
        if let Some(sub) = self.subs.remove(&feed) {
            if let Some(p) = &sub.peer {
                p.stop();
            }
            let _ = self.janus.detach(sub.handle);
        }
    }
}

fn jsep_sdp(jsep: Option<&Value>, kind: &str) -> Option<String> {
    let j = jsep?;
    (j.get("type").and_then(Value::as_str) == Some(kind))
        .then(|| j.get("sdp").and_then(Value::as_str).map(str::to_string))
        .flatten()
}
