//! Media frame encryption (`spec/frames.md`). Placeholder: implemented by the frame work.
