/*
 * conclave_frame.h — SKETCH of a small C header for native media stacks (libwebrtc,
 * FFmpeg-based apps, ...). NOT SHIPPED and not compiled by this repository: see
 * docs/integration.md, "libwebrtc native apps".
 *
 * What exists today is the C ABI that uniffi generates for `conclave-ffi`
 * (libconclave_ffi.so / .a, symbols `uniffi_conclave_ffi_fn_*`, arguments and results passed
 * as `RustBuffer`s with a `RustCallStatus` out-parameter; the Swift and Kotlin bindings are
 * generated over it). This header shows the thin adapter a C++ app writes once over those
 * symbols (conclave_frame.c below in the guide) so that its media thread calls plain C:
 * caller-owned buffers, an error code, no Rust types.
 *
 * Threading: a ConclaveFrameCrypto may be used from any thread, concurrently with the meeting
 * installing new keys. Time: now_ms is any monotonic millisecond clock, the one the meeting
 * is driven with (conclave_monotonic_now_ms() is one).
 */
#ifndef CONCLAVE_FRAME_H
#define CONCLAVE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A meeting's frame crypto: the uniffi object handle of conclave-ffi's FrameCrypto, obtained
 * from Meeting.frame_crypto() / MeetingSession.frame_crypto() (uniffi_conclave_ffi_fn_method_
 * meeting_frame_crypto), released with conclave_frame_crypto_free. */
typedef uint64_t ConclaveFrameCrypto;

/* Same order as conclave-ffi's MediaCodec (uniffi lowers it as variant index + 1). */
typedef enum {
    CONCLAVE_CODEC_OPUS = 0,
    CONCLAVE_CODEC_VP8 = 1,
    CONCLAVE_CODEC_VP9 = 2,
    CONCLAVE_CODEC_H264 = 3,      /* Annex B: what libwebrtc's H.264 encoders produce */
    CONCLAVE_CODEC_H264_AVCC = 4, /* 4-byte length prefixes */
    CONCLAVE_CODEC_H265 = 5,      /* Annex B */
    CONCLAVE_CODEC_AV1 = 6,       /* OBUs with size fields */
} ConclaveCodec;

/* Result codes. A failed decrypt means: drop the frame (and count it); never an error of the
 * call or of the stream. reason_out (may be NULL) receives FrameErrorKind::as_str(), a static
 * string such as "tampered", "replayed", "too_old", "unknown_epoch", "no_keys". */
typedef enum {
    CONCLAVE_OK = 0,
    CONCLAVE_ERR_NO_KEYS = 1,       /* not yet keyed: drop the frame, send nothing */
    CONCLAVE_ERR_REJECTED = 2,      /* decrypt: tampered, replayed, too old, ... */
    CONCLAVE_ERR_INVALID_MEDIA = 3, /* not a bitstream of the codec */
    CONCLAVE_ERR_BUFFER = 4,        /* out too small: *out_len says how much is needed */
    CONCLAVE_ERR_INTERNAL = 5,
} ConclaveStatus;

/* Largest trailer (bytes): an encrypted frame is at most plaintext + this. */
#define CONCLAVE_MAX_TRAILER_LEN 1570 /* MAX_TRAILER_LEN; 34 without clear ranges */
/* Largest frame plaintext (bytes), MAX_FRAME_PLAINTEXT. */
#define CONCLAVE_MAX_FRAME_PLAINTEXT (1024 * 1024)

/* Encrypts one encoded frame of `stream` (one per sender and track: 0 audio, 1 camera, ...).
 * out must hold frame_len + CONCLAVE_MAX_TRAILER_LEN bytes; *out_len gets the length. */
ConclaveStatus conclave_encrypt_media(ConclaveFrameCrypto fc, ConclaveCodec codec,
                                      uint32_t stream, const uint8_t *frame, size_t frame_len,
                                      uint8_t *out, size_t out_cap, size_t *out_len,
                                      const char **reason_out);

/* Decrypts one received frame. out must hold frame_len bytes; *out_len gets the length.
 * sender_out / epoch_out (may be NULL) receive the authenticated sender leaf index and epoch. */
ConclaveStatus conclave_decrypt_media(ConclaveFrameCrypto fc, ConclaveCodec codec,
                                      const uint8_t *frame, size_t frame_len, int64_t now_ms,
                                      uint8_t *out, size_t out_cap, size_t *out_len,
                                      uint32_t *sender_out, uint64_t *epoch_out,
                                      const char **reason_out);

/* Whether an encrypted (or clear) frame starts a decodable sequence; reads clear bytes only. */
int conclave_media_is_keyframe(ConclaveCodec codec, const uint8_t *frame, size_t frame_len);

/* A monotonic millisecond clock (conclave-ffi's monotonic_now_ms). */
int64_t conclave_monotonic_now_ms(void);

/* Releases a handle obtained from the meeting (uniffi_conclave_ffi_fn_free_framecrypto). */
void conclave_frame_crypto_free(ConclaveFrameCrypto fc);

#ifdef __cplusplus
}
#endif

#endif /* CONCLAVE_FRAME_H */
