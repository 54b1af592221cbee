"""Many frames per call: ``FrameCrypto.encrypt_many`` and ``FrameCrypto.decrypt_many``.

A call through the binding costs far more than the cryptography of one frame (argument
conversion, buffers, the foreign call). These methods pack many frames into one buffer with
``struct``, make one ``encrypt_batch`` / ``decrypt_batch`` call per chunk of at most
``MAX_FRAME_BATCH`` frames and ``MAX_FRAME_BATCH_BYTES`` bytes, and unpack the result. Each
frame's result is its own: a frame that fails is an exception object in the returned list (the
``ConclaveError`` the single-frame method raises), at the frame's position; the other frames are
unaffected. Packing is documented in ``ffi/src/frame_batch.rs``.
"""

import struct
import types
import typing

# Layout of the packed buffers (little-endian), as in ffi/src/frame_batch.rs.
_ENC_IN = struct.Struct("<iiI")  # stream, prefix_len, len
_ENC_OUT = struct.Struct("<BI")  # status, len
_DEC_IN = struct.Struct("<I")  # len
_DEC_OUT = struct.Struct("<BIIQQII")  # status, sender, stream, epoch, counter, prefix_len, len
_OK = 0

BytesLike = typing.Union[bytes, bytearray, memoryview]


def _plaintext_len(item) -> int:
    return len(item[1])


def _chunks(items, head_len, max_frames, max_bytes, size_of):
    """Splits ``items`` into runs that fit one batch; an item that fits no batch on its own is
    yielded alone with ``fits=False``."""
    items = items if isinstance(items, (list, tuple)) else list(items)
    # The common case, without a Python call per item: everything fits one batch.
    if len(items) <= max_frames and \
            head_len * len(items) + sum(map(size_of, items)) <= max_bytes:
        if items:
            yield items, True
        return
    run, run_bytes = [], 0
    for item in items:
        n = head_len + size_of(item)
        if n > max_bytes:
            if run:
                yield run, True
                run, run_bytes = [], 0
            yield [item], False
            continue
        if len(run) == max_frames or run_bytes + n > max_bytes:
            yield run, True
            run, run_bytes = [], 0
        run.append(item)
        run_bytes += n
    if run:
        yield run, True


def install(module: types.ModuleType) -> None:
    """Adds ``encrypt_many`` and ``decrypt_many`` to the generated ``FrameCrypto``."""
    frame_crypto = module.FrameCrypto
    conclave_error = module.ConclaveError
    decrypted_frame = module.DecryptedFrame
    limits = module.frame_batch_limits()
    max_frames, max_bytes = limits.max_frames, limits.max_bytes

    def _single(call, *args):
        try:
            return call(*args)
        except conclave_error as e:
            return e

    def encrypt_many(
        self, frames: typing.Iterable[typing.Tuple[int, BytesLike, int]]
    ) -> typing.List[typing.Union[bytes, "module.ConclaveError"]]:
        """Encrypts ``(stream, plaintext, prefix_len)`` triples, like ``encrypt`` for each, in
        as few calls as the batch bounds allow. Returns, in input order, each frame's bytes or
        the ``ConclaveError`` its ``encrypt`` would have raised (a failed frame uses no
        counter). Raises only for a batch the library refuses as a whole (it never refuses what
        this method packs)."""
        out: typing.List[typing.Any] = []
        pack = _ENC_IN.pack
        unpack = _ENC_OUT.unpack_from
        for run, fits in _chunks(frames, _ENC_IN.size, max_frames, max_bytes, _plaintext_len):
            if not fits:
                out.append(_single(self.encrypt, *run[0]))
                continue
            parts = []
            append = parts.append
            # Frames whose stream or prefix_len is out of the i32 range: what `encrypt` does
            # with them (it raises), before anything of this run is sealed.
            early: typing.Dict[int, typing.Any] = {}
            for i, (stream, plaintext, prefix_len) in enumerate(run):
                try:
                    head = pack(stream, prefix_len, len(plaintext))
                except struct.error:
                    early[i] = _single(self.encrypt, stream, plaintext, prefix_len)
                    continue
                append(head)
                append(plaintext)
            batch = self.encrypt_batch(b"".join(parts))
            failures = {f.index: f.error for f in batch.failures}
            buf = batch.packed
            at = 0
            j = 0  # index in the packed batch
            for i in range(len(run)):
                if early and i in early:
                    out.append(early[i])
                    continue
                status, n = unpack(buf, at)
                at += 5
                if status == _OK:
                    out.append(buf[at:at + n])
                    at += n
                else:
                    out.append(failures[j])
                j += 1
        return out

    def decrypt_many(
        self, frames: typing.Iterable[BytesLike], now_ms: int
    ) -> typing.List[typing.Union["module.DecryptedFrame", "module.ConclaveError"]]:
        """Decrypts frames received at ``now_ms``, like ``decrypt`` for each, in as few calls as
        the batch bounds allow. Returns, in input order, each ``DecryptedFrame`` or the
        ``ConclaveError`` its ``decrypt`` would have raised (``Tampered``, ``Replayed``, ...;
        counted in ``diagnostics()`` as usual). Raises ``ConclaveError.InvalidArgument`` for a
        negative ``now_ms``."""
        out: typing.List[typing.Any] = []
        pack = _DEC_IN.pack
        unpack = _DEC_OUT.unpack_from
        # DecryptedFrame objects built without the generated keyword __init__ (a third of the
        # per-frame cost of this method): same class, same attributes.
        new_object = object.__new__
        for run, fits in _chunks(frames, _DEC_IN.size, max_frames, max_bytes, len):
            if not fits:
                out.append(_single(self.decrypt, run[0], now_ms))
                continue
            parts = []
            append = parts.append
            for frame in run:
                append(pack(len(frame)))
                append(frame)
            batch = self.decrypt_batch(b"".join(parts), now_ms)
            failures = {f.index: f.error for f in batch.failures}
            buf = batch.packed
            at = 0
            for i in range(len(run)):
                status, sender, stream, epoch, counter, prefix_len, n = unpack(buf, at)
                at += 33
                if status == _OK:
                    d = new_object(decrypted_frame)
                    d.__dict__.update(sender=sender, stream=stream, epoch=epoch, counter=counter,
                                      prefix_len=prefix_len, plaintext=buf[at:at + n])
                    out.append(d)
                    at += n
                else:
                    out.append(failures[i])
        return out

    frame_crypto.encrypt_many = encrypt_many
    frame_crypto.decrypt_many = decrypt_many
