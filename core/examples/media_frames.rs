//! Frame tool for `scripts/test-media.sh`: splits encoder output into frames, encrypts and
//! decrypts them with [`FrameCrypto::encrypt_media`] / [`FrameCrypto::decrypt_media`], detects
//! keyframes from clear bytes, and joins frames back into a file ffmpeg can decode.
//!
//! ```text
//! media_frames split    <codec> <input file> <dir>   # IVF (vp8, vp9, av1), Ogg (opus), Annex B
//! media_frames encrypt  <codec> <dir> <out dir>      # prints frames, bytes, overhead, re-seals
//! media_frames decrypt  <codec> <dir> <out dir>
//! media_frames keyframes <codec> <dir>               # prints the indices of keyframes
//! media_frames join     <codec> <dir> <output file>  # IVF (vp8, vp9, av1), Ogg (opus), Annex B
//! ```
//!
//! Frames are files `00000.bin`, `00001.bin`, ... The key is fixed: this is a test tool.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conclave_core::Secret;
use conclave_core::frame::codec::is_keyframe;
use conclave_core::frame::{Codec, FrameConfig, FrameCrypto, FrameHeader};

type Res<T> = Result<T, String>;

fn frame_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("{i:05}.bin"))
}

fn read_frames(dir: &Path) -> Res<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while let Ok(f) = std::fs::read(frame_path(dir, out.len())) {
        out.push(f);
    }
    Ok(out)
}

fn write_frames(dir: &Path, frames: &[Vec<u8>]) -> Res<()> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    for (i, f) in frames.iter().enumerate() {
        std::fs::write(frame_path(dir, i), f).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn u32_le(b: &[u8], at: usize) -> Res<u32> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| "truncated".to_string())
}

fn split_ivf(data: &[u8]) -> Res<Vec<Vec<u8>>> {
    if data.get(..4) != Some(b"DKIF") {
        return Err("not IVF".into());
    }
    let header = usize::from(u16::from_le_bytes([data[6], data[7]]));
    let mut pos = header;
    let mut out = Vec::new();
    while pos + 12 <= data.len() {
        let n = u32_le(data, pos)? as usize;
        let f = data
            .get(pos + 12..pos + 12 + n)
            .ok_or("truncated IVF frame")?;
        out.push(f.to_vec());
        pos += 12 + n;
    }
    Ok(out)
}

/// Opus packets of an Ogg stream, without the two header packets.
fn split_ogg(data: &[u8]) -> Res<Vec<Vec<u8>>> {
    let mut packets = Vec::new();
    let mut cur = Vec::new();
    let mut pos = 0;
    while pos + 27 <= data.len() {
        if &data[pos..pos + 4] != b"OggS" {
            return Err("not Ogg".into());
        }
        let nseg = usize::from(data[pos + 26]);
        let table = data
            .get(pos + 27..pos + 27 + nseg)
            .ok_or("truncated Ogg page")?;
        let mut body = pos + 27 + nseg;
        for &len in table {
            let len = usize::from(len);
            cur.extend_from_slice(data.get(body..body + len).ok_or("truncated Ogg page")?);
            body += len;
            if len < 255 {
                packets.push(std::mem::take(&mut cur));
            }
        }
        pos = body;
    }
    Ok(packets.into_iter().skip(2).collect())
}

