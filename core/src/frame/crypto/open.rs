//! Decryption: [`FrameCrypto::decrypt`] and the receive path (`spec/frames.md` section 4).

// The receive path uses the parent's imports and private types throughout.
use super::*;

impl<B: AeadBackend> FrameCrypto<B> {
    /// Decrypts and authenticates `frame` received at time `now`.
    pub fn decrypt(&self, frame: &[u8], now: Duration) -> Result<Decrypted, FrameError> {
        // Never more than MAX_FRAME_PLAINTEXT: a longer frame fails before writing.
        let mut out = vec![0u8; frame.len().saturating_sub(TAG_LEN).min(MAX_FRAME_PLAINTEXT)];
        let info = self.decrypt_into(frame, &mut out, now)?;
        Ok(Decrypted::from_buffer(info, out))
    }

    /// Like [`decrypt`](Self::decrypt) but writes the plaintext (clear prefix included) to
    /// `out` without allocating. `frame.len() - 16` bytes are always enough. On failure the
    /// bytes of `out` that were written are zeroed.
    pub fn decrypt_into(
        &self,
        frame: &[u8],
        out: &mut [u8],
        now: Duration,
    ) -> Result<DecryptedInfo, FrameError> {
        let parsed = match parse_attributed(frame) {
            Ok(p) => p,
            Err((e, sender)) => {
                self.stats.of(sender).rejected(&e);
                return Err(e);
            }
        };
        let sender = parsed.header.sender;
        let result = self.decrypt_parsed(frame, &parsed, out, now);
        match &result {
            Ok(_) => self.stats.of(Some(sender)).decrypted(),
            Err(e) => self.stats.of(Some(sender)).rejected(e),
        }
        result
    }

    fn decrypt_parsed(
        &self,
        frame: &[u8],
        parsed: &crate::frame::ParsedHeader,
        out: &mut [u8],
        now: Duration,
    ) -> Result<DecryptedInfo, FrameError> {
        let h = &parsed.header;
        let (sender, stream, counter) = (h.sender, h.stream, h.counter);
        if self.own_sender.load(Ordering::Relaxed) == sender {
            return Err(FrameError::OwnFrame { sender, stream });
        }
        let bound = self.sender_bound.load(Ordering::Relaxed);
        if sender >= bound {
            return Err(FrameError::UnknownSender { sender, bound });
        }
        let len = parsed.body_len;
        check_plaintext_len(len)?;
        if out.len() < len {
            return Err(FrameError::BufferTooSmall { needed: len });
        }

        let set = self.epochs.load();
        let epoch = self.resolve_epoch(&set, h, now)?;

        // The cached stream, or keys derived for this frame only (cached once it verifies).
        let (cached, fresh_keys) = match epoch.recv.get(sender, stream) {
            Ok(s) => (Some(s), None),
            Err(true) => return Err(FrameError::StreamLimit { sender, stream }),
            Err(false) => (
                None,
                Some(StreamKeys::<B>::derive(
                    &epoch.frame_secret,
                    sender,
                    stream,
                )?),
            ),
        };
        if let Some(s) = &cached {
            let w = s.window.lock().unwrap_or_else(PoisonError::into_inner);
            self.replay_result(w.check(counter), h, epoch.number)?;
        }
        let keys = match (&cached, &fresh_keys) {
            (Some(s), _) => &s.keys,
            (None, Some(k)) => k,
            (None, None) => return Err(FrameError::NoKeys),
        };

        let nonce = keys.nonce(counter);
        match seal::open::<B>(&keys.key, &nonce, frame, len, &parsed.clear, out) {
            Ok(()) => {}
            Err(OpenFailure::Tag) => {
                return Err(FrameError::Tampered {
                    sender,
                    stream,
                    epoch: epoch.number,
                });
            }
            Err(OpenFailure::Layout) => return Err(FrameError::BufferTooSmall { needed: len }),
        }

        let committed = match (cached, fresh_keys) {
            (Some(s), _) => {
                let mut w = s.window.lock().unwrap_or_else(PoisonError::into_inner);
                self.replay_result(w.accept(counter), h, epoch.number)
            }
            (None, Some(keys)) => {
                let entry = RecvStream {
                    keys,
                    window: Mutex::new(ReplayWindow::new(self.config.replay_window)),
                };
                // If another thread cached the stream first, `insert` returns its entry and ours
                // is dropped: the counter is recorded in whichever window is kept.
                epoch.recv.insert(sender, stream, entry).and_then(|s| {
                    let mut w = s.window.lock().unwrap_or_else(PoisonError::into_inner);
                    self.replay_result(w.accept(counter), h, epoch.number)
                })
            }
            (None, None) => Err(FrameError::NoKeys),
        };
        if let Err(e) = committed {
            if let Some(o) = out.get_mut(..len) {
                o.iter_mut().for_each(|b| *b = 0);
            }
            return Err(e);
        }
        Ok(DecryptedInfo {
            sender,
            stream,
            epoch: epoch.number,
            counter,
            prefix_len: parsed.prefix_len(),
            len,
        })
    }

    fn replay_result(&self, r: ReplayCheck, h: &FrameHeader, epoch: u64) -> Result<(), FrameError> {
        match r {
            ReplayCheck::Fresh => Ok(()),
            ReplayCheck::Replayed => Err(FrameError::Replayed {
                sender: h.sender,
                stream: h.stream,
                epoch,
                counter: h.counter,
            }),
            ReplayCheck::TooOld { highest } => Err(FrameError::TooOld {
                sender: h.sender,
                stream: h.stream,
                counter: h.counter,
                cause: TooOldCause::BelowWindow { epoch, highest },
            }),
        }
    }

    /// Maps a frame's epoch tag to a retained epoch (`spec/frames.md` section 4).
    fn resolve_epoch<'a>(
        &self,
        set: &'a EpochSet<B>,
        h: &FrameHeader,
        now: Duration,
    ) -> Result<&'a Epoch<B>, FrameError> {
        let current = set.current.as_ref().ok_or(FrameError::NoKeys)?;
        let tag = h.epoch_tag;
        if current.tag() == tag {
            return Ok(current);
        }
        let dropped = FrameError::TooOld {
            sender: h.sender,
            stream: h.stream,
            counter: h.counter,
            cause: TooOldCause::EpochDropped { epoch_tag: tag },
        };
        if let Some((prev, until)) = &set.previous {
            let expired = now >= *until;
            if expired {
                self.try_expire(now);
            }
            if prev.tag() == tag {
                return if expired { Err(dropped) } else { Ok(prev) };
            }
        }
        let ahead = tag.wrapping_sub(current.tag());
        if (1..=127).contains(&ahead) {
            Err(FrameError::UnknownEpoch {
                tag,
                current: current.number,
            })
        } else {
            Err(dropped)
        }
    }
}
