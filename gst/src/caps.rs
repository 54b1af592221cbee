//! Which codec processor a stream needs, from its caps; the elements' pad template caps.

use conclave_core::frame::Codec;

/// The value of the `codec` property that picks the codec from the caps.
pub const CODEC_AUTO: &str = "auto";

/// The caps both elements accept and produce (sink and src are the same media type: the frames
/// stay valid codec frames for packetizers, with the payload encrypted).
pub(crate) fn template_caps() -> gst::Caps {
    let mut caps = gst::Caps::new_empty();
    {
        let Some(c) = caps.get_mut() else {
            return caps;
        };
        c.append(gst::Caps::builder("audio/x-opus").build());
        c.append(gst::Caps::builder("video/x-vp8").build());
        c.append(gst::Caps::builder("video/x-vp9").build());
        c.append(
            gst::Caps::builder("video/x-h264")
                .field("stream-format", gst::List::new(["byte-stream", "avc"]))
                .field("alignment", "au")
                .build(),
        );
        c.append(
            gst::Caps::builder("video/x-h265")
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .build(),
        );
        c.append(
            gst::Caps::builder("video/x-av1")
                .field("stream-format", "obu-stream")
                .field("alignment", "tu")
                .build(),
        );
    }
    caps
}

/// The codec whose frames `caps` describe, or `None` for caps the elements do not handle.
///
/// `video/x-h264` with `stream-format=avc` is [`Codec::H264Avcc`] (4-byte length prefixes, the
/// only length size the frame layer supports), any other H.264 is the byte-stream format.
pub fn codec_from_caps(caps: &gst::CapsRef) -> Option<Codec> {
    let s = caps.structure(0)?;
    match s.name().as_str() {
        "audio/x-opus" => Some(Codec::Opus),
        "video/x-vp8" => Some(Codec::Vp8),
        "video/x-vp9" => Some(Codec::Vp9),
        "video/x-h264" => match s.get::<&str>("stream-format") {
            Ok("avc") => Some(Codec::H264Avcc),
            Ok("byte-stream") | Err(_) => Some(Codec::H264),
            Ok(_) => None,
        },
        "video/x-h265" => match s.get::<&str>("stream-format") {
            Ok("byte-stream") | Err(_) => Some(Codec::H265),
            Ok(_) => None,
        },
        "video/x-av1" => Some(Codec::Av1),
        _ => None,
    }
}

/// Parses the `codec` property: `Ok(None)` for [`CODEC_AUTO`], `Ok(Some(codec))` for a codec
/// name (`Codec::name`), `Err(())` otherwise.
pub(crate) fn parse_codec_property(name: &str) -> Result<Option<Codec>, ()> {
    if name == CODEC_AUTO {
        return Ok(None);
    }
    Codec::from_name(name).map(Some).ok_or(())
}

/// The blurb of the `codec` property: the values it takes.
pub(crate) const CODEC_BLURB: &str = "Codec processor: auto (from the caps) or one of opus, \
    vp8, vp9, h264 (Annex B), h264-avcc (4-byte lengths), h265 (Annex B), av1 (OBUs with size \
    fields). Takes effect with the next buffer";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_pick_the_codec() {
        gst::init().ok();
        let cases = [
            ("audio/x-opus", Some(Codec::Opus)),
            ("video/x-vp8", Some(Codec::Vp8)),
            ("video/x-vp9", Some(Codec::Vp9)),
            (
                "video/x-h264,stream-format=byte-stream,alignment=au",
                Some(Codec::H264),
            ),
            (
                "video/x-h264,stream-format=avc,alignment=au",
                Some(Codec::H264Avcc),
            ),
            ("video/x-h264,stream-format=avc3,alignment=au", None),
            (
                "video/x-h265,stream-format=byte-stream,alignment=au",
                Some(Codec::H265),
            ),
            ("video/x-h265,stream-format=hvc1,alignment=au", None),
            (
                "video/x-av1,stream-format=obu-stream,alignment=tu",
                Some(Codec::Av1),
            ),
            ("video/x-raw", None),
        ];
        for (s, want) in cases {
            let caps: gst::Caps = s.parse().unwrap();
            assert_eq!(codec_from_caps(&caps), want, "{s}");
        }
    }

    #[test]
    fn codec_property_values() {
        assert_eq!(parse_codec_property("auto"), Ok(None));
        assert_eq!(parse_codec_property("h264-avcc"), Ok(Some(Codec::H264Avcc)));
        assert_eq!(parse_codec_property("mp3"), Err(()));
        for c in Codec::ALL {
            assert_eq!(parse_codec_property(c.name()), Ok(Some(c)));
        }
    }
}
