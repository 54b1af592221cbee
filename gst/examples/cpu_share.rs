//! CPU of `conclaveenc` and `conclavedec` as a share of the encoder's and decoder's own CPU, in a
//! 720p30 H.264 pipeline and an Opus pipeline (issue #15; the numbers are in BENCHMARKS.md).
//!
//! Every element of interest runs alone in its own streaming thread (a `queue` before it, one
//! thread for the encoder and decoder libraries: `threads=1`, `max-threads=1`), and the CPU
//! time of each thread is read from `/proc/self/task/<tid>/schedstat` (nanoseconds on the CPU)
//! before PLAYING and after EOS, before the pipeline stops its threads. The same pipeline with `identity` in place
//! of the two elements gives the cost of the extra threads and queues themselves.
//!
//! ```sh
//! cargo run --release -p gst-conclave --example cpu_share [runs]
//! ```
//! Linux only (procfs).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use conclave_core::Secret;
use conclave_core::frame::{FrameConfig, FrameCrypto};
use gst::prelude::*;

type Error = Box<dyn std::error::Error>;

/// A pipeline: the gst-launch description with `{ENC}`/`{DEC}` for the elements under test;
/// the queues `qcodecenc`, `qconcenc`, `qconcdec` and `qcodecdec` start the threads of encoder,
/// conclaveenc, conclavedec and decoder.
struct Case {
    name: &'static str,
    launch: &'static str,
}

const VIDEO: Case = Case {
    name: "H.264 720p30, 300 frames, x264enc veryfast zerolatency 2.5 Mbit/s",
    launch: "videotestsrc num-buffers=300 pattern=smpte horizontal-speed=4 ! \
             video/x-raw,format=I420,width=1280,height=720,framerate=30/1 ! queue name=qcodecenc ! \
             x264enc threads=1 tune=zerolatency speed-preset=veryfast bitrate=2500 key-int-max=60 ! \
             h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! \
             queue name=qconcenc ! {ENC} ! queue name=qconcdec ! {DEC} ! \
             queue name=qcodecdec ! avdec_h264 max-threads=1 ! fakesink",
};

const AUDIO: Case = Case {
    name: "Opus 48 kHz mono, 500 packets of 20 ms, opusenc 32 kbit/s",
    launch: "audiotestsrc num-buffers=500 samplesperbuffer=960 wave=pink-noise ! \
             audio/x-raw,rate=48000,channels=1 ! queue name=qcodecenc ! \
             opusenc bitrate=32000 frame-size=20 ! \
             queue name=qconcenc ! {ENC} ! queue name=qconcdec ! {DEC} ! \
             queue name=qcodecdec ! opusdec ! fakesink",
};

/// CPU nanoseconds of every thread of this process, by thread id.
fn thread_cpu() -> Result<BTreeMap<u32, u64>, Error> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        let entry = entry?;
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // A thread may exit between the listing and the read.
        let Ok(sched) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        let ns: u64 = sched.split_whitespace().next().unwrap_or("0").parse()?;
        out.insert(tid, ns);
    }
    Ok(out)
}

/// The id of the calling thread (`/proc/thread-self` is `<pid>/task/<tid>`).
fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Records the id of the streaming thread of `queue`'s source pad (GStreamer reuses pooled
/// threads, so names are not reliable).
fn watch_thread(pipeline: &gst::Pipeline, queue: &str) -> Result<Arc<Mutex<Option<u32>>>, Error> {
    let slot = Arc::new(Mutex::new(None));
    let pad = pipeline
        .by_name(queue)
        .and_then(|q| q.static_pad("src"))
        .ok_or("no queue")?;
    let s = Arc::clone(&slot);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let mut g = s.lock().unwrap_or_else(PoisonError::into_inner);
        if g.is_none() {
            *g = current_tid();
        }
        gst::PadProbeReturn::Ok
    });
    Ok(slot)
}