/// Access units of an Annex B stream, split before each access unit delimiter (the encoders
/// run with `aud=1`). The delimiters stay: `encrypt_media` drops them (RTP payloaders do).
fn split_annexb(data: &[u8], aud: fn(u8) -> bool) -> Res<Vec<Vec<u8>>> {
    // (start code position, header position)
    let mut units = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let sc = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            units.push((sc, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for (k, &(sc, h)) in units.iter().enumerate() {
        let end = units.get(k + 1).map_or(data.len(), |u| u.0);
        if aud(data[h]) || frames.is_empty() {
            frames.push(Vec::new());
        }
        let unit = &data[sc..end];
        if let Some(f) = frames.last_mut() {
            // 4-byte start codes throughout.
            if unit.first() != Some(&0) || unit.get(2) == Some(&1) {
                f.push(0);
            }
            f.extend_from_slice(unit);
        }
    }
    Ok(frames.into_iter().filter(|f| !f.is_empty()).collect())
}

fn party(leaf: u32) -> Res<FrameCrypto> {
    let c = FrameCrypto::new(FrameConfig::default()).map_err(|e| e.to_string())?;
    c.set_own_sender(leaf).map_err(|e| e.to_string())?;
    c.install_epoch(1, &Secret::from_bytes([0x42; 32]), Duration::ZERO)
        .map_err(|e| e.to_string())?;
    Ok(c)
}

fn write_ivf(codec: Codec, frames: &[Vec<u8>], out: &Path) -> Res<()> {
    let fourcc: &[u8; 4] = match codec {
        Codec::Vp8 => b"VP80",
        Codec::Vp9 => b"VP90",
        _ => b"AV01",
    };
    let mut f = Vec::new();
    f.extend_from_slice(b"DKIF");
    f.extend_from_slice(&0u16.to_le_bytes());
    f.extend_from_slice(&32u16.to_le_bytes());
    f.extend_from_slice(fourcc);
    f.extend_from_slice(&320u16.to_le_bytes());
    f.extend_from_slice(&240u16.to_le_bytes());
    f.extend_from_slice(&30u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    for (i, fr) in frames.iter().enumerate() {
        f.extend_from_slice(&(fr.len() as u32).to_le_bytes());
        f.extend_from_slice(&(i as u64).to_le_bytes());
        f.extend_from_slice(fr);
    }
    std::fs::write(out, f).map_err(|e| e.to_string())
}

/// The Ogg CRC-32 (polynomial 0x04c11db7, not reflected, initial value 0).
fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// An Ogg Opus file (mono, 48 kHz, 20 ms packets), one packet per page.
fn write_ogg(frames: &[Vec<u8>], out: &Path) -> Res<()> {
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, 1]);
    head.extend_from_slice(&312u16.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]);
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags.extend_from_slice(&0u32.to_le_bytes());
    let mut packets = vec![(head, 0u64), (tags, 0u64)];
    for (i, f) in frames.iter().enumerate() {
        packets.push((f.clone(), 960 * (i as u64 + 1)));
    }
    let mut file = Vec::new();
    let last = packets.len() - 1;
    for (seq, (p, granule)) in packets.iter().enumerate() {
        let mut page = b"OggS".to_vec();
        page.push(0);
        page.push(match seq {
            0 => 2,
            s if s == last => 4,
            _ => 0,
        });
        page.extend_from_slice(&granule.to_le_bytes());
        page.extend_from_slice(&0x5eed_u32.to_le_bytes());
        page.extend_from_slice(&(seq as u32).to_le_bytes());
        page.extend_from_slice(&[0; 4]);
        let mut lacing = vec![255u8; p.len() / 255];
        lacing.push((p.len() % 255) as u8);
        page.push(lacing.len() as u8);
        page.extend_from_slice(&lacing);
        page.extend_from_slice(p);
        let crc = ogg_crc(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        file.extend_from_slice(&page);
    }
    std::fs::write(out, file).map_err(|e| e.to_string())
}

fn run(args: &[String]) -> Res<()> {
    let [cmd, codec, a, rest @ ..] = args else {
        return Err(
            "usage: media_frames <split|encrypt|decrypt|keyframes|join> <codec> ...".into(),
        );
    };
    let codec = Codec::from_name(codec).ok_or_else(|| format!("unknown codec {codec}"))?;
    let a = Path::new(a);
    let b = rest.first().map(Path::new);
    let need_b = || b.ok_or_else(|| "missing argument".to_string());
    match cmd.as_str() {
        "split" => {
            let data = std::fs::read(a).map_err(|e| e.to_string())?;
            let frames = match codec {
                Codec::Vp8 | Codec::Vp9 | Codec::Av1 => split_ivf(&data)?,
                Codec::Opus => split_ogg(&data)?,
                Codec::H264 | Codec::H264Avcc => split_annexb(&data, |h| h & 0x1F == 9)?,
                Codec::H265 => split_annexb(&data, |h| (h >> 1) & 0x3F == 35)?,
            };
            write_frames(need_b()?, &frames)?;
            println!("{}", frames.len());
        }
        "encrypt" => {
            let tx = party(0)?;
            let frames = read_frames(a)?;
            let mut out = Vec::new();
            let (mut bytes_in, mut bytes_out, mut resealed) = (0usize, 0usize, 0u64);
            let mut next = 0u64;
            for f in &frames {
                let e = tx
                    .encrypt_media(codec, 1, f)
                    .map_err(|e| format!("frame {}: {e}", out.len()))?;
                let counter = FrameHeader::parse(&e)
                    .map_err(|e| e.to_string())?
                    .header
                    .counter;
                resealed += counter - next;
                next = counter + 1;
                bytes_in += f.len();
                bytes_out += e.len();
                out.push(e);
            }
            write_frames(need_b()?, &out)?;
            println!("{} {} {} {}", frames.len(), bytes_in, bytes_out, resealed);
        }
        "decrypt" => {
            let rx = party(1)?;
            let frames = read_frames(a)?;
            let mut out = Vec::new();
            for f in &frames {
                let d = rx
                    .decrypt_media(codec, f, Duration::ZERO)
                    .map_err(|e| format!("frame {}: {e}", out.len()))?;
                out.push(d.plaintext);
            }
            write_frames(need_b()?, &out)?;
            println!("{}", out.len());
        }
        "keyframes" => {
            let frames = read_frames(a)?;
            let mut keys = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                if is_keyframe(codec, f).map_err(|e| format!("frame {i}: {e}"))? {
                    keys.push(i.to_string());
                }
            }
            println!("{}", keys.join(","));
        }
        "join" => {
            let frames = read_frames(a)?;
            match codec {
                Codec::Vp8 | Codec::Vp9 | Codec::Av1 => write_ivf(codec, &frames, need_b()?)?,
                Codec::Opus => write_ogg(&frames, need_b()?)?,
                _ => std::fs::write(need_b()?, frames.concat()).map_err(|e| e.to_string())?,
            }
        }
        other => return Err(format!("unknown command {other}")),
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("media_frames: {e}");
        std::process::exit(1);
    }
}