/// Runs `launch` to EOS and returns the CPU milliseconds of the four threads of interest.
fn run(launch: &str, keyed: bool) -> Result<[f64; 4], Error> {
    let (enc, dec) = if keyed {
        ("conclaveenc name=e stream-id=1", "conclavedec name=d")
    } else {
        ("identity name=e", "identity name=d")
    };
    let launch = launch.replace("{ENC}", enc).replace("{DEC}", dec);
    let pipeline = gst::parse::launch(&launch)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    if keyed {
        let secret = Secret::from_bytes([0x42; 32]);
        let now = gstconclave::monotonic_now();
        let alice = FrameCrypto::new(FrameConfig::default())?;
        alice.set_own_sender(0)?;
        alice.install_epoch(1, &secret, now)?;
        let bob = FrameCrypto::new(FrameConfig::default())?;
        bob.set_own_sender(1)?;
        bob.install_epoch(1, &secret, now)?;
        let e = pipeline.by_name("e").ok_or("no e")?;
        let d = pipeline.by_name("d").ok_or("no d")?;
        gstconclave::set_frame_crypto(&e, Arc::new(alice))?;
        gstconclave::set_frame_crypto(&d, Arc::new(bob))?;
    }
    let queues = ["qcodecenc", "qconcenc", "qconcdec", "qcodecdec"];
    let mut tids = Vec::new();
    for q in queues {
        tids.push(watch_thread(&pipeline, q)?);
    }
    let before = thread_cpu()?;
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().ok_or("no bus")?;
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::NONE,
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .ok_or("no message")?;
    if let gst::MessageView::Error(e) = msg.view() {
        return Err(format!("pipeline error: {}", e.error()).into());
    }
    // The streaming threads are still alive (paused) until the state change below.
    let after = thread_cpu()?;
    if keyed {
        let d = pipeline.by_name("d").ok_or("no d")?;
        let (decrypted, rejected) = (
            d.property::<u64>("decrypted"),
            d.property::<u64>("rejected"),
        );
        if rejected != 0 || decrypted == 0 {
            return Err(format!("decrypted {decrypted}, rejected {rejected}").into());
        }
    }
    pipeline.set_state(gst::State::Null)?;
    let mut out = [0.0; 4];
    for (o, slot) in out.iter_mut().zip(&tids) {
        let tid = slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ok_or("a queue saw no buffer")?;
        let a = after.get(&tid).copied().unwrap_or(0);
        let b = before.get(&tid).copied().unwrap_or(0);
        *o = a.saturating_sub(b) as f64 / 1e6;
    }
    Ok(out)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), Error> {
    gst::init()?;
    gstconclave::register_static()?;
    let runs: usize = std::env::args().nth(1).map_or(Ok(5), |s| s.parse())?;
    for case in [VIDEO, AUDIO] {
        println!("{} ({runs} runs, median CPU ms per run)", case.name);
        let mut keyed = vec![Vec::new(); 4];
        let mut plain = vec![Vec::new(); 4];
        for _ in 0..runs {
            for (k, col) in [(true, &mut keyed), (false, &mut plain)] {
                let r = run(case.launch, k)?;
                for (c, x) in col.iter_mut().zip(r) {
                    c.push(x);
                }
            }
        }
        let k: Vec<f64> = keyed.into_iter().map(median).collect();
        let p: Vec<f64> = plain.into_iter().map(median).collect();
        println!("| thread | with conclave | with identity |");
        println!("|--------|---------------|---------------|");
        for (i, name) in [
            "encoder",
            "conclaveenc / identity",
            "conclavedec / identity",
            "decoder",
        ]
        .iter()
        .enumerate()
        {
            println!("| {name} | {:.1} | {:.1} |", k[i], p[i]);
        }
        println!(
            "conclaveenc = {:.2} % of the encoder ({:.2} % net of identity); \
             conclavedec = {:.2} % of the decoder ({:.2} % net of identity)\n",
            100.0 * k[1] / k[0],
            100.0 * (k[1] - p[1]) / k[0],
            100.0 * k[2] / k[3],
            100.0 * (k[2] - p[2]) / k[3],
        );
    }
    Ok(())
}
